#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, in
# build-fuzz) and runs each for SECONDS (default 600), starting from its
# corpus in tests/fuzz/corpus/<target>. Exits non-zero if any target finds
# a crash, a sanitizer report, a leak, a GLib critical or a timeout; the
# input is left in build-fuzz/findings/<target>/ (add it to the corpus
# with the fix). New inputs the runs discover stay in build-fuzz/fuzz-work
# (tests/fuzz/README.md says how to merge them into the corpus).
#
#   scripts/run-fuzz.sh [SECONDS] [TARGET...]
#
# .ci/run (through scripts/run-tests.sh) runs every target for 20 s.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-$(ls tests/fuzz/fuzz-*.c | sed 's|.*/fuzz-||; s|\.c$||')}

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dintrospection=disabled -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz $(for t in $targets; do printf 'tests/fuzz/fuzz-%s ' "$t"; done)

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
failed=""
for t in $targets; do
  work=build-fuzz/fuzz-work/$t
  findings=build-fuzz/findings/$t
  log=build-fuzz/fuzz-$t.log
  mkdir -p "$work" "$findings"
  dict=""
  [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
  # new inputs go to $work; the checked-in corpus is only read
  # shellcheck disable=SC2086
  if build-fuzz/tests/fuzz/fuzz-"$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" $dict \
       "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz $t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${secs}s, no finding"
  else
    echo "fuzz $t: FINDING (log $log, input in $findings/):"
    grep -E 'ERROR|WARNING|runtime error|CRITICAL|Test unit written' "$log" | head -20
    failed="$failed $t"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzzing found problems in:$failed"
  exit 1
fi
