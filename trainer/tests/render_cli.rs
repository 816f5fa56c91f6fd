//! `mvgen render` refuses bad input with a clear error, and renders with the embedded
//! default model when no model is named. (That its frames equal a bounce's is checked in
//! `tests/python/test_bounce_export.py`, against dawdreamer.)

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::{fails_saying, song, MVGEN};

#[test]
fn bad_songs_models_and_options_get_clear_errors() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.wav");
    std::fs::write(&text, "not audio").unwrap();
    let (text, missing) = (text.to_str().unwrap(), dir.join("missing.wav"));
    let missing = missing.to_str().unwrap();
    fails_saying(&["render", missing, "--model", "m.onnx"], "opening");
    fails_saying(
        &["render", text, "--model", "m.onnx"],
        "not an audio format",
    );
    fails_saying(
        &["render", text, "--model", "m.onnx", "--fps", "29"],
        "--fps must be one of",
    );
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render-missing-model");
    std::fs::create_dir_all(&dir).unwrap();
    let song = song(&dir, 2);
    fails_saying(
        &[
            "render",
            song.to_str().unwrap(),
            "--model",
            dir.join("none.onnx").to_str().unwrap(),
        ],
        "does not exist",
    );
}

#[test]
fn without_a_model_the_embedded_default_renders() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render-default");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let song = song(&dir, 2);
    let video = dir.join("video.mp4");
    let frames = dir.join("frames");
    let out = Command::new(MVGEN)
        .args([
            "render",
            song.to_str().unwrap(),
            "-o",
            video.to_str().unwrap(),
        ])
        .args([
            "--frames-dir",
            frames.to_str().unwrap(),
            "--execution",
            "cpu",
        ])
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mvgen default"),
        "the default model names itself"
    );
    assert_eq!(
        std::fs::read_dir(&frames).unwrap().count(),
        60,
        "2 s at 30 fps"
    );
    assert!(video.metadata().unwrap().len() > 0);
}
