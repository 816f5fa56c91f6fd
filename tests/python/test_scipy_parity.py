"""The spectrogram contract against scipy.signal.spectrogram itself.

Each signal is written as a 32-bit float WAV, `mvgen spectrogram --raw` computes the
model input, and scipy computes the same window from the same samples with the contract's
parameters. Tolerance: 2e-6 in image units (110 dB span over 2.0), about 1e-4 dB: both
compute in f64, and the image is stored as f32.
"""
import numpy as np
import pytest
import scipy.signal
import soundfile

from conftest import run

FS = 44100
WINDOW = 66150
DB_FLOOR, DB_CEIL, EPS = -120.0, -10.0, 1e-12
TOLERANCE = 2e-6


def reference(x: np.ndarray) -> np.ndarray:
    """The contract written with scipy: 256x256, low frequencies at the bottom."""
    f, t, sxx = scipy.signal.spectrogram(
        x.astype(np.float64), fs=FS, window=("tukey", 0.25), nperseg=510, noverlap=253, nfft=510,
        detrend="constant", scaling="density", mode="psd")
    assert sxx.shape == (256, 256)
    db = 10 * np.log10(sxx + EPS)
    image = np.clip(2 * (db - DB_FLOOR) / (DB_CEIL - DB_FLOOR) - 1, -1, 1)
    return image[::-1].astype(np.float32)


def mvgen_image(mvgen, tmp_path, x: np.ndarray, rate=FS, at=WINDOW / FS, name="signal"):
    wav = tmp_path / f"{name}.wav"
    raw = tmp_path / f"{name}.f32"
    soundfile.write(wav, x.astype(np.float32), rate, subtype="FLOAT")
    run([mvgen, "spectrogram", wav, "--at", repr(at), "-o", tmp_path / f"{name}.png", "--raw", raw])
    return np.fromfile(raw, dtype="<f4").reshape(256, 256)


def signals():
    rng = np.random.default_rng(188)
    n = np.arange(WINDOW)
    t = n / FS
    yield "white noise", rng.uniform(-1, 1, WINDOW)
    yield "quiet white noise", 1e-3 * rng.standard_normal(WINDOW)
    for f in (50.0, 440.0, 1000.0, 5512.5, 12000.0, 21000.0):
        yield f"sine {f} Hz", 0.5 * np.sin(2 * np.pi * f * t)
    yield "chirp", scipy.signal.chirp(t, f0=20, t1=t[-1], f1=20000, method="logarithmic")
    yield "silence", np.zeros(WINDOW)
    yield "full-scale square", scipy.signal.square(2 * np.pi * 220 * t)


@pytest.mark.parametrize("name,x", list(signals()), ids=lambda v: v if isinstance(v, str) else "")
def test_matches_scipy(mvgen, tmp_path, name, x):
    ours = mvgen_image(mvgen, tmp_path, x)
    theirs = reference(x.astype(np.float32))
    diff = np.max(np.abs(ours - theirs))
    assert diff <= TOLERANCE, f"{name}: max difference {diff}"


def test_window_sits_on_the_hop_grid(mvgen, tmp_path):
    """A moment between grid points sees the window that ends at the grid point before it."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, 3 * FS)
    at_sample = 100_000
    end = WINDOW + 257 * ((at_sample - WINDOW) // 257)
    ours = mvgen_image(mvgen, tmp_path, x, at=at_sample / FS)
    assert np.max(np.abs(ours - reference(x[end - WINDOW:end].astype(np.float32)))) <= TOLERANCE


def test_frequency_axis_does_not_move_with_the_rate(mvgen, tmp_path):
    """A 5 kHz sine at 48 kHz lands in the same row as at 44.1 kHz (resampled, not read
    at the wrong rate)."""
    for rate in (22050, 48000, 96000):
        t = np.arange(2 * rate) / rate
        ours = mvgen_image(mvgen, tmp_path, 0.5 * np.sin(2 * np.pi * 5000 * t), rate=rate, at=1.6, name=f"sine{rate}")
        row = np.argmax(ours[:, 128])
        assert 255 - row == round(5000 / (FS / 510)), f"{rate} Hz: peak in bin {255 - row}"


def test_resampled_input_is_close_to_scipy_on_resampled_audio(mvgen, tmp_path):
    """At 48 kHz, mvgen's resampler against scipy's polyphase one, then the contract."""
    rng = np.random.default_rng(3)
    x48 = 0.3 * rng.standard_normal(2 * 48000)
    ours = mvgen_image(mvgen, tmp_path, x48, rate=48000, at=1.5)
    x44 = scipy.signal.resample_poly(x48, 147, 160)
    theirs = reference(x44[:WINDOW].astype(np.float32))
    # Below 20 kHz both resamplers are flat; the band edge differs by design.
    body = slice(256 - int(20000 / (FS / 510)), 256)
    assert np.mean(np.abs(ours[body] - theirs[body])) < 0.01
