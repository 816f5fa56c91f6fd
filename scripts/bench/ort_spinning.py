"""CPU cost of ONNX Runtime's spinning threads at the plugin's pace: one unet_256 run
every 33 ms (30 fps) for 10 s on 2 intra-op threads, with spinning on (ONNX Runtime's
default) and off (what mvgen sets). Same ONNX Runtime release as the bundles (1.31.1,
from the test venv). Prints the process's CPU time as a share of one core.

    .venv/bin/python scripts/bench/ort_spinning.py target/bench-models/unet256_ngf16.onnx
"""
import resource
import sys
import time

import numpy as np
import onnxruntime as ort


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def run(model, spinning, seconds=10.0, fps=30):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 256, 256)).astype(np.float32)
    for _ in range(5):
        session.run(None, {name: x})
    start, cpu = time.perf_counter(), cpu_seconds()
    frames, busy = int(seconds * fps), 0.0
    for k in range(frames):
        t = time.perf_counter()
        session.run(None, {name: x})
        busy += time.perf_counter() - t
        due = start + (k + 1) / fps
        time.sleep(max(0.0, due - time.perf_counter()))
    wall = time.perf_counter() - start
    return (cpu_seconds() - cpu) / wall, 1e3 * busy / frames


for model in sys.argv[1:]:
    for spinning in (True, False):
        share, ms = run(model, spinning)
        print(f"{model.rsplit('/', 1)[-1]}, spinning {'on ' if spinning else 'off'}: "
              f"{100 * share:.0f} % of one core, {ms:.1f} ms per frame")
