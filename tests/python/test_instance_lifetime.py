"""Instances come and go at any moment, as a user adds and deletes MVGen in a JUCE host
(pedalboard): every thread an instance starts (its worker, the generator's thread, model
loaders, bounce finishers) is joined, within its stated limit, before the instance is
gone, so nothing of ONNX Runtime keeps running inside the plugin once it is deleted.

The instances live in a child process, so that its stderr (where ONNX Runtime and the
plugin log) and its threads (/proc/self/task) can be read afterwards. ONNX Runtime keeps
a thread of its own for the life of the process once it is loaded (the plugin starts it
on a thread named "onnxruntime", whose name it takes): after the 50th instance, the
threads must be those before the first, plus that one, and none of the plugin's own."""
import os
import subprocess
from collections import Counter
import sys

CHILD = r"""
import gc, os, random, sys, time
import numpy as np, pedalboard
rng = random.Random(7)
audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 44100)).astype(np.float32)
def threads():
    return sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
print("BEFORE " + ",".join(threads()))
for i in range(50):
    plugin = pedalboard.load_plugin(sys.argv[1])
    # The last is deleted at once too: its model is still loading when it goes.
    moment = 0.0 if i == 49 else rng.random()
    if moment < 0.4:
        pass  # deleted at once, while its model loads
    elif moment < 0.7:
        plugin.process(audio[:, : rng.randrange(64, 44100)], 44100)  # mid-use
    else:
        time.sleep(rng.random() * 0.1)
    del plugin
    gc.collect()
print("AFTER " + ",".join(threads()))
"""

# What ONNX Runtime printed when it ran on after an instance was gone.
ORT_ERRORS = ("MLDataType", "Non-zero status code", "is not currently registered")


def test_fifty_instances_added_and_deleted_leave_no_thread_behind(vst3_path, tmp_path):
    env = dict(os.environ, MVGEN_EXPORT_DIR=str(tmp_path / "exports"))
    done = subprocess.run([sys.executable, "-c", CHILD, vst3_path], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    before, after = lines["BEFORE"].split(","), lines["AFTER"].split(",")
    own = [t for t in after if t.startswith("mvgen")]
    assert not own, f"the plugin's own threads outlived its instances: {own}"
    # Threads of the process that ended on their own are no concern; new ones are.
    left = sorted((Counter(after) - Counter(before)).elements())
    assert left in ([], ["onnxruntime"]), f"threads left behind: {left}"
    errors = [line for line in done.stderr.splitlines() if any(e in line for e in ORT_ERRORS)]
    assert not errors, errors[:5]
    assert "did not stop within" not in done.stderr, done.stderr[-3000:]
