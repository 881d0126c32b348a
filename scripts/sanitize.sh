#!/usr/bin/env bash
# Builds the whole test suite with AddressSanitizer + UndefinedBehaviorSanitizer (GCC, the same
# compiler and OpenMP runtime as the normal build; build-asan/) and runs it. Any undefined
# behaviour aborts, and every process (tests and the servers they start) writes its sanitizer
# reports under build-asan/reports/: the run fails if one appears, even where a test passed.
#   scripts/sanitize.sh [ctest arguments, e.g. -R Image]
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAM_SANITIZE=ON -DSAM_BUILD_BENCH=OFF \
  "${launcher[@]}" > /dev/null
cmake --build build-asan -j "$(nproc)"
reports="$PWD/build-asan/reports"
rm -rf "$reports" && mkdir -p "$reports"
# Leaks are findings too. No suppressions are needed: oneDNN's JIT kernels are not instrumented
# (nothing to report) and what it and libgomp keep until exit is still reachable, which
# LeakSanitizer does not report. The options reach the child processes the tests start.
export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
status=0
(cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 1800 "$@") || status=1
if compgen -G "$reports/*" > /dev/null; then
  echo "sanitize: reports in $reports:"
  head -n 40 "$reports"/*
  status=1
fi
exit $status
