#!/usr/bin/env bash
# The peer benchmark in one command (README.md beside this file): builds our side, installs
# onnxruntime-node, exports the reference encoders to ONNX when PyTorch and the reference
# sources are there, measures the machine's matmul peak, then runs ours, ONNX Runtime and
# PyTorch side by side in interleaved rounds. JSON lines on stdout and in
# $PEERS_WORK/peers-results.jsonl; progress and a summary table (summary.js) on stderr.
# Not part of CI.
#
# Usage: bench/peers/run.sh [compare.js options, e.g. --rounds 30 --click-reps 7 --vit-rounds 0]
# Environment:
#   MOBILESAM_SRC         a checkout of MobileSAM (the reference code; not packaged). Unset: no
#                         encoder export and no PyTorch side; ONNX Runtime runs the decoder only.
#   SEGMENT_ANYTHING_SRC  a checkout of segment-anything: adds SAM ViT-B with random weights.
#   PYTHON                the Python with Debian's python3-torch (default /usr/bin/python3).
#   BUILD_DIR             our build folder (default build); PEERS_WORK the work folder
#                         (default $BUILD_DIR/peers: exports, inputs, results).
#   GOLDEN                the golden data (default ../shared/golden).
#   PEERS_SGEMM=0         skip bench_sgemm.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
WORK="${PEERS_WORK:-$BUILD_DIR/peers}"
GOLDEN="$(realpath "${GOLDEN:-../shared/golden}")"
PYTHON="${PYTHON:-/usr/bin/python3}"
PEERS=bench/peers
say() { echo "peers: $*" >&2; }

command -v node >/dev/null && command -v npm >/dev/null || { say "needs node and npm (apt-get install nodejs npm)"; exit 1; }
if [ ! -d "$PEERS/node_modules/onnxruntime-node" ]; then
    say "installing onnxruntime-node (CPU library included; the CUDA download is skipped)"
    (cd "$PEERS" && ONNXRUNTIME_NODE_INSTALL=skip npm install >&2)
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_BENCH=ON >&2
cmake --build "$BUILD_DIR" --target peer_ours bench_sgemm >&2
mkdir -p "$WORK"
WORK="$(realpath "$WORK")"
OURS="$(realpath "$BUILD_DIR/bench/peer_ours")"
"$OURS" --golden "$GOLDEN" --write-input "$WORK/input.npy"

# Debian's PyTorch multiplies matrices through libblas.so.3: use OpenBLAS's when it is installed
# (libopenblas0-openmp), not the reference BLAS, which is many times slower.
OPENBLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -e "$OPENBLAS/libblas.so.3" ]; then
    export LD_LIBRARY_PATH="$OPENBLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

torch_args=()
if ! "$PYTHON" -c 'import torch, onnx, numpy, torchvision' 2>/dev/null; then
    say "no PyTorch in $PYTHON (apt-get install python3-torch python3-torchvision python3-onnx python3-numpy):" \
        "no encoder export, no PyTorch side"
elif [ -z "${MOBILESAM_SRC:-}" ]; then
    say "MOBILESAM_SRC is not set (a checkout of MobileSAM): no encoder export, no PyTorch side"
else
    [ -e "$OPENBLAS/libblas.so.3" ] || say "warning: no OpenBLAS ($OPENBLAS): PyTorch runs on the reference BLAS"
    torch_args=(--python "$PYTHON")
    # Exports are redone when the checkpoint or the exporter is newer than them.
    ckpt="$GOLDEN/checkpoints/mobile_sam_random.pt"
    if [ ! -s "$WORK/mobilesam_encoder.onnx" ] || [ "$ckpt" -nt "$WORK/mobilesam_encoder.onnx" ] ||
       [ "$PEERS/torch_peer.py" -nt "$WORK/mobilesam_encoder.onnx" ]; then
        say "exporting the MobileSAM encoder to ONNX (a few minutes)"
        "$PYTHON" "$PEERS/torch_peer.py" export --model mobilesam --checkpoint "$ckpt" --input "$WORK/input.npy" \
            --onnx "$WORK/mobilesam_encoder.onnx" --embedding "$WORK/mobilesam_torch_embedding.npy"
    fi
fi
if [ -n "${SEGMENT_ANYTHING_SRC:-}" ] && [ ${#torch_args[@]} -gt 0 ]; then
    if [ ! -s "$WORK/vit_b_encoder.onnx" ] || [ "$PEERS/torch_peer.py" -nt "$WORK/vit_b_encoder.onnx" ]; then
        say "building SAM ViT-B with random weights and exporting its encoder (several minutes)"
        "$PYTHON" "$PEERS/torch_peer.py" export --model vit_b --input "$WORK/input.npy" --onnx "$WORK/vit_b_encoder.onnx" \
            --embedding "$WORK/vit_b_torch_embedding.npy" --state-dict "$WORK/vit_b_random.pt"
    fi
fi
vit_args=()
if [ -z "${SEGMENT_ANYTHING_SRC:-}" ]; then
    say "SEGMENT_ANYTHING_SRC is not set (a checkout of segment-anything): no ViT-B figures"
    vit_args=(--vit-rounds 0)
fi

results="$WORK/peers-results.jsonl"
: > "$results"
if [ "${PEERS_SGEMM:-1}" != 0 ]; then
    "$BUILD_DIR/bench/bench_sgemm" | tee -a "$results"
fi
node "$PEERS/compare.js" --work "$WORK" --ours "$OURS" --golden "$GOLDEN" "${torch_args[@]}" "${vit_args[@]}" "$@" | tee -a "$results"
node "$PEERS/summary.js" "$results" >&2
say "results in $results (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
