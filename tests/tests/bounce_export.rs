//! Bounce export through the CLAP bundle in our clack-host test host: what an offline
//! render leaves in the export folder, where it starts, and what happens when the folder
//! cannot be written. (The 10 s = 300 frames case, and equality with `mvgen render`, run
//! in dawdreamer: tests/python/test_bounce_export.py.)
//!
//! The export folder and model come from environment variables read at activation, so
//! the tests take a lock around each run.

use mvgen_core::FrameClock;
use mvgen_tests::clap_host::{Host, Run};
use mvgen_tests::signals::{bit_exact, stereo};
use mvgen_tests::{clap_bundle, models, scratch};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static ENV: Mutex<()> = Mutex::new(());
const RATE: u32 = 44_100;

/// An offline run with `export_dir` and the ngf 8 test model; returns the audio out and
/// the tap's errors.
fn bounce(export_dir: &Path, run: &Run, input: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<String>) {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tap = scratch(&format!(
        "bounce-tap-{}",
        export_dir.file_name().unwrap().to_string_lossy()
    ));
    // SAFETY (edition 2021 API): every test here holds ENV while the environment changes.
    std::env::set_var("MVGEN_EXPORT_DIR", export_dir);
    std::env::set_var("MVGEN_MODEL", models().join("unet256_ngf8.onnx"));
    std::env::set_var("MVGEN_TAP_DIR", &tap);
    let mut host = Host::load(&clap_bundle()).expect("loading the bundle");
    let output = host.run(run, input).expect("processing");
    drop(host);
    for var in ["MVGEN_EXPORT_DIR", "MVGEN_MODEL", "MVGEN_TAP_DIR"] {
        std::env::remove_var(var);
    }
    (output, mvgen_tests::tap::errors(&tap))
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn bounces(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn wav(path: &Path) -> Vec<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).expect("audio.wav");
    let channels = reader.spec().channels as usize;
    let samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    (0..channels)
        .map(|c| samples.iter().skip(c).step_by(channels).copied().collect())
        .collect()
}

#[test]
fn a_bounce_that_starts_mid_song_exports_from_its_start_sample() {
    let root = scratch("bounce-mid-song");
    // 2.51 s: between frames 75 (110 250) and 76 (111 720) at 30 fps.
    let start = 110_691u64;
    let input = stereo(RATE, 2.0, 21);
    let run = Run {
        start_sample: start,
        ..Run::offline(RATE, &[512])
    };
    let (output, errors) = bounce(&root, &run, &input);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(errors.is_empty(), "{errors:?}");

    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(m["complete"], true, "{m}");
    assert_eq!(m["start_sample"], start);
    assert_eq!(m["sample_rate_hz"], RATE);
    assert_eq!(m["fps"], 30);
    assert_eq!(m["audio_samples"], input[0].len());
    let model = std::fs::read(models().join("unet256_ngf8.onnx")).unwrap();
    use sha2::Digest;
    assert_eq!(
        m["model"]["sha256"],
        format!("{:x}", sha2::Sha256::digest(&model))
    );
    assert_eq!(m["model"]["name"], "unet256_ngf8");

    // Every frame whose display interval lies inside [start, start + len), in order.
    let clock = FrameClock::new(mvgen_core::Fps::F30, RATE);
    let end = start as i64 + input[0].len() as i64;
    let first = clock.first_frame_at_or_after(start as i64);
    assert_eq!(first, 76);
    let expected: Vec<i64> = (first..)
        .take_while(|&k| clock.frame_position(k + 1) <= end)
        .collect();
    let frames = m["frames"].as_array().unwrap();
    assert_eq!(frames.len(), expected.len());
    for (i, (f, k)) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(f["frame"], *k);
        assert_eq!(f["sample"], clock.frame_position(*k));
        assert_eq!(f["file"], format!("frame-{i:06}.png"));
        let png = image::open(dirs[0].join(format!("frame-{i:06}.png"))).expect("frame PNG");
        assert_eq!((png.width(), png.height()), (256, 256));
    }
    assert!(
        bit_exact(&wav(&dirs[0].join("audio.wav")), &input),
        "audio.wav is not the bounced audio"
    );
    assert!(
        dirs[0]
            .join("bounce.mp4")
            .metadata()
            .is_ok_and(|m| m.len() > 0),
        "ffmpeg is on PATH in the tests, so the bounce has a video"
    );
}

#[test]
fn bounces_never_overwrite_each_other() {
    let root = scratch("bounce-twice");
    let input = stereo(RATE, 1.0, 5);
    bounce(&root, &Run::offline(RATE, &[1024]), &input);
    bounce(&root, &Run::offline(RATE, &[1024]), &input);
    let dirs = bounces(&root);
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["bounce-0001", "bounce-0002"]);
    for d in &dirs {
        assert_eq!(manifest(d)["complete"], true);
        assert_eq!(manifest(d)["frames"].as_array().unwrap().len(), 30);
    }
}

#[test]
fn an_unwritable_export_folder_leaves_the_audio_alone_and_says_so() {
    let scratch_dir = scratch("bounce-unwritable");
    // A folder inside a regular file cannot exist, even for root.
    let file = scratch_dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let input = stereo(RATE, 1.0, 9);
    let (output, errors) = bounce(&file.join("exports"), &Run::offline(RATE, &[512]), &input);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("bounce export: cannot create a folder")),
        "the error reaches the report: {errors:?}"
    );
}

#[test]
fn a_full_disk_leaves_the_audio_alone_and_the_manifest_incomplete() {
    let dir = scratch("bounce-full-disk");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96k", "tmpfs"])
        .arg(&dir)
        .output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root): {mounted:?}");
        return;
    }
    let input = stereo(RATE, 2.0, 13);
    let (output, errors) = bounce(&dir, &Run::offline(RATE, &[512]), &input);
    let m = bounces(&dir).first().map(|d| manifest(d));
    let _ = std::process::Command::new("umount").arg(&dir).status();
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        errors.iter().any(|e| e.contains("No space left")),
        "the error reaches the report: {errors:?}"
    );
    let m = m.expect("the manifest was written before the disk filled");
    assert_eq!(m["complete"], false, "{m}");
}
