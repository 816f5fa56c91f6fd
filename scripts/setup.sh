#!/usr/bin/env bash
# Installs what mvgen needs on a fresh Debian 12: system packages from Debian, a Python
# venv (.venv) from the package index, and project-local libraries in .deps/. Safe to run
# again: it only installs what is missing. Needs a Rust toolchain (cargo 1.95 or newer).
#   scripts/setup.sh            everything the build and the tests need
#   scripts/setup.sh --render   only what building and rendering need (scripts/demo.sh):
#                               ffmpeg and ONNX Runtime; no test hosts, no libtorch
set -euo pipefail
cd "$(dirname "$0")/.."

render_only=false
[ "${1:-}" = --render ] && render_only=true

command -v cargo >/dev/null || { echo "setup: mvgen needs a Rust toolchain (cargo 1.95+) on PATH" >&2; exit 1; }

# ffmpeg: video decoding, encoding and muxing, and test media.
# python3-venv: a venv on the system Python, whose pip fetches ONNX Runtime's wheel (and,
#   for the tests, the test hosts).
# For the tests only:
# xvfb: a headless X server for the editor tests.
# xserver-xorg-core, xserver-xorg-video-dummy: an X server with two monitors for the
#   stage test (Xvfb has one monitor a screen; winit counts RandR CRTCs).
# mesa-vulkan-drivers, libvulkan1: Vulkan on the CPU (lavapipe) where there is no GPU,
#   for the editor's wgpu drawing in the tests (a GPU driver takes over where one is).
# fonts-dejavu-core: the text in training loss plots.
# tesseract-ocr: reads the editor's screenshots, so a test can find a button by its label.
# ardour: a real DAW for the host tests (Ardour 7, driven headlessly by its Lua and
#   export tools; about 100 MB).
# obs-studio, obs-plugins: OBS Studio 29 with its screen capture and obs-websocket, for
#   the test that streams the stage (about 60 MB with Qt).
packages=(ffmpeg python3 python3-venv python3-pip)
$render_only || packages+=(xvfb xserver-xorg-core xserver-xorg-video-dummy mesa-vulkan-drivers libvulkan1 fonts-dejavu-core tesseract-ocr ardour obs-studio obs-plugins)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Python from elsewhere (pyenv, say) is fine too, as long as it can make a venv.
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-pip}"); missing=("${missing[@]/python3}")
fi
if command -v ffmpeg >/dev/null; then missing=("${missing[@]/ffmpeg}"); fi
if command -v Xvfb >/dev/null; then missing=("${missing[@]/xvfb}"); fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements
if ! $render_only && ! cmp -s tests/python/requirements.txt "$stamp"; then
  echo "setup: installing the test venv's packages"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$stamp"
fi

# ONNX Runtime for the generator, from its Python wheels (the shared libraries inside are
# plain C libraries): the CPU runtime and the WebGPU execution provider. Pinned; the
# bundles carry copies (cargo xtask bundle).
ort=.deps/onnxruntime
if [ ! -f "$ort/libonnxruntime.so.1.31.1" ] || [ ! -f "$ort/libonnxruntime_providers_webgpu.so" ]; then
  echo "setup: fetching ONNX Runtime 1.31.1 and its WebGPU provider"
  mkdir -p .deps/wheels "$ort"
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d .deps/wheels onnxruntime==1.31.1 onnxruntime-ep-webgpu==0.4.0
  .venv/bin/python - "$ort" <<'PY'
import glob, os, sys, zipfile
out = sys.argv[1]
for wheel, member in [("onnxruntime-1.31.1-*.whl", "onnxruntime/capi/libonnxruntime.so.1.31.1"),
                      ("onnxruntime_ep_webgpu-0.4.0-*.whl", "onnxruntime_ep_webgpu/libonnxruntime_providers_webgpu.so")]:
    with zipfile.ZipFile(glob.glob(os.path.join(".deps/wheels", wheel))[0]) as z:
        with open(os.path.join(out, os.path.basename(member)), "wb") as f:
            f.write(z.read(member))
PY
fi

if $render_only; then
  exit 0
fi

# libtorch for the trainer's torch backend (tch 0.22 pins PyTorch 2.9.0), from PyTorch's
# own wheel: its headers and CPU libraries only. The CUDA libraries are left out here; the
# GPU path links a full PyTorch install instead (README, "Training on an NVIDIA GPU").
torch=.deps/libtorch
if [ ! -f "$torch/lib/libtorch_cpu.so" ] || [ ! -f "$torch/build-version" ]; then
  echo "setup: fetching libtorch 2.9.0 (CPU) from the torch wheel"
  mkdir -p .deps/wheels
  # libtorch_cpu.so itself needs the CUDA runtime and CUPTI (small; loaded, never used on
  # the CPU), pinned as torch 2.9.0's own requirements pin them.
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d .deps/wheels torch==2.9.0 nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
  .venv/bin/python scripts/unpack-libtorch.py 2.9.0 "$torch" \
    libc10.so libtorch.so libtorch_cpu.so libgomp.so.1 libshm.so --extra \
    "nvidia_cuda_runtime_cu12-12.8.90-*.whl:nvidia/cuda_runtime/lib/libcudart.so.12" \
    "nvidia_cuda_cupti_cu12-12.8.90-*.whl:nvidia/cuda_cupti/lib/libcupti.so.12"
fi

# Mesa 25's lavapipe for the test of ONNX Runtime's WebGPU provider on a CPU adapter
# (tests/tests/generator.rs): project-local, the system's Mesa stays (scripts/lavapipe.sh).
scripts/lavapipe.sh
