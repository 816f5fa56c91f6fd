//! `cargo xtask`: project tasks that need more than cargo. Run bare for help.
//!
//! - `bundle <package> [--release]`: build the VST3 and CLAP bundles (nice-plug-xtask,
//!   names from `bundler.toml`) into `target/bundled/`, then copy ONNX Runtime and its
//!   WebGPU provider (unpacked by `scripts/setup.sh` into `.deps/onnxruntime/`) in beside
//!   the plugin binaries: `MVGen.vst3/Contents/x86_64-linux/` and `mvgen-libs/` next to
//!   `MVGen.clap`. The plugin finds them there at run time.
//!
//! - `train-default`: make the embedded default model from scratch: synthetic videos,
//!   a dataset, a training run, its evaluation and the ONNX export, into `models/`
//!   (`default.onnx`, `default.json`). Deterministic up to floating-point threading.
//!
//! Everything else is passed to nice-plug-xtask unchanged.

use std::path::{Path, PathBuf};

/// The libraries the plugin loads at run time.
const RUNTIME_LIBRARIES: [&str; 2] = [
    "libonnxruntime.so.1.31.1",
    "libonnxruntime_providers_webgpu.so",
];

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("train-default") {
        return train_default();
    }
    nice_plug_xtask::main_with_args("cargo xtask", args.clone())?;
    if args.first().map(String::as_str) == Some("bundle") {
        copy_runtime_libraries()?;
    }
    Ok(())
}

fn copy_runtime_libraries() -> nice_plug_xtask::Result<()> {
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
    eprintln!(
        "Copied ONNX Runtime into {}",
        destinations
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The default model's recipe. Small in both networks (ngf 16, ndf 16) so that it trains
/// on a laptop CPU in under half an hour and runs in real time on two cores.
const DEFAULT_VIDEOS: &str = "8";
const DEFAULT_SECONDS: &str = "45";
const DEFAULT_TRAIN: &[&str] = &[
    "--ngf",
    "16",
    "--ndf",
    "16",
    "--epochs",
    "2",
    "--decay-epochs",
    "2",
    "--snapshots",
    "2,4",
    "--seed",
    "1",
];

fn train_default() -> nice_plug_xtask::Result<()> {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| PathBuf::from("."));
    std::env::set_current_dir(&root)?;
    let work = PathBuf::from("target/default-model");
    let (videos, data, run) = (work.join("videos"), work.join("synth"), work.join("run"));
    let status = std::process::Command::new("cargo")
        .args(["build", "--release", "-p", "mvgen"])
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other("building mvgen failed").into());
    }
    let mvgen = |args: &[&str]| -> nice_plug_xtask::Result<()> {
        eprintln!("+ mvgen {}", args.join(" "));
        let ok = std::process::Command::new("target/release/mvgen")
            .args(args)
            .status()?
            .success();
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("mvgen {} failed", args.join(" "))).into())
        }
    };
    let p = |p: &Path| p.to_string_lossy().into_owned();
    if !videos.join("synth_107.mp4").exists() {
        mvgen(&[
            "dataset",
            "synth",
            "-o",
            &p(&videos),
            "--videos",
            DEFAULT_VIDEOS,
            "--seconds",
            DEFAULT_SECONDS,
            "--seed",
            "100",
        ])?;
    }
    mvgen(&[
        "dataset",
        "build",
        &p(&videos),
        "-o",
        &p(&data),
        "--every",
        "12",
        "--start",
        "2",
        "--end",
        DEFAULT_SECONDS,
        "--val-fraction",
        "0.25",
    ])?;
    let mut train = vec!["train".to_string(), p(&data), "--run".into(), p(&run)];
    train.extend(DEFAULT_TRAIN.iter().map(|s| s.to_string()));
    mvgen(&train.iter().map(String::as_str).collect::<Vec<_>>())?;
    mvgen(&["eval", &p(&run)])?;
    std::fs::create_dir_all("models")?;
    mvgen(&[
        "export",
        &p(&run),
        "-o",
        "models/default.onnx",
        "--name",
        "mvgen default (synthetic)",
    ])?;
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json"))?)?;
    let eval: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("eval.json"))?)?;
    let record = serde_json::json!({
        "command": "cargo xtask train-default",
        "config": config,
        "eval": eval,
    });
    std::fs::write("models/default.json", serde_json::to_vec_pretty(&record)?)?;
    std::fs::copy(run.join("losses.png"), "models/default-losses.png")?;
    eprintln!("models/default.onnx, models/default.json written");
    Ok(())
}
