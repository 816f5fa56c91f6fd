"""MVGen in a real DAW: Ardour 7 (Debian's `ardour` package), driven headlessly.

A 48 kHz session holds a stereo track with a 20 s song at sample 0 and MVGen on it. Two
offline renders, the two Ardour has:
- the session export (`ardour7-export`), during which Ardour calls `process()` with
  `processMode = kOffline` on every block but never calls `setupProcessing` again;
- a track bounce with processing (`Track:bounce_range`, "Bounce (with processing)"),
  which calls every block `kRealtime` while it renders far faster than real time.
Each must leave exactly one complete bounce: 600 frames at 30 fps, timeline frames
0..599 from sample 0, an MP4 of 600 frames in the session's Video settings (720p 9:16,
mirror, set by tests/ardour/new_session.lua), and `audio.wav` equal to what Ardour
rendered, which equals the song bit for bit (the plugin never touches the audio). The two
renders' frames equal each other and `mvgen render` of the song.

Ardour runs with the "None (Dummy)" backend and scratch configuration folders, so the
test never touches a user's Ardour setup. Headless Ardour knows VST3 plugins only from
its scan cache, so the bundle is scanned first. Ardour's Lua cannot import a file
without its GUI: tests/ardour/new_session.lua makes a region of the right length by
bouncing the empty track, and the song is written into the region's source files while
the session is closed.
"""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import ROOT, music, run

RATE = 48000
SECONDS = 20
FPS = 30
FRAMES = SECONDS * FPS
SCANNER = pathlib.Path("/usr/lib/ardour7/ardour-vst3-scanner")


def scratch_dir(path: pathlib.Path) -> pathlib.Path:
    """Ardour leaves plugins out of its list when its folders are private (mode 0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def ardour(tmp_path_factory, vst3_path, test_models):
    """An environment for Ardour's tools: scratch config and cache, MVGen scanned, and the
    ngf 8 test model as MVGen's model."""
    assert SCANNER.exists(), "Ardour 7 is missing: scripts/setup.sh installs Debian's ardour"
    base = scratch_dir(tmp_path_factory.mktemp("ardour"))
    home = scratch_dir(base / "home")
    plugins = scratch_dir(home / ".vst3")
    (plugins / "MVGen.vst3").symlink_to(vst3_path)
    env = dict(os.environ,
               HOME=str(home),
               XDG_CONFIG_HOME=str(scratch_dir(home / "config")),
               XDG_CACHE_HOME=str(scratch_dir(home / "cache")),
               MVGEN_MODEL=str(test_models / "unet256_ngf8.onnx"))
    scan = run([SCANNER, "-f", plugins / "MVGen.vst3"],
               env=dict(env, LD_LIBRARY_PATH="/usr/lib/ardour7"))
    assert "Found Plugin: MVGen" in scan.stdout + scan.stderr, scan.stdout + scan.stderr
    return env, base


@pytest.fixture(scope="module")
def session(ardour):
    """The session folder, its name, and the song in it (shape (2, samples))."""
    env, base = ardour
    folder, name = base / "session", "mvgen-test"
    made = run(["ardour7-lua", ROOT / "tests" / "ardour" / "new_session.lua",
                folder, name, RATE, RATE * SECONDS], env=env)
    sources = [line.split(" ", 1)[1] for line in made.stdout.splitlines() if line.startswith("SOURCE ")]
    assert len(sources) == 2, made.stdout + made.stderr
    song = music(17, RATE, SECONDS)
    for path, channel in zip(sources, song):
        with soundfile.SoundFile(path, "r+") as f:
            assert f.frames == channel.size and f.samplerate == RATE
            f.seek(0)
            f.write(channel)
    return folder, name, song


def only_bounce(exports: pathlib.Path) -> pathlib.Path:
    bounces = sorted(exports.iterdir())
    assert [b.name for b in bounces] == ["bounce-0001"], bounces
    return bounces[0]


def check_bounce(bounce: pathlib.Path, song: np.ndarray, detected_by: str):
    """Exactly the render's frames and audio, complete, with a video of every frame."""
    manifest = json.loads((bounce / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["finished"] is True, manifest["problems"]
    assert manifest["render_detected_by"] == detected_by
    assert manifest["fps"] == FPS and manifest["sample_rate_hz"] == RATE and manifest["channels"] == 2
    assert manifest["start_sample"] == 0
    assert manifest["missing_frames"] == []
    frames = manifest["frames"]
    assert [f["frame"] for f in frames] == list(range(FRAMES))
    assert all(f["sample"] == k * RATE // FPS for k, f in enumerate(frames))
    wav, rate = soundfile.read(bounce / "audio.wav", dtype="float32", always_2d=True)
    assert rate == RATE
    assert wav.shape == (RATE * SECONDS, 2) and np.array_equal(wav.T.view(np.uint32), song.view(np.uint32)), \
        "audio.wav is not the rendered song"
    counted = run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                   "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0",
                   bounce / "bounce.mp4"])
    assert counted.stdout.strip() == f"720,1280,{FRAMES}", \
        "bounce.mp4 is not in the session's format (720p 9:16) with every frame"
    assert manifest["video"]["fill"] == "mirror"


def pngs(bounce: pathlib.Path):
    return [(bounce / f"frame-{k:06}.png").read_bytes() for k in range(FRAMES)]


def decoded(pattern: pathlib.Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(pattern), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 256, 256, 3).astype(np.int16)


@pytest.fixture(scope="module")
def session_export(ardour, session, tmp_path_factory):
    """Ardour's session export with MVGen on the track: its WAV and the bounce folder."""
    env, _ = ardour
    folder, name, _ = session
    out = tmp_path_factory.mktemp("export")
    exports = out / "bounces"
    run(["ardour7-export", "-b", "float", "-o", out / "export.wav", folder, name],
        env=dict(env, MVGEN_EXPORT_DIR=str(exports)))
    return out / "export.wav", only_bounce(exports)


def test_a_session_export_exports_every_frame_of_its_range(session, session_export):
    _, _, song = session
    exported, bounce = session_export
    wav, rate = soundfile.read(exported, dtype="float32", always_2d=True)
    assert rate == RATE
    assert np.array_equal(wav.T.view(np.uint32), song.view(np.uint32)), \
        "Ardour's export is not the song bit for bit: the plugin changed the audio"
    check_bounce(bounce, song, "the host's offline mode")


def test_a_track_bounce_with_processing_exports_every_frame(ardour, session, session_export, tmp_path):
    env, _ = ardour
    folder, name, song = session
    exports = tmp_path / "bounces"
    bounced = run(["ardour7-lua", ROOT / "tests" / "ardour" / "bounce_track.lua", folder, name],
                  env=dict(env, MVGEN_EXPORT_DIR=str(exports)))
    assert f"BOUNCED {RATE * SECONDS}" in bounced.stdout, bounced.stdout + bounced.stderr
    sources = [line.split(" ", 1)[1] for line in bounced.stdout.splitlines() if line.startswith("SOURCE ")]
    region = np.stack([soundfile.read(s, dtype="float32")[0] for s in sources])
    assert np.array_equal(region.view(np.uint32), song.view(np.uint32)), "the bounce changed the audio"
    bounce = only_bounce(exports)
    check_bounce(bounce, song, "the host rendering faster than real time")
    assert pngs(bounce) == pngs(session_export[1]), "the two renders of one song made different frames"


def test_the_exported_frames_are_mvgen_renders(ardour, session, session_export, mvgen, tmp_path):
    env, _ = ardour
    _, _, song = session
    path = tmp_path / "song.wav"
    soundfile.write(path, song.T, RATE, subtype="FLOAT")
    frames = tmp_path / "rendered"
    run([mvgen, "render", path, "-o", tmp_path / "video.mp4", "--model", env["MVGEN_MODEL"],
         "--fps", FPS, "--frames-dir", frames, "--execution", "cpu", "--threads", 2])
    rendered = decoded(frames / "%06d.png")
    bounced = decoded(session_export[1] / "frame-%06d.png")
    assert rendered.shape == bounced.shape == (FRAMES, 256, 256, 3)
    worst = np.abs(rendered - bounced).reshape(FRAMES, -1).max(axis=1)
    assert worst.max() <= 1, f"frames {np.nonzero(worst > 1)[0][:10]} differ by up to {worst.max()} levels"


def with_plugin_fields(session_xml: str, fields: dict) -> str:
    """The session with MVGen's saved fields changed, as its state would be after the user
    chose them: Ardour keeps a VST3 plugin's state as a preset container (base64), with
    the plugin's JSON at the front and a list of the sections' offsets at the end."""
    import base64
    import re
    import struct

    def edit(match):
        blob = base64.b64decode(match.group(1))
        assert blob[:4] == b"VST3", "not a VST3 state"
        listed = struct.unpack("<q", blob[40:48])[0]
        state = json.loads(blob[48:listed])
        state["fields"].update({key: json.dumps(value) for key, value in fields.items()})
        data = json.dumps(state).encode()
        body = blob[:40] + struct.pack("<q", 48 + len(data)) + data
        # "List", 2 entries: the component state (Comp) and an empty controller state.
        body += b"List" + struct.pack("<i", 2)
        body += b"Comp" + struct.pack("<qq", 48, len(data))
        body += b"Cont" + struct.pack("<qq", 48 + len(data), 0)
        return "<chunk>" + base64.b64encode(body).decode() + "</chunk>"

    edited, count = re.subn(r"<chunk>([^<]+)</chunk>", edit, session_xml)
    assert count == 1, f"{count} plugin states in the session"
    return edited


def export_with_fields(ardour, session, work: pathlib.Path, fields: dict, looks: pathlib.Path):
    """Ardour's export of a copy of the session whose MVGen state has `fields`, on a
    machine whose look folder is `looks`: the bounce's manifest."""
    import shutil

    env, _ = ardour
    folder, name, _ = session
    copy = work / "session"
    shutil.copytree(folder, copy)
    xml = copy / f"{name}.ardour"
    xml.write_text(with_plugin_fields(xml.read_text(), fields))
    exports = work / "bounces"
    run(["ardour7-export", "-b", "float", "-o", work / "export.wav", copy, name],
        env=dict(env, MVGEN_EXPORT_DIR=str(exports), MVGEN_LOOKS_DIR=str(looks)))
    manifest = json.loads((only_bounce(exports) / "manifest.json").read_text())
    assert manifest["complete"] is True, manifest["problems"]
    return manifest


def sha256(path: pathlib.Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_session_opened_elsewhere_finds_its_look(ardour, session, test_models, tmp_path):
    """A session saved with a look, opened on another machine where the look is installed
    somewhere else: Ardour's export runs that look, found by its name and hash."""
    import shutil

    looks = tmp_path / "looks"
    (looks / "tiny").mkdir(parents=True)
    (looks / "tiny" / "look.json").write_text('{"format": 1, "name": "Tiny"}')
    generator = looks / "tiny" / "generator.onnx"
    shutil.copy(test_models / "tiny.onnx", generator)
    sha = sha256(generator)
    manifest = export_with_fields(ardour, session, tmp_path, {
        "model": "/on/the/machine/it/was/saved/on/tiny/generator.onnx",
        "look": {"name": "Tiny", "sha256": sha},
    }, looks)
    assert manifest["model"]["sha256"] == sha, manifest["model"]


def test_every_shipped_look_runs_from_the_bundle(ardour, session, vst3_path, tmp_path):
    """Each look the project ships (`looks/`, copied into MVGen.vst3's Resources), chosen
    in a session, makes the frames of Ardour's export, on a machine with no looks of its
    own."""
    shipped = sorted((ROOT / "looks").glob("*/look.json"))
    assert shipped, "the project ships no looks (looks/ is empty)"
    nobody = tmp_path / "no-looks"
    nobody.mkdir()
    for path in shipped:
        look = json.loads(path.read_text())
        sha = sha256(path.parent / "generator.onnx")
        bundled = pathlib.Path(vst3_path) / "Contents" / "Resources" / "looks" / path.parent.name
        assert sha256(bundled / "generator.onnx") == sha, f"{bundled} is not the shipped look"
        work = tmp_path / path.parent.name
        work.mkdir()
        manifest = export_with_fields(
            ardour, session, work, {"look": {"name": look["name"], "sha256": sha}}, nobody)
        assert manifest["model"]["sha256"] == sha, (look["name"], manifest["model"])
