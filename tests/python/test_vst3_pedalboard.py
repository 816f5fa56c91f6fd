"""The VST3 bundle in pedalboard (a JUCE host): loads, passes audio bit-exactly in mono
and stereo at several rates and block sizes, exposes its parameters, round-trips its
state, and bounces an offline process() call although pedalboard's transport never
rolls."""
import gc
import json
import os
import subprocess
import sys

import numpy as np
import pedalboard
import pytest
import soundfile

from conftest import music


@pytest.fixture()
def plugin(vst3_path):
    return pedalboard.load_plugin(vst3_path)


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
@pytest.mark.parametrize("block", [64, 511, 4096])
def test_audio_is_bit_exact(plugin, rate, block):
    audio = music(rate, rate, 1.0)
    out = plugin.process(audio, rate, buffer_size=block)
    assert out.dtype == audio.dtype and out.shape == audio.shape
    assert np.array_equal(out.view(np.uint32), audio.view(np.uint32))


def test_mono_is_bit_exact(plugin):
    audio = music(5, 48000, 1.0, channels=1)
    out = plugin.process(audio, 48000)
    assert np.array_equal(out.view(np.uint32), audio.view(np.uint32))


def test_bad_samples_pass_through_untouched(plugin):
    audio = music(9, 44100, 0.5)
    audio[0, ::7] = np.nan
    audio[1, ::11] = np.inf
    audio[0, 1::13] = 1e-40
    audio[1, 1::3] = 100.0
    out = plugin.process(audio, 44100, buffer_size=333)
    assert np.array_equal(out.view(np.uint32), audio.view(np.uint32))


def test_parameters_are_visible_and_settable(plugin):
    assert set(plugin.parameters) == {"fps", "input_gain_db", "execution", "smoothing",
                                      "export_on_bounce", "video_size", "video_aspect",
                                      "video_fill"}
    assert plugin.export_on_bounce == True  # noqa: E712 (pedalboard's own bool type)
    plugin.smoothing = 0.5
    assert plugin.smoothing == pytest.approx(0.5, abs=0.01)
    assert plugin.fps == "30 fps"
    plugin.fps = "60 fps"
    assert plugin.fps == "60 fps"
    plugin.input_gain_db = 6.0
    assert plugin.input_gain_db == pytest.approx(6.0, abs=0.05)
    with pytest.raises(ValueError):
        plugin.fps = "31 fps"
    plugin.video_aspect = "9:16"
    assert plugin.video_aspect == "9:16"


def test_state_round_trips(vst3_path):
    a = pedalboard.load_plugin(vst3_path)
    a.fps = "25 fps"
    a.input_gain_db = -12.0
    # A VST3 host delivers parameter changes to the processor with the next block.
    a.process(np.zeros((2, 64), np.float32), 44100)
    state = a.raw_state
    b = pedalboard.load_plugin(vst3_path)
    assert b.fps == "30 fps"
    b.raw_state = state
    assert b.fps == "25 fps"
    assert b.input_gain_db == pytest.approx(-12.0, abs=0.05)


def _exported(exports):
    return sorted(exports.glob("bounce-*"))


@pytest.mark.parametrize("audio_kind", ["stereo", "mono with NaN"])
def test_an_offline_process_call_is_one_complete_bounce(vst3_path, tmp_path, test_models, audio_kind):
    """pedalboard renders offline with a transport that never rolls (no play head): 5 s of
    a song is one bounce of 150 frames at 30 fps on the plugin's own frame clock, with the
    audio under them, and a bounce.mp4 of those frames with stereo audio, whatever the
    track held (mono, NaN samples). The blocks pedalboard runs while loading a plugin are
    no bounce. The bounce ends when the host deactivates the plugin (the next process()
    call, or when the plugin is deleted)."""
    # Instances left from other tests bounce what they hold when they go: not here.
    gc.collect()
    exports = tmp_path / "exports"
    os.environ["MVGEN_EXPORT_DIR"] = str(exports)
    os.environ["MVGEN_MODEL"] = str(test_models / "unet256_ngf8.onnx")
    try:
        plugin = pedalboard.load_plugin(vst3_path)
        audio = music(21, 44100, 5.0, channels=2 if audio_kind == "stereo" else 1)
        if audio_kind == "mono with NaN":
            audio[0, 1000:1100] = np.nan
        out = plugin.process(audio, 44100)
        del plugin
        gc.collect()
    finally:
        os.environ.pop("MVGEN_MODEL", None)
        os.environ["MVGEN_EXPORT_DIR"] = os.environ["MVGEN_TEST_EXPORTS"]
    assert np.array_equal(out.view(np.uint32), audio.view(np.uint32))
    bounces = _exported(exports)
    assert [b.name for b in bounces] == ["bounce-0001"], "one render, one bounce"
    manifest = json.loads((bounces[0] / "manifest.json").read_text())
    assert manifest["complete"] is True, manifest["problems"]
    assert manifest["render_detected_by"] == "the host's offline mode, without a moving timeline"
    assert manifest["start_sample"] == 0
    frames = manifest["frames"]
    assert len(frames) == 150
    assert [f["sample"] for f in frames] == [(2 * k * 44100 + 30) // 60 for k in range(150)]
    wav, rate = soundfile.read(bounces[0] / "audio.wav", dtype="float32", always_2d=True)
    assert rate == 44100 and np.array_equal(wav.T.view(np.uint32), audio.view(np.uint32))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,nb_read_frames,channels", "-of", "json", bounces[0] / "bounce.mp4"],
        capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert streams["video"]["nb_read_frames"] == "150"
    assert streams["audio"]["channels"] == 2


def test_a_run_too_short_to_be_a_render_says_so(vst3_path, tmp_path):
    """0.3 s processed offline without a timeline is taken for a host trying the plugin
    out: nothing is exported, and the plugin says why (its log, here on stderr)."""
    exports = tmp_path / "exports"
    script = (
        "import sys, gc, pedalboard, numpy as np\n"
        "p = pedalboard.load_plugin(sys.argv[1])\n"
        "p.process(np.random.default_rng(0).uniform(-0.5, 0.5, (2, 13230)).astype(np.float32), 44100)\n"
        "del p; gc.collect()\n"
    )
    env = dict(os.environ, MVGEN_EXPORT_DIR=str(exports))
    done = subprocess.run([sys.executable, "-c", script, vst3_path], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not _exported(exports)
    assert "0.30 s without a moving timeline was not exported" in done.stderr, done.stderr[-2000:]
