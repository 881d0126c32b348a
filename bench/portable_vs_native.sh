#!/usr/bin/env bash
# The one portable build (x86-64-v2 plus run-time kernel dispatch, as the Dockerfile builds it)
# against a build tuned for this CPU (NATIVE_FLAGS for every file): bench_model from each, in
# alternating rounds, then one JSON line per figure with both medians and the median of the
# per-round ratios portable / native.
# Usage: bench/portable_vs_native.sh [ROUNDS]
# Environment: PORTABLE_DIR (default build-portable), NATIVE_DIR (default build-native),
#   NATIVE_FLAGS (default "-march=native -mprefer-vector-width=512"), SKIP_BUILD=1 to reuse builds.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
PORTABLE_DIR="${PORTABLE_DIR:-build-portable}"
NATIVE_DIR="${NATIVE_DIR:-build-native}"
NATIVE_FLAGS="${NATIVE_FLAGS:--march=native -mprefer-vector-width=512}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cmake -S . -B "$PORTABLE_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_TESTS=OFF >&2
    cmake -S . -B "$NATIVE_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_TESTS=OFF \
          -DCMAKE_CXX_FLAGS="$NATIVE_FLAGS" >&2
    cmake --build "$PORTABLE_DIR" --target bench_model >&2
    cmake --build "$NATIVE_DIR" --target bench_model >&2
fi

figures="embed_1080p decoder_click click_1080p"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for build in portable native; do
        dir=$PORTABLE_DIR
        [ "$build" = native ] && dir=$NATIVE_DIR
        "$dir/bench/bench_model" --encoder-runs 3 --click-runs 20 > "$tmp/$build.$r.jsonl"
    done
done

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() {  # field FILE NAME: the "median" of figure NAME
    grep "\"name\": \"$2\"" "$1" | sed 's/.*"median": \([0-9.e-]*\).*/\1/'
}
for f in $figures; do
    p=$(for ((r = 1; r <= rounds; r++)); do field "$tmp/portable.$r.jsonl" "$f"; done | median)
    n=$(for ((r = 1; r <= rounds; r++)); do field "$tmp/native.$r.jsonl" "$f"; done | median)
    ratio=$(for ((r = 1; r <= rounds; r++)); do
        echo "$(field "$tmp/portable.$r.jsonl" "$f") $(field "$tmp/native.$r.jsonl" "$f")" | awk '{print $1 / $2}'
    done | median)
    echo "{\"name\": \"portable_vs_native_$f\", \"unit\": \"ratio\", \"median\": $ratio, \"portable_median\": $p," \
         "\"native_median\": $n, \"rounds\": $rounds, \"native_flags\": \"$NATIVE_FLAGS\", \"target\": 1.05}"
done
