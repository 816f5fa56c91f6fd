"""The VST3 bundle in pedalboard (a JUCE host): loads, passes audio bit-exactly in mono
and stereo at several rates and block sizes, exposes its parameters, and round-trips
its state."""
import numpy as np
import pedalboard
import pytest

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
    assert set(plugin.parameters) == {"fps", "input_gain_db", "execution", "smoothing", "export_on_bounce"}
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
