//! `mvgen train-enhancer` end to end on three short test songs, on the CPU: a short run
//! (150 steps) exports an enhancer that ONNX Runtime runs within 1e-4 of burn, that beats
//! a Lanczos filter on its own validation pairs in PSNR and SSIM, and that `mvgen render
//! --enhancer` then loads and uses, as it would any model with the enhancer's contract.

use std::path::Path;
use std::process::Command;

mod common;
use common::{mvgen, tmp};

/// Three 16 s songs: tones at different pitches, swelling at different rates, with
/// pulses, so the director's pictures differ between and within them.
fn songs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 1..=3 {
        let source = format!(
            "aevalsrc=0.3*sin(2*PI*{}*t)*(1+sin(2*PI*0.{}*t))\
             +0.2*sin(2*PI*{}*t)*lt(mod(t\\,0.{})\\,0.1):s=44100:d=16",
            110 * i,
            i + 2,
            1500 * i,
            i + 3
        );
        let ok = Command::new("ffmpeg")
            .args(["-y", "-v", "error", "-f", "lavfi", "-i", &source])
            .arg(dir.join(format!("s{i}.wav")))
            .status()
            .unwrap()
            .success();
        assert!(ok, "ffmpeg made no test song");
    }
}

#[test]
fn a_short_run_beats_lanczos_and_its_enhancer_renders() {
    let dir = tmp("enhancer-cli");
    let songs_dir = dir.join("songs");
    songs(&songs_dir);
    let videos = dir.join("videos");
    mvgen(&[
        "dataset",
        "direct",
        songs_dir.to_str().unwrap(),
        "-o",
        videos.to_str().unwrap(),
        "--calibrate",
    ]);
    let run = dir.join("run");
    let out = mvgen(&[
        "train-enhancer",
        "--songs",
        songs_dir.to_str().unwrap(),
        "--calibration",
        videos.join("director.json").to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--every",
        "1",
        "--from",
        "2",
        "--steps",
        "150",
        "--batch",
        "8",
        "--val-fraction",
        "0.34",
        "--threads",
        "2",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("ONNX Runtime matches burn within"), "{said}");
    let quality: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("quality.json")).unwrap()).unwrap();
    let v = &quality["validation"];
    let number = |key: &str| v[key].as_f64().unwrap();
    eprintln!("{v}");
    assert!(v["pairs"].as_u64().unwrap() >= 10, "{v}");
    assert!(
        number("enhancer_psnr_db") > number("lanczos_psnr_db"),
        "PSNR: {v}"
    );
    assert!(
        number("enhancer_ssim") > number("lanczos_ssim"),
        "SSIM: {v}"
    );
    for file in ["config.json", "checkpoint.bin", "enhancer.onnx"] {
        assert!(run.join(file).is_file(), "the run folder has {file}");
    }

    // The enhancer loads by its contract, like any foreign one, and says it was used.
    let song = songs_dir.join("s1.wav");
    let video = dir.join("enhanced.mp4");
    let out = mvgen(&[
        "render",
        song.to_str().unwrap(),
        "-o",
        video.to_str().unwrap(),
        "--size",
        "512",
        "--aspect",
        "1:1",
        "--enhancer",
        run.join("enhancer.onnx").to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("enlarged by the enhancer run"), "{said}");
}
