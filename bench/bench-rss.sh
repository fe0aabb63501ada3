#!/bin/sh
# bench-rss.sh: the idle memory of the edgecore host with all seven plugins.
#   usage: bench/bench-rss.sh BUILD_DIR [IDLE_SECONDS]
#
# Starts BUILD_DIR/kernel/edgecore from the build tree (no system conf.d or
# plugin directories) with a temporary conf.d that enables every plugin,
# waits until its control socket answers, lets it idle IDLE_SECONDS (3),
# then prints
#   BENCH host.idle_rss <kB> kB         VmRSS of the host
#   BENCH host.idle_rss_anon <kB> kB    RssAnon (heap, stacks: not file-backed)
#   BENCH host.idle_rss_file <kB> kB    RssFile (mapped binaries and libraries)
#   BENCH host.plugins <n> count        plugins in state "running"
# and stops the host (SIGTERM, then SIGKILL after 5 s). Exits non-zero if
# the host does not come up.
set -eu

build=${1:?usage: $0 BUILD_DIR [IDLE_SECONDS]}
idle=${2:-3}
build=$(cd "$build" && pwd)
exe=$build/kernel/edgecore
plugins="edged edgehub metamanager eventbus devicetwin edgestream metaserver"

if [ ! -x "$exe" ]; then
  echo "bench-rss: $exe not found; build first (ninja -C $build)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgecore-bench.XXXXXX")
pid=
sleeper=

stop_host () {
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "bench-rss: host $pid ignored SIGTERM for 5 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  pid=
}

# shellcheck disable=SC2317  # run from the EXIT trap
cleanup () {
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  stop_host
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$tmp/conf.d"
{
  echo "[core]"
  echo "control-socket=$tmp/ctl.sock"
  echo "data-dir=$tmp"
  echo "[database]"
  echo "data-source=$tmp/edgecore.db"
  for p in $plugins; do
    echo "[$p]"
    echo "enable=true"
  done
} > "$tmp/conf.d/50-bench.conf"

set --
missing=
for p in $plugins; do
  if [ -f "$build/plugins/$p/$p.so" ]; then
    set -- "$@" --plugin-dir "$build/plugins/$p"
  else
    missing="$missing $p"
  fi
done
[ -z "$missing" ] || echo "bench-rss: not built:$missing" >&2

export EDGECORE_SYSTEM_CONFIG_DIRS=
export EDGECORE_SYSTEM_PLUGIN_DIRS=
export EDGECORE_PLUGIN_PATH=
# untranslated output, so the "running" state can be counted
export LC_ALL=C

"$exe" --config-dir "$tmp/conf.d" "$@" > "$tmp/host.log" 2>&1 &
pid=$!

ctl () {
  "$exe" --config-dir "$tmp/conf.d" --ctl "$1" 2>/dev/null
}

# up to 10 s for the control socket to answer
i=0
until ctl plugins > "$tmp/plugins.txt"; do
  if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 100 ]; then
    echo "bench-rss: the host did not come up; its log:" >&2
    sed 's/^/  /' "$tmp/host.log" >&2
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done

# in the background, so a signal to this script is handled at once
sleep "$idle" &
sleeper=$!
wait "$sleeper" || true
sleeper=
if ! kill -0 "$pid" 2>/dev/null; then
  echo "bench-rss: the host exited while idle; its log:" >&2
  sed 's/^/  /' "$tmp/host.log" >&2
  exit 1
fi

status=/proc/$pid/status
rss=$(awk '/^VmRSS:/ { print $2 }' "$status")
anon=$(awk '/^RssAnon:/ { print $2 }' "$status")
file=$(awk '/^RssFile:/ { print $2 }' "$status")
ctl plugins > "$tmp/plugins.txt" || true
running=$(awk 'NF >= 5 && $4 == "running" { n++ } END { print n + 0 }' "$tmp/plugins.txt")

echo "BENCH host.idle_rss $rss kB"
echo "BENCH host.idle_rss_anon $anon kB"
echo "BENCH host.idle_rss_file $file kB"
echo "BENCH host.plugins $running count"

stop_host
if grep -q "WARNING\|CRITICAL\|ERROR" "$tmp/host.log"; then
  echo "bench-rss: the host logged problems:" >&2
  grep "WARNING\|CRITICAL\|ERROR" "$tmp/host.log" | sed 's/^/  /' >&2
fi
exit 0
