//! `cargo xtask`: project tasks that need more than cargo. Run bare for help.
//!
//! - `bundle <package> [--release]`: build the VST3 and CLAP bundles (nice-plug-xtask,
//!   names from `bundler.toml`) into `target/bundled/`, then copy ONNX Runtime and its
//!   WebGPU provider (unpacked by `scripts/setup.sh` into `.deps/onnxruntime/`) in beside
//!   the plugin binaries: `MVGen.vst3/Contents/x86_64-linux/` and `mvgen-libs/` next to
//!   `MVGen.clap`. The plugin finds them there at run time. The `mvgen` program of the
//!   same profile goes in beside them when it is built (the editor's "Open stage" starts
//!   `mvgen stage` from there). The shipped looks (`looks/`) go in as well:
//!   `MVGen.vst3/Contents/Resources/looks/` and `mvgen-libs/looks/`.
//!
//! - `train-default`: make the embedded default model from scratch: free music from
//!   Debian's archive, videos directed by it, a dataset, a training run, its evaluation
//!   on held-out songs and the ONNX export, into `models/` (`default_model.rs`).
//!
//! - `train-default-enhancer`: make the default look's enhancer for that model: the same
//!   music and the director's calibration, `mvgen train-enhancer`, its quality on the
//!   held-out songs, into `models/default-enhancer.onnx` and `models/default.json`.
//!
//! - `train-looks [NAME...]`: make the shipped looks with `mvgen look new` from free
//!   music and artwork in Debian packages, into `looks/` (`looks.rs`); with `--enhancers`,
//!   teach only their enhancers again, for the generators they ship; `looks-gallery`:
//!   `docs/looks.png`, every look on the same held-out song.
//!
//! Everything else is passed to nice-plug-xtask unchanged.

mod default_model;
mod looks;

use std::path::{Path, PathBuf};

/// The libraries the plugin loads at run time.
const RUNTIME_LIBRARIES: [&str; 2] = [
    "libonnxruntime.so.1.31.1",
    "libonnxruntime_providers_webgpu.so",
];

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("train-default") => return default_model::train_default(),
        Some("train-default-enhancer") => return default_model::train_default_enhancer(),
        Some("train-looks") => return looks::train_looks(&args[1..]),
        Some("looks-gallery") => return looks::gallery(),
        _ => {}
    }
    nice_plug_xtask::main_with_args("cargo xtask", args.clone())?;
    if args.first().map(String::as_str) == Some("bundle") {
        let release = args.iter().any(|a| a == "--release");
        copy_runtime_libraries(release)?;
    }
    Ok(())
}

fn copy_runtime_libraries(release: bool) -> nice_plug_xtask::Result<()> {
    // nice-plug-xtask has already moved us to the workspace root.
    let source = Path::new(".deps/onnxruntime");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let bundled = target.join("bundled");
    let mut destinations = vec![bundled.join("mvgen-libs")];
    for entry in std::fs::read_dir(&bundled)?.flatten() {
        let contents = entry.path().join("Contents/x86_64-linux");
        if entry.path().extension().is_some_and(|e| e == "vst3") && contents.is_dir() {
            destinations.push(contents);
        }
    }
    for library in RUNTIME_LIBRARIES {
        let from = source.join(library);
        if !from.is_file() {
            eprintln!("warning: {} is missing (run scripts/setup.sh); the bundles will run without a generator", from.display());
            continue;
        }
        for dir in &destinations {
            std::fs::create_dir_all(dir)?;
            std::fs::copy(&from, dir.join(library))?;
        }
    }
    // The shipped looks: where mvgen-look finds them beside each binary.
    let looks = Path::new("looks");
    if looks.is_dir() {
        for dir in &destinations {
            let into = if dir.ends_with("x86_64-linux") {
                dir.join("../Resources/looks")
            } else {
                dir.join("looks")
            };
            let _ = std::fs::remove_dir_all(&into);
            copy_folder(looks, &into)?;
        }
    }
    let program = target
        .join(if release { "release" } else { "debug" })
        .join("mvgen");
    if program.is_file() {
        for dir in &destinations {
            std::fs::copy(&program, dir.join("mvgen"))?;
        }
    } else {
        eprintln!(
            "note: {} is not built, so the bundles hold no mvgen for \"Open stage\" (build the mvgen package, then bundle again)",
            program.display()
        );
    }
    eprintln!(
        "Copied ONNX Runtime (and mvgen where built) into {}",
        destinations
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Copy the folder `from` and everything in it to `to`.
fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)?.flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_folder(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
