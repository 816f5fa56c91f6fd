//! `mvgen train | eval | export` end to end on a small synthetic dataset, on the CPU.
//!
//! - A tiny run (ngf 8, 12 pairs, 3 epochs) on the default trainer (torch) lowers the
//!   training L1, writes every file of a run folder, says which trainer it used, and
//!   exports a model that ONNX Runtime runs within 1e-4 of burn.
//! - On both trainers, a run stopped after 2 epochs and resumed ends bit-identical to one
//!   that never stopped: same weights and the same optimiser state.
//! - The learning test: a short run on synthetic videos whose picture is a function of
//!   the music beats the mean-training-frame baseline on held-out videos by a margin.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;
use common::{mvgen, tmp, MVGEN};

/// Four 14 s synthetic videos, every 4th frame from 2 s to 14 s: 75 pairs per video,
/// one video held out.
fn dataset() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tmp("train-data");
        let videos = root.join("videos");
        let data = root.join("synth");
        let (v, d) = (videos.to_str().unwrap(), data.to_str().unwrap());
        mvgen(&[
            "dataset",
            "synth",
            "-o",
            v,
            "--videos",
            "4",
            "--seconds",
            "14",
            "--seed",
            "3",
        ]);
        mvgen(&[
            "dataset",
            "build",
            v,
            "-o",
            d,
            "--every",
            "4",
            "--start",
            "2",
            "--end",
            "14",
            "--val-fraction",
            "0.25",
        ]);
        data
    })
}

fn train(run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        dataset().to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--ngf",
        "8",
        "--ndf",
        "8",
        "--max-pairs",
        "12",
        "--epochs",
        "2",
        "--decay-epochs",
        "1",
        "--snapshots",
        "2",
        "--sample-pairs",
        "2",
        "--seed",
        "7",
        "--threads",
        "2",
    ];
    args.extend_from_slice(extra);
    mvgen(&args)
}

/// The CPU threads every test run trains with.
const TRAIN_THREADS: u64 = 2;

/// Mean generator L1 per epoch from `losses.csv`.
fn epoch_l1(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("losses.csv")).unwrap();
    let mut sums: Vec<(f64, usize)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let epoch: usize = f[0].parse().unwrap();
        if sums.len() < epoch {
            sums.resize(epoch, (0.0, 0));
        }
        sums[epoch - 1].0 += f[4].parse::<f64>().unwrap();
        sums[epoch - 1].1 += 1;
    }
    sums.iter().map(|(s, n)| s / *n as f64).collect()
}

#[test]
fn a_tiny_run_learns_writes_its_folder_and_exports() {
    let run = tmp("tiny-run");
    let out = train(&run, &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("training on the torch trainer (libtorch) on the CPU"),
        "{said}"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["backend"], "torch");
    assert_eq!(
        config["threads"], TRAIN_THREADS,
        "the run records the threads its results depend on"
    );
    for file in [
        "config.json",
        "checkpoint.bin",
        "losses.csv",
        "losses.png",
        "snapshots/epoch-0002.bin",
        "snapshots/epoch-0003.bin",
        "samples/epoch-0001.png",
        "samples/epoch-0003.png",
    ] {
        assert!(run.join(file).is_file(), "{file} is missing");
    }
    let grid = image::open(run.join("samples/epoch-0003.png")).unwrap();
    assert_eq!(
        (grid.width(), grid.height()),
        (768, 512),
        "2 rows of input | generated | real"
    );
    let l1 = epoch_l1(&run);
    assert_eq!(l1.len(), 3);
    assert_eq!(
        std::fs::read_to_string(run.join("losses.csv"))
            .unwrap()
            .lines()
            .count(),
        1 + 3 * 12,
        "one row per step"
    );
    assert!(
        l1[2] < l1[0],
        "training L1 went from {} to {}",
        l1[0],
        l1[2]
    );

    let model = run.join("tiny.onnx");
    let out = mvgen(&[
        "export",
        run.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--name",
        "tiny",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("ONNX Runtime matches burn within"), "{said}");
    let info = mvgen_core::model::inspect(&model).unwrap();
    assert_eq!(info.ngf, Some(8));
    assert_eq!(info.epochs, Some(3));
    assert_eq!(info.name.as_deref(), Some("tiny"));
    assert_eq!(info.dataset.as_deref(), Some("synth"));

    let out = mvgen(&["eval", run.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("mean training frame") && table.contains("epoch 3"),
        "{table}"
    );
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["snapshots"].as_array().unwrap().len(), 2);
    assert!(eval["val_pairs"].as_u64().unwrap() > 0);
}

#[test]
fn a_resumed_torch_run_continues_with_identical_state() {
    resume_is_bit_identical("torch");
}

#[test]
fn a_resumed_burn_run_continues_with_identical_state() {
    resume_is_bit_identical("burn");
}

fn resume_is_bit_identical(backend: &str) {
    let straight = tmp(&format!("resume-straight-{backend}"));
    train(&straight, &["--backend", backend]);
    let split = tmp(&format!("resume-split-{backend}"));
    train(&split, &["--backend", backend, "--stop-after", "2"]);
    assert!(!split.join("snapshots/epoch-0003.bin").exists());
    // Training the same run folder again resumes; its config.json wins over options.
    let out = mvgen(&[
        "train",
        dataset().to_str().unwrap(),
        "--run",
        split.to_str().unwrap(),
        "--ngf",
        "16",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("resuming"), "{said}");
    assert!(
        said.contains(&format!("the {backend} trainer")),
        "resumed on its own trainer: {said}"
    );
    // The exported weights carry no parameter ids, unlike burn's records: compare those.
    let export = |run: &Path| {
        let out = run.join("g.onnx");
        mvgen(&[
            "export",
            run.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--name",
            "g",
        ]);
        std::fs::read(out).unwrap()
    };
    assert!(
        export(&straight) == export(&split),
        "the generator after a resume differs from an uninterrupted run"
    );
    // Every step's losses depend on both networks; equal losses after the resume mean
    // both networks and both Adam states came back exactly.
    let losses = |run: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(run.join("losses.csv")).unwrap();
        // Drop the last column, the step's wall time.
        text.lines()
            .map(|l| l[..l.rfind(',').unwrap()].to_string())
            .collect()
    };
    assert_eq!(losses(&straight), losses(&split));
}

/// `--init-from` starts from another run's networks exactly: at learning rate 0 the new
/// run's generator is the source's, bit for bit. Networks of another size, or a folder
/// that is no run, are refused before anything is written.
#[test]
fn a_run_can_start_from_another_runs_networks() {
    let source = tmp("init-source");
    train(&source, &[]);
    let from = tmp("init-from");
    let out = train(
        &from,
        &["--init-from", source.to_str().unwrap(), "--lr", "0"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("starting from the networks of"), "{said}");
    assert!(said.contains("after its epoch 3"), "{said}");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["init_from"].as_str().map(PathBuf::from),
        Some(source.canonicalize().unwrap())
    );
    let export = |run: &Path| {
        let out = run.join("g.onnx");
        let (run, out_arg) = (run.to_str().unwrap(), out.to_str().unwrap());
        mvgen(&["export", run, "-o", out_arg, "--name", "g"]);
        std::fs::read(out).unwrap()
    };
    assert!(
        export(&source) == export(&from),
        "a run at learning rate 0 changed the networks it started from"
    );

    let refused = tmp("init-refused");
    for (init, expected) in [
        (source.to_str().unwrap(), "its networks are ngf 8 / ndf 8"),
        (refused.to_str().unwrap(), "is not a training run"),
    ] {
        let out = Command::new(MVGEN)
            .args(["train", dataset().to_str().unwrap(), "--run"])
            .arg(refused.join("run"))
            .args(["--ngf", "16", "--ndf", "8", "--init-from", init])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(expected), "{said}");
        assert!(
            !refused.join("run/config.json").exists(),
            "nothing was started"
        );
    }
}

#[test]
fn a_bad_run_folder_or_dataset_is_a_clear_error() {
    let empty = tmp("no-dataset");
    let out = Command::new(MVGEN)
        .args([
            "train",
            empty.to_str().unwrap(),
            "--run",
            empty.join("run").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no pairs in train/"));
    let out = Command::new(MVGEN)
        .args(["export", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a training run"));
    // Refused up front, before an epoch is spent: a grid of no pairs cannot be drawn.
    let run = tmp("no-sample-pairs");
    let out = Command::new(MVGEN)
        .args(["train", dataset().to_str().unwrap(), "--run"])
        .arg(&run)
        .args(["--sample-pairs", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--sample-pairs must be at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!run.join("config.json").exists(), "nothing was started");
    let out = Command::new(MVGEN)
        .args(["train", dataset().to_str().unwrap(), "--run"])
        .arg(&run)
        .args(["--backend", "tensorflow"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown trainer \"tensorflow\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!run.join("config.json").exists(), "nothing was started");
    let damaged = tmp("damaged-run");
    std::fs::write(damaged.join("config.json"), b"{}").unwrap();
    std::fs::write(damaged.join("checkpoint.bin"), b"MVGENCK1garbage").unwrap();
    let out = Command::new(MVGEN)
        .args(["export", damaged.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// The margin a short run must beat the mean frame by, in L1 (0..1 per value). Measured
/// on this recipe with the torch trainer (2026-11-29): 0.148 against the mean frame's
/// 0.221. In its first 675 steps (the recipe's first three epochs) the run measured 0.213
/// on the torch trainer and 0.205 on burn's: that early the adversarial term makes the
/// result depend on the floating-point paths, so the run goes on to 1 350 steps (about
/// a minute and a half here) and lets the L1 term lead (weight 1 000).
const LEARNING_MARGIN: f64 = 0.01;

#[test]
fn a_short_run_beats_the_mean_frame_on_held_out_videos() {
    let run = tmp("learning-run");
    mvgen(&[
        "train",
        dataset().to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        // A weak discriminator, a quick rate and a heavy L1 term: in 1 350 steps it leads.
        "--ngf",
        "8",
        "--ndf",
        "4",
        "--lambda-l1",
        "1000",
        "--epochs",
        "2",
        "--decay-epochs",
        "4",
        "--lr",
        "5e-4",
        "--snapshots",
        "6",
        "--sample-pairs",
        "2",
    ]);
    mvgen(&["eval", run.to_str().unwrap()]);
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    let baseline = eval["baseline_mean_frame"]["l1"].as_f64().unwrap();
    let ours = eval["snapshots"][0]["l1"].as_f64().unwrap();
    assert!(
        ours + LEARNING_MARGIN < baseline,
        "L1 {ours:.4} does not beat the mean frame's {baseline:.4} by {LEARNING_MARGIN}"
    );
}
