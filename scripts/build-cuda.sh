#!/usr/bin/env bash
# Builds mvgen with the torch trainer on CUDA (NVIDIA GPUs): PyTorch 2.9.0 with its CUDA
# 12.8 libraries into .deps/torch-venv (scripts/torch-venv.sh), then
# target/cuda/release/mvgen linked against it. Train with `--device gpu`.
# Needs an NVIDIA driver for CUDA 12.8 or newer to run; building needs no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python="$(scripts/torch-venv.sh)"
LIBTORCH="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
export LIBTORCH
CARGO_TARGET_DIR=target/cuda cargo build --release -p mvgen --features cuda
echo "built target/cuda/release/mvgen (torch trainer with CUDA; libtorch from $LIBTORCH)"
echo "train on the GPU with: target/cuda/release/mvgen train DATASET --run RUN --device gpu"
