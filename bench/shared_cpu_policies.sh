#!/usr/bin/env bash
# OpenMP wait policies on a shared machine: bench_shared_cpu (quiet and one-CPU-busy encoder
# passes) once per policy per round, policies interleaved, JSON lines on stdout.
# Usage: bench/shared_cpu_policies.sh [ROUNDS]    (BUILD_DIR, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
rounds="${1:-3}"
# "default" is the binary's own choice (src/tensor/threads.hpp); the rest override it.
policies=("default" "OMP_WAIT_POLICY=active" "OMP_WAIT_POLICY=passive" "GOMP_SPINCOUNT=100"
          "GOMP_SPINCOUNT=10000" "GOMP_SPINCOUNT=100000" "GOMP_SPINCOUNT=300000")
for ((r = 1; r <= rounds; r++)); do
    for p in "${policies[@]}"; do
        if [ "$p" = default ]; then
            "$BUILD_DIR/bench/bench_shared_cpu" --rounds 1 --tag "$p"
        else
            env "$p" "$BUILD_DIR/bench/bench_shared_cpu" --rounds 1 --tag "$p"
        fi
    done
done
