#!/usr/bin/env bash
# One pix2pix training iteration on this machine's CPU: PyTorch (torch 2.9.0, the wheel
# mvgen links, in the venv .deps/torch-venv that scripts/build-cuda.sh also uses) beside
# mvgen's torch and burn trainers. Prints a Markdown table for BENCHMARKS.md. Takes about
# 6 minutes on 2 cores, plus the release build.
#   scripts/bench/train_speed.sh [--threads N] [--rounds N] [--no-burn]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh
python="$(scripts/torch-venv.sh)"
cargo build --release -q -p mvgen --features torch
exec "$python" scripts/bench/train_speed.py --mvgen target/release/mvgen "$@"
