"""How long the plugin's finisher takes to encode a bounce's bounce.mp4: a 3-minute song
bounced by pedalboard (a JUCE host) through the release VST3 bundle with the embedded
default model (and its enhancer), in the plugin's default Video format (1080p 16:9 blur).
The finisher runs after the render, at nice 10; its time is from audio.wav (written
when the render ends) to the final manifest (written when bounce.mp4 is whole).

    cargo xtask bundle mvgen-plugin --release
    .venv/bin/python scripts/bench/finisher.py [--seconds 180]
"""
import argparse
import json
import os
import pathlib
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=180.0)
args = parser.parse_args()

exports = pathlib.Path(tempfile.mkdtemp(prefix="mvgen-finisher-"))
os.environ["MVGEN_EXPORT_DIR"] = str(exports)
os.environ.pop("MVGEN_MODEL", None)
import pedalboard  # noqa: E402  (after the environment the plugin reads)

rate = 44100
t = np.arange(int(args.seconds * rate)) / rate
# Music that changes: a pad whose pitch steps every 4 s, a pulse, a swell.
pad = 0.3 * np.sin(2 * np.pi * (110 * 2 ** (np.floor(t / 4) % 5 / 12)) * t)
pulse = 0.3 * np.sin(2 * np.pi * 2000 * t) * (np.mod(t, 0.5) < 0.08)
song = np.stack([pad + pulse * (0.5 + 0.5 * np.sin(t / 7))] * 2).astype(np.float32)

plugin = pedalboard.load_plugin(str(ROOT / "target/bundled/MVGen.vst3"))
started = time.time()
plugin.process(song, rate, buffer_size=512, reset=True)
rendered = time.time() - started
plugin.reset()  # ends the bounce (pedalboard has no transport)
plugin.process(np.zeros((2, 512), np.float32), rate, buffer_size=512, reset=False)
bounce = sorted(exports.iterdir())[0]
manifest = bounce / "manifest.json"
while not json.loads(manifest.read_text()).get("finished"):
    time.sleep(1)
m = json.loads(manifest.read_text())
encode = manifest.stat().st_mtime - (bounce / "audio.wav").stat().st_mtime
print(f"{len(m['frames'])} frames ({args.seconds:.0f} s), render {rendered:.0f} s; "
      f"bounce.mp4 {m['video']['width']}x{m['video']['height']} by {m['video']['upscaled_by']}: "
      f"finisher {encode:.0f} s ({encode / args.seconds:.2f}x the song)")
