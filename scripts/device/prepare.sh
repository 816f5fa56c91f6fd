#!/usr/bin/env bash
# Prepares the GPU measurements for the device machine (an NVIDIA GPU with CUDA, PyTorch
# and no Rust toolchain), on this machine: release binaries, ONNX Runtime, the test
# models, the Vulkan loaders and the PyTorch anchor go into .dev/ and .gl/ (both ignored
# by git), at most 64 MiB together. Then, with the device tool:
#   run  command: bash scripts/device/run.sh     carry: [".dev", ".gl"]
# Needs scripts/setup.sh first (the venv builds the test models) and ../shared/anchors.
set -euo pipefail
cd "$(dirname "$0")/../.."

mkdir -p .dev .gl
echo "== release test binaries (GPU parity test, generator and enhancer benchmarks, the stage's enhancer)"
binary() {  # cargo args...: the path of the one executable cargo builds
  cargo "$@" --no-run --message-format=json 2>/dev/null |
    .venv/bin/python -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])'
}
cp "$(binary test --release -p mvgen-tests --test generator)" .dev/generator-test
cp "$(binary bench -p mvgen-tests --bench generator)" .dev/generator-bench
cp "$(binary bench -p mvgen-tests --bench enhancer)" .dev/enhancer-bench
cp "$(binary test --release -p mvgen-stage --lib)" .dev/stage-test
strip .dev/generator-test .dev/generator-bench .dev/enhancer-bench .dev/stage-test

echo "== ONNX Runtime and its WebGPU provider"
cp .deps/onnxruntime/libonnxruntime.so.1.31.1 .deps/onnxruntime/libonnxruntime_providers_webgpu.so .dev/

echo "== test models (small: the benchmark's unet_256 models are made there by PyTorch)"
rm -rf .dev/test-models
.venv/bin/python tests/python/make_models.py .dev/test-models

echo "== the PyTorch reference networks"
cp ../shared/anchors/pix2pix_torch.py .dev/

echo "== Vulkan loaders (the device image has the NVIDIA driver, not the loader)"
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -shc .dev .gl
