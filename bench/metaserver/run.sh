#!/bin/sh
# Runs metaserver's benchmarks against the build tree; prints BENCH lines.
#   usage: bench/metaserver/run.sh BUILD_DIR [--quick]
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [--quick]}" && pwd)
seconds=3
[ "${2:-}" = --quick ] && seconds=1
"$build/bench/metaserver/bench-metaserver" "$build/kernel/edgecore" \
  "$build/plugins/metaserver" "$build/plugins/metamanager" --seconds=$seconds
# connection handling: a new connection per request, and kept alive
exec python3 "$(dirname "$0")/bench_conns.py" "$build" ${2:-}
