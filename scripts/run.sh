#!/usr/bin/env bash
# The one command to run the backend on a fresh Debian 12 machine:
#   1. installs the Debian packages that are missing (scripts/install-deps.sh),
#   2. builds the server in build/ (Release; the tests build separately, in build-test/),
#   3. downloads the default MobileSAM checkpoint into $MODEL_DIR (models/) when it is not
#      there (scripts/download_models.sh, with a progress bar),
#   4. runs `sam-ml-backend serve` on 0.0.0.0:9090 (PORT, HOST and every variable of the README).
# Arguments go to the server: `scripts/run.sh --port 9091`; `scripts/run.sh --help` lists them
# (and downloads nothing). Another model (SAM_CHOICE, *_CHECKPOINT, --sam-choice, ...) is not
# downloaded here: see scripts/download_models.sh.
# Environment: BUILD_DIR (default build), JOBS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "run.sh: $*" >&2; }

bash scripts/install-deps.sh

build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_TESTS=OFF -DSAM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target sam-ml-backend

export MODEL_DIR="${MODEL_DIR:-$PWD/models}"

# The default model only: whoever chose another one (or a file) said where it is.
wants_default=1
for arg in "$@"; do
    case "$arg" in
        -h|--help|--sam-choice*|--mobilesam-checkpoint*|--model-dir*) wants_default=0 ;;
    esac
done
choice="${SAM_CHOICE:-MobileSAM}"
[ "${choice,,}" = mobilesam ] || wants_default=0
[ -z "${MOBILESAM_CHECKPOINT:-}" ] || wants_default=0

if [ "$wants_default" = 1 ] && [ ! -f "$MODEL_DIR/mobile_sam.pt" ]; then
    say "no checkpoint at $MODEL_DIR/mobile_sam.pt: downloading MobileSAM (40 MB)"
    if ! bash scripts/download_models.sh mobile_sam; then
        say "could not download the MobileSAM checkpoint (see above). Put mobile_sam.pt in $MODEL_DIR"
        say "(or set MOBILESAM_CHECKPOINT to its path), or run scripts/download_models.sh when online."
        exit 1
    fi
fi
exec "$(cd "$build" && pwd)/sam-ml-backend" serve "$@"
