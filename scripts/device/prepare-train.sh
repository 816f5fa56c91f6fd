#!/usr/bin/env bash
# Prepares the torch trainer's GPU measurement for the device machine, whose PyTorch is
# 2.11 (CUDA 13) and which cannot take libtorch's CUDA libraries in a 64 MiB carry: so
# mvgen is built here against PyTorch 2.11's own headers and libraries (from its wheel,
# into .deps/libtorch-2.11; tch 0.22 expects 2.9, hence LIBTORCH_BYPASS_VERSION_CHECK)
# and there loads the device's installed libtorch. Then, with the device tool:
#   run  command: bash scripts/device/train.sh     carry: [".dev-train"]
# Takes about 20 CPU-minutes (a separate release build, target/torch211).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh
torch=.deps/libtorch-2.11
if [ ! -f "$torch/build-version" ]; then
  echo "== libtorch 2.11.0 (the device's PyTorch) from its wheel"
  .venv/bin/pip download -q --no-deps -d .deps/wheels torch==2.11.0
  .venv/bin/python scripts/unpack-libtorch.py 2.11.0 "$torch" libc10.so libc10_cuda.so \
    libtorch.so libtorch_cpu.so libtorch_cuda.so libgomp.so.1 libshm.so
fi

echo "== mvgen (torch trainer, CUDA) against libtorch 2.11"
# The CUDA runtime, cuDNN and the rest are the device's (PyTorch's nvidia-* packages):
# not here, so the link allows libtorch's own undefined symbols.
LIBTORCH="$PWD/$torch" LIBTORCH_BYPASS_VERSION_CHECK=1 \
  RUSTFLAGS="-C link-arg=-Wl,--allow-shlib-undefined" CARGO_TARGET_DIR=target/torch211 \
  cargo build --release -p mvgen --features cuda
mkdir -p .dev-train
strip -o .dev-train/mvgen target/torch211/release/mvgen
xz -T0 -f .dev-train/mvgen
du -sh .dev-train
