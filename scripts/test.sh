#!/usr/bin/env bash
# Sets up, builds and runs every test: the README's test command, and what CI runs (.ci/run).
# Installs the missing Debian packages (scripts/install-deps.sh), builds everything in
# build-test/ (Release, tests and benchmarks on; scripts/run.sh builds the server alone in
# build/, so the two never reconfigure each other), then runs ctest. Fails when no test ran.
# Environment: BUILD_DIR (default build-test), JOBS (default: all cores); arguments go to
# ctest, e.g. scripts/test.sh -R ServerTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build="${BUILD_DIR:-build-test}"
jobs="${JOBS:-$(nproc)}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_TESTS=ON -DSAM_BUILD_BENCH=ON
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure --no-tests=error -j "$jobs" --timeout 600 "$@"
