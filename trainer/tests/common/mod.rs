//! Helpers shared by the command-line tests: a fresh scratch folder, a test song, and
//! runs of `mvgen` that must succeed or must fail saying why.

#![allow(dead_code)] // Each test file uses some of these.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const MVGEN: &str = env!("CARGO_BIN_EXE_mvgen");

/// A fresh folder under cargo's per-target temporary directory.
pub fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `mvgen` with `args`; panics with its stderr if it fails.
pub fn mvgen(args: &[&str]) -> std::process::Output {
    let out = Command::new(MVGEN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "mvgen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `mvgen` with `args`; it must fail with one line that contains `expected`.
pub fn fails_saying(args: &[&str], expected: &str) {
    fails_saying_in(Command::new(MVGEN).args(args), expected);
}

/// Run `command` (an `mvgen` command line); it must fail with one line that contains
/// `expected`.
pub fn fails_saying_in(command: &mut Command, expected: &str) {
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{command:?} should fail");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains(expected),
        "{command:?}: {stderr:?} should end with one line saying {expected:?}"
    );
}

/// A test song of `seconds` made by ffmpeg at 44.1 kHz: a tone and a pulsing high one,
/// so that the pictures change.
pub fn song(dir: &Path, seconds: u32) -> PathBuf {
    let song = dir.join("song.wav");
    let ok = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "aevalsrc=0.3*sin(2*PI*220*t)+0.2*sin(2*PI*3000*t)*lt(mod(t\\,0.5)\\,0.1)\
             :s=44100:d={seconds}"
        ))
        .arg(&song)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made no test song");
    song
}
