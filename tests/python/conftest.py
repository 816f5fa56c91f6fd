"""Shared fixtures for the host tests: where the bundles and the mvgen binary are.

These tests run real hosts (pedalboard and dawdreamer, both JUCE VST3 hosts) and real
scipy against the project's own build outputs. scripts/test.sh builds those first; a test
that cannot find them fails and says what to build.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def _need(path: pathlib.Path, how: str) -> pathlib.Path:
    assert path.exists(), f"{path} is missing: {how}"
    return path


@pytest.fixture(scope="session", autouse=True)
def export_folder(tmp_path_factory):
    """Offline renders export frames (on by default): keep them out of the home folder."""
    folder = tmp_path_factory.mktemp("bounces")
    os.environ["MVGEN_EXPORT_DIR"] = os.environ["MVGEN_TEST_EXPORTS"] = str(folder)
    yield folder


@pytest.fixture(scope="session")
def vst3_path() -> str:
    return str(_need(TARGET / "bundled" / "MVGen.vst3", "run `cargo xtask bundle mvgen-plugin`"))


@pytest.fixture(scope="session")
def mvgen() -> pathlib.Path:
    return _need(TARGET / "debug" / "mvgen", "run `cargo build -p mvgen`")


def music(seed: int, rate: int, seconds: float, channels: int = 2) -> np.ndarray:
    """Seeded music-like audio, shape (channels, samples), float32."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]
    beat = rate // 2
    out = np.empty((channels, n), dtype=np.float32)
    for c in range(channels):
        tone = np.zeros(n)
        for i, chord in enumerate(chords):
            mask = (np.arange(n) // beat) % len(chords) == i
            tone[mask] = sum(0.15 * np.sin(2 * np.pi * f * t[mask]) for f in chord)
        click = 0.5 * np.exp(-((np.arange(n) % beat) / rate) * 40.0) * np.sin(2 * np.pi * 2000 * t)
        out[c] = (tone + click + 0.05 * rng.uniform(-1, 1, n)) * (1.0 if c == 0 else 0.5)
    return out


def read_tap(folder: pathlib.Path):
    """Windows the plugin's worker wrote through MVGEN_TAP_DIR: (rows, windows)."""
    lines = (folder / "windows.csv").read_text().splitlines()[1:]
    rows = [line.split(",") for line in lines]
    windows = [np.fromfile(folder / f"{int(r[0]):06}.f32", dtype="<f4").reshape(256, 256) for r in rows]
    return rows, windows


def read_tap_frame(folder: pathlib.Path, row) -> np.ndarray:
    """The frame generated for a tap row, shape (3, 256, 256)."""
    assert row[4] == "1", f"frame {row[1]} was not generated"
    return np.fromfile(folder / f"{int(row[0]):06}.frame.f32", dtype="<f4").reshape(3, 256, 256)


@pytest.fixture(scope="session")
def test_models(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("models")
    run([sys.executable, ROOT / "tests" / "python" / "make_models.py", out])
    return out


def run(cmd, **kw):
    """Run `cmd`; when it fails, the error carries the end of what it printed (a host's
    crash says why only there)."""
    cmd = [str(c) for c in cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {done.returncode}:\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return done
