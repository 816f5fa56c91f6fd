//! `mvgen render` refuses bad input with a clear error. (That its frames equal a bounce's
//! is checked in `tests/python/test_render_equals_bounce.py`, against dawdreamer.)

use std::path::PathBuf;
use std::process::Command;

const MVGEN: &str = env!("CARGO_BIN_EXE_mvgen");

fn fails_saying(args: &[&str], expected: &str) {
    let out = Command::new(MVGEN).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "mvgen {args:?} should fail");
    assert!(
        stderr.contains(expected),
        "mvgen {args:?}: {stderr:?} should say {expected:?}"
    );
}

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
    fails_saying(&["render", text], "--model is required");
    fails_saying(
        &["render", text, "--model", "m.onnx", "--fps", "29"],
        "--fps must be one of",
    );
}
