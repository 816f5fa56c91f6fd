#!/usr/bin/env bash
# The torch trainer on the device's NVIDIA GPU beside PyTorch eager, in one call (see
# prepare-train.sh): one pix2pix iteration at ngf/ndf 16/16, 16/64 and 64/64, batch 1,
# medians after warm-ups, alternating rounds. Each step has a timeout.
set -uo pipefail
cd "$(dirname "$0")/../.."
phase() { echo; echo "== $1 ($(date +%T))"; }

phase "setup: mvgen against the device's libtorch"
xz -dc .dev-train/mvgen.xz > /tmp/mvgen && chmod +x /tmp/mvgen
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
nvidia_libs=$(python3 -c "import nvidia, os; print(':'.join(sorted({os.path.dirname(os.path.join(r, f)) for p in nvidia.__path__ for r, _, fs in os.walk(p) for f in fs if '.so' in f})))")
export LD_LIBRARY_PATH="$torch_lib:$nvidia_libs:${LD_LIBRARY_PATH:-}"
python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

phase "smoke: ten steps on the GPU"
timeout 120 /tmp/mvgen bench-train --device gpu --ngf 16 --ndf 16 --steps 5 --warm-up 5 || exit 1

phase "PyTorch eager beside mvgen's torch trainer, on the GPU"
timeout 420 python3 scripts/bench/train_speed.py --mvgen /tmp/mvgen --device gpu --no-burn \
  --rounds 3 --steps 50 --warm-up 20

phase "done"
