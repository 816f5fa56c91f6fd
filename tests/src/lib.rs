//! Shared pieces of the end-to-end tests: a CLAP host, seeded test signals, the window
//! tap reader and paths to the built bundles and the test venv.
//!
//! The tests in `tests/` expect `scripts/test.sh` to have built the debug bundles and the
//! Python venv; each says what is missing when it is not there, and fails.

pub mod bounce;
pub mod clap_host;
pub mod editor_host;
pub mod obs;
pub mod signals;
pub mod stage_host;
pub mod tap;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The bundled CLAP plugin the tests load: `MVGEN_CLAP`, or the debug bundle.
pub fn clap_bundle() -> PathBuf {
    let path = std::env::var_os("MVGEN_CLAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/bundled/MVGen.clap"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask bundle mvgen-plugin` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The `mvgen` command line of this build (`cargo test --workspace` builds it).
pub fn mvgen() -> PathBuf {
    let path = root().join("target/debug/mvgen");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p mvgen` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The test venv's Python, with scipy, pedalboard and dawdreamer.
pub fn python() -> PathBuf {
    let path = std::env::var_os("MVGEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The test models (`tests/python/make_models.py`), built once per test process into
/// `target/test-models/`, or the folder `MVGEN_TEST_MODELS` names (a machine without the
/// test venv: scripts/device/ brings them built).
pub fn models() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            std::env::var_os("MVGEN_TEST_MODELS")
                .map(PathBuf::from)
                .unwrap_or_else(|| make_models("target/test-models", false))
        })
        .clone()
}

/// The test models plus `unet256_ngf{16,32,64}.onnx` for the benchmarks, or the folder
/// `MVGEN_BENCH_MODELS` names.
pub fn bench_models() -> PathBuf {
    std::env::var_os("MVGEN_BENCH_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| make_models("target/bench-models", true))
}

fn make_models(folder: &str, bench: bool) -> PathBuf {
    let dir = root().join(folder);
    let mut command = std::process::Command::new(python());
    command
        .arg(root().join("tests/python/make_models.py"))
        .arg(&dir);
    if bench && !dir.join("unet256_ngf64.onnx").exists() {
        command.arg("--bench");
    }
    let status = command.status().expect("running make_models.py");
    assert!(status.success(), "make_models.py failed");
    dir
}

/// A fresh scratch folder under the target dir, removed first if it exists.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// A fresh, empty folder at `path` that only the user can enter (mode 0700), as the live
/// feed's folder must be.
pub fn private_dir(path: &Path) -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::remove_dir_all(path);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.to_path_buf()
}
