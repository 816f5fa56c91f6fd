"""The VST3 bundle in dawdreamer, a JUCE offline renderer: the audio comes out bit-exact,
parameters and automation reach the plugin, and the worker receives one window per video
frame of the render (duration x fps, within one), each equal to the offline contract
computed by `mvgen spectrogram` on the same audio.

dawdreamer renders offline (VST3 kOffline), so the plugin waits for its worker and no
frame may be lost. The engine is deleted before the tap is read: that deactivates the
plugin, whose worker drains its queue before it stops. State round-trips are checked in
pedalboard: dawdreamer 0.9's save_state needs a plugin editor.
"""
import gc
import json
import os

import dawdreamer as daw
import numpy as np
import pytest
import soundfile

from conftest import music, read_tap, read_tap_frame, run

RATE = 44100
BLOCK = 512


def frame_position(k: int, fps: int) -> int:
    """The frame clock: round(k * RATE / fps), halves up (mvgen_core::FrameClock)."""
    return (2 * k * RATE + fps) // (2 * fps)


def frames_before(samples: int, fps: int) -> int:
    return sum(1 for k in range(samples * fps // RATE + 2) if frame_position(k, fps) < samples)


def render(vst3_path, audio, seconds, tap=None, params=None):
    if tap is not None:
        os.environ["MVGEN_TAP_DIR"] = str(tap)
    try:
        engine = daw.RenderEngine(RATE, BLOCK)
        playback = engine.make_playback_processor("song", audio)
        plugin = engine.make_plugin_processor("mvgen", vst3_path)
        for index, value in (params or {}).items():
            plugin.set_parameter(index, value)
        engine.load_graph([(playback, []), (plugin, ["song"])])
        engine.render(seconds)
        audio_out = engine.get_audio()
        del engine, playback, plugin
        gc.collect()
        return audio_out
    finally:
        os.environ.pop("MVGEN_TAP_DIR", None)


def test_offline_render_is_bit_exact(vst3_path):
    audio = music(1, RATE, 3.0)
    out = render(vst3_path, audio, 3.0)
    n = min(out.shape[1], audio.shape[1])
    assert n == audio.shape[1]
    assert np.array_equal(out[:, :n].astype(np.float32).view(np.uint32), audio[:, :n].view(np.uint32))


def test_parameters_are_visible_and_settable(vst3_path):
    engine = daw.RenderEngine(RATE, BLOCK)
    plugin = engine.make_plugin_processor("mvgen", vst3_path)
    names = [p["name"] for p in plugin.get_parameters_description()]
    assert names == ["FPS", "Input gain", "Execution", "Smoothing", "Export on bounce",
                     "Video size", "Video aspect", "Video fill"]
    assert plugin.get_parameter_text(0) == "30 fps"
    plugin.set_parameter(0, 1.0)  # normalised: the last choice
    assert plugin.get_parameter_text(0) == "60 fps"
    plugin.set_parameter(1, 0.75)  # -24..24 dB
    assert plugin.get_parameter_text(1) == "12.0"


@pytest.mark.parametrize("fps_index,fps", [(0.5, 30), (1.0, 60)])
def test_render_makes_one_window_per_frame(vst3_path, tmp_path, mvgen, fps_index, fps):
    seconds = 4.0
    audio = music(2, RATE, seconds)
    tap = tmp_path / "tap"
    render(vst3_path, audio, seconds, tap=tap, params={0: fps_index})
    rows, windows = read_tap(tap)
    # dawdreamer processes whole blocks, and one more past the end: every frame that falls
    # in the processed audio must arrive, and none past it.
    lo = frames_before(int(seconds * RATE), fps)
    hi = frames_before(int(seconds * RATE) + 2 * BLOCK, fps)
    assert lo <= len(rows) <= hi, f"{len(rows)} windows for {lo}..{hi} frames"
    assert [int(r[2]) for r in rows] == [frame_position(k, fps) for k in range(len(rows))]
    assert [int(r[1]) for r in rows] == list(range(len(rows)))

    # Each window equals the offline contract on the same audio, via the CLI.
    wav = tmp_path / "song.wav"
    soundfile.write(wav, audio.T, RATE, subtype="FLOAT")
    for row, window in list(zip(rows, windows))[:: max(1, len(rows) // 6)]:
        at = int(row[2]) / RATE
        raw = tmp_path / "offline.f32"
        run([mvgen, "spectrogram", wav, "--at", repr(at), "-o", tmp_path / "offline.png", "--raw", raw])
        offline = np.fromfile(raw, dtype="<f4").reshape(256, 256)
        assert np.max(np.abs(window - offline)) <= 1e-5, f"frame {row[1]}"


def test_frame_rate_automation_waits_for_the_next_bounce(vst3_path, tmp_path):
    """A bounce keeps the frame rate of its first block: its video has one rate. Automating
    fps from 30 to 60 halfway through leaves a whole 30 fps bounce."""
    seconds = 4.0
    audio = music(3, RATE, seconds)
    tap = tmp_path / "tap"
    exports = tmp_path / "exports"
    os.environ["MVGEN_TAP_DIR"] = str(tap)
    os.environ["MVGEN_EXPORT_DIR"] = str(exports)
    try:
        engine = daw.RenderEngine(RATE, BLOCK)
        playback = engine.make_playback_processor("song", audio)
        plugin = engine.make_plugin_processor("mvgen", vst3_path)
        # 30 fps for the first half, 60 fps for the second (automation at audio rate).
        n = int(RATE * seconds)
        plugin.set_automation(0, np.where(np.arange(n) < n // 2, 0.5, 1.0).astype(np.float32))
        engine.load_graph([(playback, []), (plugin, ["song"])])
        engine.render(seconds)
        del engine, playback, plugin
        gc.collect()
    finally:
        os.environ.pop("MVGEN_TAP_DIR", None)
        os.environ["MVGEN_EXPORT_DIR"] = os.environ["MVGEN_TEST_EXPORTS"]
    rows, _ = read_tap(tap)
    frames = [int(r[1]) for r in rows]
    assert frames == list(range(len(frames))), "30 fps frames to the end"
    assert [int(r[2]) for r in rows] == [frame_position(k, 30) for k in frames]
    manifest = json.loads((exports / "bounce-0001" / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["fps"] == 30
    assert len(manifest["frames"]) == 120


def test_frames_equal_onnx_runtime_on_the_same_windows(vst3_path, tmp_path, test_models):
    """With a model, every frame of the bounce equals ONNX Runtime (Python, same 1.31.1
    release) run directly on the window the worker received. Tolerance 1e-5: the two
    sessions may split the convolutions across threads differently."""
    import onnxruntime

    model = test_models / "unet256_ngf8.onnx"
    os.environ["MVGEN_MODEL"] = str(model)
    try:
        tap = tmp_path / "tap"
        render(vst3_path, music(4, RATE, 2.0), 2.0, tap=tap)
    finally:
        os.environ.pop("MVGEN_MODEL", None)
    rows, windows = read_tap(tap)
    assert len(rows) >= 60
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for row, window in zip(rows, windows):
        expected = session.run(None, {name: window[None, None]})[0][0]
        frame = read_tap_frame(tap, row)
        assert np.max(np.abs(frame - expected)) <= 1e-5, f"frame {row[1]}"
