#!/bin/sh
# Sets up a fresh Debian 12 machine (as root), then builds and runs the whole
# test suite twice: a normal build (every test), and an ASan+UBSan build
# (the unit and host tests). Then runs the unit tests under valgrind, and
# every libFuzzer target of tests/fuzz for 20 s (clang, build-fuzz).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh

meson setup build --prefix=/usr/local >/dev/null 2>&1 || meson setup --reconfigure build --prefix=/usr/local >/dev/null
ninja -C build
meson test -C build --print-errorlogs --num-processes 2

[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
  -Dintrospection=disabled -Dbuildtype=debug >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite integration

meson test -C build --print-errorlogs --suite unit --no-rebuild \
  --wrap='valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite'
# every fuzz target: its corpus (earlier findings included), then 20 s of fuzzing
./scripts/run-fuzz.sh 20
echo "all tests passed"
