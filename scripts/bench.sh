#!/usr/bin/env bash
# Builds (Release) and runs every benchmark program (bench/bench_*.cpp). Each prints one JSON
# line per figure ({"name", "unit", "median", "min", "max", "runs", ...}); all lines go to
# stdout and to $BUILD_DIR/bench-results.jsonl. Diagnostics go to stderr.
# Usage: scripts/bench.sh [name...]   e.g. scripts/bench.sh bench_model bench_server
# Environment: BUILD_DIR (default build-bench, apart from run.sh's build/ and test.sh's
# build-test/), MOBILESAM_CHECKPOINT (default: the golden random MobileSAM checkpoint,
# ../shared/golden).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-bench}"
JOBS="${JOBS:-$(nproc)}"

if [ "$#" -gt 0 ]; then
    benches=("$@")
else
    benches=()
    for src in bench/bench_*.cpp; do benches+=("$(basename "$src" .cpp)"); done
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_BENCH=ON >&2
# bench_startup runs the real server binary.
cmake --build "$BUILD_DIR" -j "$JOBS" --target sam-ml-backend "${benches[@]}" >&2

results="$BUILD_DIR/bench-results.jsonl"
: > "$results"
status=0
for b in "${benches[@]}"; do
    echo "== $b" >&2
    if ! "$BUILD_DIR/bench/$b" | tee -a "$results"; then
        echo "bench.sh: $b failed" >&2
        status=1
    fi
done
echo "bench.sh: results in $results (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))" >&2
exit "$status"
