//! The default look, embedded in the binaries that use it (the plugin and `mvgen`): its
//! generator, `models/default.onnx`, trained by `cargo xtask train-default` on music
//! videos directed from free music, and its enhancer, `models/default-enhancer.onnx`,
//! trained for that generator by `cargo xtask train-default-enhancer` (their configs and
//! evaluations are in `models/default.json`).
//!
//! ONNX Runtime loads models from files, so [`path`] writes the bytes once into the user's
//! cache folder, under a name that carries their hash: a new build with a new model never
//! reads an old copy, and a damaged copy is replaced.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The model file's bytes.
pub const ONNX: &[u8] = include_bytes!("../../models/default.onnx");
/// The enhancer's bytes.
pub const ENHANCER: &[u8] = include_bytes!("../../models/default-enhancer.onnx");
/// The look's description (`look.json`'s format, `mvgen-look`).
pub const LOOK: &str = include_str!("../../models/default.look.json");
/// A frame of the look, 128x128, for choosers.
pub const THUMBNAIL: &[u8] = include_bytes!("../../models/default-thumbnail.png");

/// The first 16 hex digits of the model's SHA-256.
pub fn short_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash16(ONNX)).clone()
}

fn hash16(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))[..16].to_string()
}

/// Where the model is cached: `$XDG_CACHE_HOME/mvgen`, `~/.cache/mvgen`, or the system's
/// temporary folder.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
        .join("mvgen")
}

/// The default model as a file, written on first use.
pub fn path() -> std::io::Result<PathBuf> {
    cached("default", "onnx", ONNX)
}

/// The default look's enhancer as a file, written on first use.
pub fn enhancer_path() -> std::io::Result<PathBuf> {
    cached("default-enhancer", "onnx", ENHANCER)
}

/// The look's thumbnail as a file, written on first use.
pub fn thumbnail_path() -> std::io::Result<PathBuf> {
    cached("default-thumbnail", "png", THUMBNAIL)
}

/// Whether `path` is the default model's cached file (by its name, which carries the
/// hash of its bytes, in the cache folder: cheap enough for an editor's every frame).
pub fn is_default(path: &Path) -> bool {
    path.parent() == Some(cache_dir().as_path())
        && path
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == format!("default-{}.onnx", short_hash()))
}

/// `bytes` in the cache folder under a name that carries their hash.
fn cached(name: &str, extension: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = cache_dir().join(format!("{name}-{}.{extension}", hash16(bytes)));
    let intact = std::fs::read(&path).is_ok_and(|b| b == bytes);
    if !intact {
        std::fs::create_dir_all(path.parent().expect("a cache folder"))?;
        let tmp = path.with_extension(format!("{extension}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cached_copy_is_the_embedded_model_and_is_repaired() {
        let dir = std::env::temp_dir().join(format!("mvgen-cache-test-{}", std::process::id()));
        // SAFETY (edition 2021 API): this crate's only test touching the environment.
        std::env::set_var("XDG_CACHE_HOME", &dir);
        let path = super::path().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), super::ONNX);
        assert!(super::is_default(&path));
        std::fs::write(&path, b"damaged").unwrap();
        assert_eq!(std::fs::read(super::path().unwrap()).unwrap(), super::ONNX);
        let enhancer = super::enhancer_path().unwrap();
        assert_eq!(std::fs::read(&enhancer).unwrap(), super::ENHANCER);
        assert!(!super::is_default(&enhancer));
        let thumbnail = super::thumbnail_path().unwrap();
        assert_eq!(std::fs::read(&thumbnail).unwrap(), super::THUMBNAIL);
        assert!(thumbnail.extension().is_some_and(|e| e == "png"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
