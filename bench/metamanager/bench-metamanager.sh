#!/bin/sh
# bench-metamanager.sh: metamanager storing and acking cloud objects.
#   usage: bench/metamanager/bench-metamanager.sh BUILD_DIR [--quick]
#
# Runs BUILD_DIR/kernel/edgecore with only metamanager and the bench feeder
# plugin (module "websocket", group "hub", in place of edgehub), on a fresh
# database in a temporary folder. The feeder sends 1 KB pod inserts to group
# "meta" as edgehub would and counts metamanager's acks, which come only
# after each object committed (WAL, synchronous=FULL). Prints
#   BENCH metamanager.store_ack <n> objects/s      (100,000 pods; 20,000 with --quick)
#   BENCH metamanager.rss_10k_objects <kB> kB      VmRSS of the host after 10,000 pods
#   BENCH metamanager.rss_peak_10k_objects <kB> kB VmHWM (peak) of that host
# BENCH_REPEAT=N runs the throughput N times and reports the best.
set -eu

build=${1:?usage: $0 BUILD_DIR [--quick]}
quick=${2:-}
build=$(cd "$build" && pwd)
exe=$build/kernel/edgecore
count=100000
[ "$quick" = --quick ] && count=20000
repeat=${BENCH_REPEAT:-1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgecore-bench-mm.XXXXXX")
pid=

stop_host () {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
cleanup () {
  stop_host
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export EDGECORE_SYSTEM_CONFIG_DIRS= EDGECORE_SYSTEM_PLUGIN_DIRS= EDGECORE_PLUGIN_PATH= LC_ALL=C

# run N: starts a host that stores N pods; leaves "N seconds acks errors" in
# $tmp/result and the host running (pid in $pid)
run () {
  rm -rf "$tmp/run"
  mkdir -p "$tmp/run/conf.d"
  cat > "$tmp/run/conf.d/50-bench.conf" <<CONF
[core]
control-socket=$tmp/run/ctl.sock
data-dir=$tmp/run
log-level=warning
[database]
data-source=$tmp/run/edgecore.db
[metamanager]
enable=true
[benchfeeder]
enable=true
count=$1
result-file=$tmp/run/result
CONF
  "$exe" --config-dir "$tmp/run/conf.d" --plugin-dir "$build/plugins/metamanager" \
    --plugin-dir "$build/bench/metamanager" > "$tmp/run/host.log" 2>&1 &
  pid=$!
  i=0
  until [ -f "$tmp/run/result" ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 1200 ]; then
      echo "bench-metamanager: no result; host log:" >&2
      sed 's/^/  /' "$tmp/run/host.log" >&2
      exit 1
    fi
    sleep 0.1
    i=$((i + 1))
  done
  read -r n secs acks errors < "$tmp/run/result"
  if [ "$acks" != "$n" ]; then
    echo "bench-metamanager: $acks acks for $n objects" >&2
    exit 1
  fi
}

best=0
r=0
while [ $r -lt "$repeat" ]; do
  run $count
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%d", n / s }')
  echo "bench-metamanager: $n pods stored and acked in $secs s ($errors refused and resent); db $(du -k "$tmp/run/edgecore.db" | cut -f1) kB" >&2
  [ "$rate" -gt "$best" ] && best=$rate
  stop_host
  r=$((r + 1))
done
echo "BENCH metamanager.store_ack $best objects/s"

run 10000
sleep 1
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
awk '/^(RssAnon|RssFile|RssShmem|VmHWM):/ { printf "bench-metamanager: %s %s kB\n", $1, $2 }' "/proc/$pid/status" >&2
rows=$(sqlite3 "$tmp/run/edgecore.db" 'SELECT count(*) FROM meta_v2' 2>/dev/null || echo '?')
echo "bench-metamanager: $rows rows in meta_v2 after 10000 pods" >&2
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
echo "BENCH metamanager.rss_10k_objects $rss kB"
echo "BENCH metamanager.rss_peak_10k_objects $hwm kB"
stop_host
