#!/usr/bin/env bash
# The GPU measurements, in one call on the device machine (see prepare.sh). Prints each
# phase with its time; every step has a timeout so a hang cannot eat the budget. Runs on
# a machine without a GPU too: the parity test then says it skipped.
# The torch trainer's GPU step is a second call (its binary is 16 MiB as xz, and the
# carry is 64 MiB): scripts/device/prepare-train.sh here, then scripts/device/train.sh
# there with carry [".dev-train"].
set -uo pipefail
cd "$(dirname "$0")/../.."
phase() { echo; echo "== $1 ($(date +%T))"; }

phase "setup"
for f in .gl/*.deb; do dpkg -x "$f" / 2>/dev/null; done; ldconfig 2>/dev/null
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json}
export MVGEN_ORT_DYLIB=$PWD/.dev/libonnxruntime.so.1.31.1 ORT_DYLIB_PATH=$PWD/.dev/libonnxruntime.so.1.31.1
export MVGEN_TEST_MODELS=$PWD/.dev/test-models MVGEN_BENCH_MODELS=/tmp/mvgen-bench-models
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"

phase "GPU frames equal CPU frames (tests/tests/generator.rs)"
timeout 180 .dev/generator-test --nocapture --test-threads 1 gpu_frames_equal_cpu_frames auto_without_a_gpu

phase "unet_256 ngf 16/32/64 made by torch.onnx.export (eval mode, opset 17)"
mkdir -p "$MVGEN_BENCH_MODELS"
timeout 300 python3 - "$MVGEN_BENCH_MODELS" <<'PY'
import sys, torch
sys.path.insert(0, ".dev")
import pix2pix_torch as p
for ngf in (16, 32, 64):
    net = p.unet256(ngf=ngf).eval()
    torch.onnx.export(net, torch.randn(1, 1, 256, 256), f"{sys.argv[1]}/unet256_ngf{ngf}.onnx",
                      opset_version=17, dynamo=False)
    print("exported ngf", ngf)
PY

phase "generator latency through mvgen's runtime: GPU (WebGPU EP), then CPU"
MVGEN_BENCH_EXECUTION=gpu timeout 400 .dev/generator-bench --bench 2>&1 | grep -E "generator_frame|time:|provider|GPU|CPU"
timeout 400 .dev/generator-bench --bench 2>&1 | grep -E "generator_frame|time:"

phase "the default enhancer (256 to 1024) through mvgen's runtime: GPU, then CPU"
MVGEN_BENCH_EXECUTION=gpu XDG_CACHE_HOME=/tmp/mvgen-cache timeout 200 .dev/enhancer-bench --bench 2>&1 | grep -E "enhancer|time:"
XDG_CACHE_HOME=/tmp/mvgen-cache timeout 200 .dev/enhancer-bench --bench 2>&1 | grep -E "enhancer|time:"

phase "the stage's enlarger: --enhance auto runs the look's enhancer on the GPU (stage/src/enlarge.rs)"
XDG_CACHE_HOME=/tmp/mvgen-cache timeout 180 .dev/stage-test --nocapture --test-threads 1 enlarge::

phase "PyTorch reference (../shared/anchors/pix2pix_torch.py): generator and training step"
timeout 600 python3 .dev/pix2pix_torch.py

phase "done"
