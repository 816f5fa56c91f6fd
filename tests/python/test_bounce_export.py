"""A dawdreamer offline render (a real JUCE host's bounce) with export on: exactly one
frame per 1/fps of the bounce, a manifest that says so, the bounced audio as WAV, and the
same frames `mvgen render` makes from the same audio and model: within 1/255 per value
on the CPU provider, because both run the same analysis, clock, runtime and smoothing."""
import hashlib
import json
import os
import subprocess

import numpy as np
import soundfile

from conftest import music, run
from test_vst3_dawdreamer import RATE, render

SECONDS = 10.0
FPS = 30


def png_frames(pattern, count):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(pattern), "-frames:v", str(count),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 256, 256, 3)


def test_a_10s_bounce_exports_300_frames_equal_to_mvgen_render(vst3_path, tmp_path, mvgen, test_models):
    model = test_models / "unet256_ngf8.onnx"
    audio = music(8, RATE, SECONDS)
    exports = tmp_path / "exports"
    os.environ["MVGEN_MODEL"] = str(model)
    os.environ["MVGEN_EXPORT_DIR"] = str(exports)
    try:
        render(vst3_path, audio, SECONDS)
    finally:
        os.environ.pop("MVGEN_MODEL", None)
        os.environ["MVGEN_EXPORT_DIR"] = os.environ["MVGEN_TEST_EXPORTS"]
    bounce = exports / "bounce-0001"
    manifest = json.loads((bounce / "manifest.json").read_text())
    assert manifest["complete"] is True, manifest.get("error")
    assert manifest["fps"] == FPS and manifest["sample_rate_hz"] == RATE
    assert manifest["start_sample"] == 0 and manifest["channels"] == 2
    frames = manifest["frames"]
    assert len(frames) == 300, "10 s at 30 fps"
    for i, f in enumerate(frames):
        assert f == {"file": f"frame-{i:06}.png", "frame": i, "sample": (i * RATE + FPS // 2) // FPS}
    assert manifest["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert manifest["params"]["fps"] == FPS and manifest["params"]["smoothing"] == 0.0
    wav, rate = soundfile.read(bounce / "audio.wav", dtype="float32")
    assert rate == RATE
    assert wav.shape == (audio.shape[1], 2), "the WAV spans the bounce's frames, not the host's extra blocks"
    assert np.array_equal(wav.T, audio), "the WAV is the audio the plugin passed on"
    assert (bounce / "bounce.mp4").stat().st_size > 0

    song = tmp_path / "song.wav"
    soundfile.write(song, audio.T, RATE, subtype="FLOAT")
    rendered_dir = tmp_path / "rendered"
    run([mvgen, "render", song, "-o", tmp_path / "video.mp4", "--model", model, "--fps", str(FPS),
         "--frames-dir", rendered_dir, "--execution", "cpu", "--threads", "2"])
    rendered = png_frames(rendered_dir / "%06d.png", 300)
    bounced = png_frames(bounce / "frame-%06d.png", 300)
    assert rendered.shape[0] == 300 and bounced.shape[0] == 300
    diff = np.abs(rendered.astype(np.int16) - bounced.astype(np.int16))
    worst = diff.reshape(300, -1).max(axis=1)
    assert worst.max() <= 1, f"frames {np.nonzero(worst > 1)[0][:10]} differ by up to {worst.max()} levels"
    assert (tmp_path / "video.mp4").stat().st_size > 0


def test_a_bounce_and_mvgen_render_agree_at_any_length(vst3_path, tmp_path, mvgen, test_models):
    """10.01 s is 300.3 frames: both make the 300 whole ones, the same frames."""
    seconds = 10.01
    model = test_models / "unet256_ngf8.onnx"
    audio = music(9, RATE, seconds)
    exports = tmp_path / "exports"
    os.environ["MVGEN_MODEL"] = str(model)
    os.environ["MVGEN_EXPORT_DIR"] = str(exports)
    try:
        render(vst3_path, audio, seconds)
    finally:
        os.environ.pop("MVGEN_MODEL", None)
        os.environ["MVGEN_EXPORT_DIR"] = os.environ["MVGEN_TEST_EXPORTS"]
    bounce = exports / "bounce-0001"
    manifest = json.loads((bounce / "manifest.json").read_text())
    assert manifest["complete"] is True, manifest["problems"]
    assert len(manifest["frames"]) == 300
    song = tmp_path / "song.wav"
    soundfile.write(song, audio.T, RATE, subtype="FLOAT")
    rendered_dir = tmp_path / "rendered"
    run([mvgen, "render", song, "-o", tmp_path / "video.mp4", "--model", model, "--fps", str(FPS),
         "--frames-dir", rendered_dir, "--execution", "cpu", "--threads", "2"])
    assert len(list(rendered_dir.iterdir())) == 300, "mvgen render makes whole frames only"
    rendered = png_frames(rendered_dir / "%06d.png", 301)
    bounced = png_frames(bounce / "frame-%06d.png", 301)
    assert rendered.shape[0] == bounced.shape[0] == 300
    assert np.abs(rendered.astype(np.int16) - bounced.astype(np.int16)).max() <= 1


def test_export_can_be_switched_off(vst3_path, tmp_path):
    exports = tmp_path / "exports"
    os.environ["MVGEN_EXPORT_DIR"] = str(exports)
    try:
        render(vst3_path, music(2, RATE, 1.0), 1.0, params={4: 0.0})
    finally:
        os.environ["MVGEN_EXPORT_DIR"] = os.environ["MVGEN_TEST_EXPORTS"]
    assert not exports.exists()
