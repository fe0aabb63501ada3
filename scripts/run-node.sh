#!/bin/sh
# Sets up a fresh Debian 12 machine (as root), builds and installs edgecore
# under /usr/local, and runs the node in the foreground with the installed
# default configuration (/usr/local/share/edgecore/conf.d, overridable in
# /etc/edgecore/conf.d). Stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --prefix=/usr/local
ninja -C build
meson install -C build --quiet
ldconfig
exec /usr/local/bin/edgecore "$@"
