//! Helpers shared by the command-line tests: a fresh scratch folder and a run of `mvgen`
//! that must succeed.

use std::path::PathBuf;
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
