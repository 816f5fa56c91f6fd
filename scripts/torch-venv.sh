#!/usr/bin/env bash
# Makes sure .deps/torch-venv holds PyTorch 2.9.0 with its CUDA 12.8 libraries (the version
# tch 0.22 pins; about 5 GB, from the package index) and prints its python. Used by
# scripts/build-cuda.sh (libtorch with CUDA) and scripts/bench/train_speed.sh (PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.deps/torch-venv
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "torch-venv: installing PyTorch 2.9.0 with CUDA into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check torch==2.9.0 numpy >&2
fi
echo "$PWD/$venv/bin/python"
