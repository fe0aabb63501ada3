#!/bin/sh
# Runs every edgecore benchmark and prints their `BENCH <name> <value> <unit>`
# lines on stdout (details go to stderr).
#   usage: bench/run-all.sh BUILD_DIR [--quick]
# --quick measures for shorter times (a smoke run; the figures are noisier).
# BENCH_REPEAT=N measures every throughput figure N times and reports the
# best run, for a machine that is not idle.
set -eu

build=${1:?usage: $0 BUILD_DIR [--quick]}
quick=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)

repeat="--repeat=${BENCH_REPEAT:-1}"
bus_args=
msg_args=
if [ "$quick" = --quick ]; then
  bus_args="--seconds=0.3 --warmup=0.05"
  msg_args="--seconds=0.2 --warmup=0.05"
fi

status=0
# shellcheck disable=SC2086
"$build/bench/bench-bus" $repeat $bus_args || status=1
# shellcheck disable=SC2086
"$build/bench/bench-message" $repeat $msg_args || status=1
"$here/bench-rss.sh" "$build" || status=1
# shellcheck disable=SC2086
"$here/metamanager/bench-metamanager.sh" "$build" $quick || status=1
# shellcheck disable=SC2086
python3 "$here/edgehub/bench_edgehub.py" "$build" $quick $repeat || status=1
# shellcheck disable=SC2086
python3 "$here/devicetwin/run-bench.py" "$build" $quick || status=1
# shellcheck disable=SC2086
"$here/metaserver/run.sh" "$build" $quick || status=1
# shellcheck disable=SC2086
python3 "$here/edged/bench_edged.py" "$build" $quick || status=1
# shellcheck disable=SC2086
python3 "$here/edged/bench_server.py" "$build" $quick || status=1
# shellcheck disable=SC2086
python3 "$here/edged/bench_metrics.py" "$build" $quick || status=1
python3 "$here/footprint/bench_footprint.py" "$build" $quick || status=1
python3 "$here/edged/bench_offline.py" "$build" $quick || status=1
# shellcheck disable=SC2086
python3 "$here/edged/bench_probes.py" "$build" $quick || status=1
python3 "$here/edgestream/bench_edgestream.py" "$build" $quick || status=1
python3 "$here/edgestream/bench_e2e.py" "$build" $quick || status=1
exit $status
