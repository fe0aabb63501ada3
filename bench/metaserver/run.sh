#!/bin/sh
# Runs metaserver's benchmarks against the build tree; prints BENCH lines.
#   usage: bench/metaserver/run.sh BUILD_DIR [--quick]
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [--quick]}" && pwd)
seconds=3
[ "${2:-}" = --quick ] && seconds=1
exec "$build/bench/metaserver/bench-metaserver" "$build/kernel/edgecore" \
  "$build/plugins/metaserver" "$build/plugins/metamanager" --seconds=$seconds
