#!/bin/sh
# Installs what edgecore needs to build, run and test on Debian 12, and the
# zh_CN.UTF-8 locale its translation test uses. Safe to run again.
set -eu
pkgs="meson ninja-build pkg-config gcc libc6-dev
      libglib2.0-dev libglib2.0-bin libjson-glib-dev
      gobject-introspection libgirepository1.0-dev gir1.2-glib-2.0 python3 python3-gi
      libsoup-3.0-dev libsqlite3-dev libgnutls28-dev libssl-dev libmosquitto-dev mosquitto mosquitto-clients
      gettext locales valgrind binutils make openssl glib-networking
      libyaml-dev systemd
      libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
      containerd runc busybox-static containernetworking-plugins iptables
      clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
if ! locale -a 2>/dev/null | grep -qi '^zh_CN\.utf-\?8$'; then
  sed -i 's/^# *\(zh_CN.UTF-8 UTF-8\)/\1/' /etc/locale.gen
  grep -q '^zh_CN.UTF-8 UTF-8' /etc/locale.gen || echo 'zh_CN.UTF-8 UTF-8' >> /etc/locale.gen
  locale-gen >/dev/null
fi
