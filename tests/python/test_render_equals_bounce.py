"""`mvgen render` and a dawdreamer bounce of the same audio with the same model make the
same frames: within 1/255 per value (the renderer writes 8-bit PNGs), on the CPU
provider. Both run the same code path; this checks that nothing differs between the
plugin's streaming analysis and the renderer's offline one, frame for frame."""
import os
import subprocess

import numpy as np
import soundfile

from conftest import music, read_tap, read_tap_frame, run
from test_vst3_dawdreamer import RATE, render


def test_render_frames_equal_the_bounce(vst3_path, tmp_path, mvgen, test_models):
    model = test_models / "unet256_ngf8.onnx"
    audio = music(8, RATE, 3.0)
    os.environ["MVGEN_MODEL"] = str(model)
    try:
        tap = tmp_path / "tap"
        render(vst3_path, audio, 3.0, tap=tap)
    finally:
        os.environ.pop("MVGEN_MODEL", None)
    rows, _ = read_tap(tap)

    song = tmp_path / "song.wav"
    soundfile.write(song, audio.T, RATE, subtype="FLOAT")
    frames = tmp_path / "frames"
    run([mvgen, "render", song, "-o", tmp_path / "video.mp4", "--model", model, "--fps", "30",
         "--frames-dir", frames, "--execution", "cpu", "--threads", "2"])
    pngs = sorted(frames.glob("*.png"))
    assert len(pngs) == 90, "3 s at 30 fps"
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(frames / "%06d.png"), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    rendered = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 256, 256, 3)
    assert rendered.shape[0] == 90
    for k, row in enumerate(rows[:90]):
        assert int(row[1]) == k
        planes = read_tap_frame(tap, row)
        bounced = np.round((np.clip(planes, -1, 1) + 1) * 127.5).astype(np.int16).transpose(1, 2, 0)
        diff = np.max(np.abs(bounced - rendered[k].astype(np.int16)))
        assert diff <= 1, f"frame {k}: {diff} levels apart"
    assert (tmp_path / "video.mp4").stat().st_size > 0
