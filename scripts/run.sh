#!/usr/bin/env bash
# Sets up, builds and runs the server (MobileSAM by default) on 0.0.0.0:9090.
# Environment variables and flags as in README.md; extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_TESTS=OFF -DSAM_BUILD_BENCH=OFF
cmake --build build -j "$(nproc)" --target sam-ml-backend
export MODEL_DIR="${MODEL_DIR:-$PWD/models}"
exec ./build/sam-ml-backend serve "$@"
