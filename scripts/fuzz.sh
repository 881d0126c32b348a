#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang, ASan and UBSan (build-fuzz/: samcore
# and the harnesses only) and runs each for a given time. Seeds are made from ../shared/golden at
# run time (build-fuzz/seeds/); what the fuzzers learn accumulates in build-fuzz/corpus/; crash,
# leak, timeout and out-of-memory inputs go to build-fuzz/findings/.
#   scripts/fuzz.sh [SECONDS per harness, default 60] [HARNESS ...]   (default: all)
# Exits non-zero when any harness has a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# -O1 and line tables only: fast to build, still fast to run, stack traces with lines.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DSAM_FUZZ=ON -DSAM_BUILD_TESTS=OFF -DSAM_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_DEBUG="-O1 -gline-tables-only" "${launcher[@]}" > /dev/null
cmake --build build-fuzz --target fuzzers -j "$(nproc)"

bin=build-fuzz/tests/fuzz
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_checkpoint fuzz_image fuzz_onnx fuzz_predict_request fuzz_label_config fuzz_brush_rle)
rm -rf build-fuzz/seeds
"$bin/make_seeds" ../shared/golden examples build-fuzz/seeds
mkdir -p build-fuzz/findings
# Leaks are findings; malloc limits at libFuzzer's RSS limit catch a single huge allocation.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for h in "${harnesses[@]}"; do
  mkdir -p "build-fuzz/corpus/$h"
  echo "== $h: ${seconds} s"
  if ! "$bin/$h" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/findings/$h-" "build-fuzz/corpus/$h" "build-fuzz/seeds/$h" \
      > "build-fuzz/$h.log" 2>&1; then
    echo "!! $h found a problem (build-fuzz/$h.log):"
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "build-fuzz/$h.log" | head -20
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "build-fuzz/$h.log" | tail -2 || true
done
exit $status
