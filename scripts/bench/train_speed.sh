#!/usr/bin/env bash
# One pix2pix training iteration on this machine's CPU: PyTorch (torch 2.9.0, the wheel
# mvgen links, in the venv .deps/torch-venv that scripts/build-cuda.sh also uses) beside
# mvgen's torch and burn trainers. Prints a Markdown table for BENCHMARKS.md. Takes about
# 6 minutes on 2 cores, plus the release build.
#   scripts/bench/train_speed.sh [--threads N] [--rounds N] [--no-burn]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh
venv=.deps/torch-venv
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "bench: installing PyTorch 2.9.0 into $venv (about 5 GB with its CUDA libraries)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check torch==2.9.0 numpy
fi
cargo build --release -q -p mvgen
exec "$venv/bin/python" scripts/bench/train_speed.py --mvgen target/release/mvgen "$@"
