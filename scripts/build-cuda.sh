#!/usr/bin/env bash
# Builds mvgen with the torch trainer on CUDA (NVIDIA GPUs): PyTorch 2.9.0 with its CUDA
# 12.8 libraries from the package index into .deps/torch-venv (about 5 GB; the training benchmark uses the same), then
# target/cuda/release/mvgen linked against it. Train with `--device gpu`.
# Needs an NVIDIA driver for CUDA 12.8 or newer to run; building needs no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
venv=.deps/torch-venv
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "build-cuda: installing PyTorch 2.9.0 with CUDA into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check torch==2.9.0
fi
LIBTORCH="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
export LIBTORCH
CARGO_TARGET_DIR=target/cuda cargo build --release -p mvgen --features cuda
echo "built target/cuda/release/mvgen (torch trainer with CUDA; libtorch from $LIBTORCH)"
echo "train on the GPU with: target/cuda/release/mvgen train DATASET --run RUN --device gpu"
