//! What the bounce tests share: the environment a run reads (export folder, model, tap,
//! stall hooks), and readers of what a bounce leaves (manifest, folders, `audio.wav`,
//! PNGs, media durations), with the one definition of a complete bounce.

use crate::clap_host::{Host, Run};
use crate::signals::bit_exact;
use crate::{clap_bundle, models, scratch};
use mvgen_core::{Fps, FrameClock};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Held while a test sets the environment a plugin reads at activation.
pub static ENV: Mutex<()> = Mutex::new(());
/// The rate the bounce tests run at.
pub const RATE: u32 = 44_100;

/// Environment variables set for one run, under the lock; restored on drop.
pub struct Env {
    saved: Vec<(&'static str, Option<OsString>)>,
    _guard: MutexGuard<'static, ()>,
}

impl Env {
    /// The export folder, the ngf 8 test model and a tap folder (its index only), plus
    /// `extra`.
    pub fn new(export_dir: &Path, tap: &Path, extra: &[(&'static str, OsString)]) -> Self {
        let guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let mut vars: Vec<(&'static str, OsString)> = vec![
            ("MVGEN_EXPORT_DIR", export_dir.into()),
            ("MVGEN_MODEL", models().join("unet256_ngf8.onnx").into()),
            ("MVGEN_TAP_DIR", tap.into()),
            // Bounces read the tap's index, errors and counters, never its pixels (a
            // megabyte a window: gigabytes over the suite).
            ("MVGEN_TAP_INDEX_ONLY", "1".into()),
        ];
        vars.extend(extra.iter().cloned());
        let saved = vars
            .iter()
            .map(|(name, _)| (*name, std::env::var_os(name)))
            .collect();
        for (name, value) in &vars {
            // SAFETY (edition 2021 API): every test here holds ENV while it changes these.
            std::env::set_var(name, value);
        }
        Self {
            saved,
            _guard: guard,
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (name, value) in self.saved.iter().rev() {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}

/// An offline run with `export_dir` and the ngf 8 test model; returns the audio out and
/// the tap's errors.
pub fn bounce(export_dir: &Path, run: &Run, input: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<String>) {
    let tap = tap_dir(export_dir);
    let _env = Env::new(export_dir, &tap, &[]);
    let mut host = Host::load(&clap_bundle()).expect("loading the bundle");
    let output = host.run(run, input).expect("processing");
    drop(host);
    (output, crate::tap::errors(&tap))
}

pub fn tap_dir(export_dir: &Path) -> PathBuf {
    scratch(&format!(
        "bounce-tap-{}",
        export_dir.file_name().unwrap().to_string_lossy()
    ))
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

pub fn bounces(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

pub fn wav(path: &Path) -> Vec<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).expect("audio.wav");
    let channels = reader.spec().channels as usize;
    let samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    (0..channels)
        .map(|c| samples.iter().skip(c).step_by(channels).copied().collect())
        .collect()
}

/// `input[from..to]`, every channel.
pub fn slice(input: &[Vec<f32>], from: usize, to: usize) -> Vec<Vec<f32>> {
    input.iter().map(|c| c[from..to].to_vec()).collect()
}

/// The frames a bounce of timeline `[from, to)` holds: every frame whose display
/// interval lies inside, never before 0.
pub fn expected_frames(clock: &FrameClock, from: i64, to: i64) -> Vec<i64> {
    (clock.first_frame_at_or_after(from.max(0))..)
        .take_while(|&k| clock.frame_position(k + 1) <= to)
        .collect()
}

/// A complete bounce of timeline `[from, to)` of `input` (which starts at `input_start`)
/// at `fps`: every frame in order, and `audio.wav` exactly the audio under them.
pub fn assert_complete_bounce(
    dir: &Path,
    fps: Fps,
    input: &[Vec<f32>],
    input_start: i64,
    (from, to): (i64, i64),
) {
    let m = manifest(dir);
    assert_eq!(m["complete"], true, "{}: {m}", dir.display());
    assert_eq!(m["finished"], true, "{}", dir.display());
    assert_eq!(m["fps"], fps.per_second());
    assert_eq!(m["missing_frames"].as_array().map(Vec::len), Some(0));
    let clock = FrameClock::new(fps, RATE);
    let expected = expected_frames(&clock, from, to);
    let frames = m["frames"].as_array().unwrap();
    let numbers: Vec<i64> = frames
        .iter()
        .map(|f| f["frame"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, expected, "{}: frame numbers", dir.display());
    for (i, (f, k)) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(f["sample"], clock.frame_position(*k));
        assert_eq!(f["file"], format!("frame-{i:06}.png"));
    }
    let (first, end) = (
        clock.frame_position(expected[0]),
        clock.frame_position(expected[expected.len() - 1] + 1),
    );
    assert_eq!(m["start_sample"], first);
    assert_eq!(m["audio_samples"], end - first);
    let under = slice(
        input,
        (first - input_start) as usize,
        (end - input_start) as usize,
    );
    assert!(
        bit_exact(&wav(&dir.join("audio.wav")), &under),
        "{}: audio.wav is not the audio under the frames",
        dir.display()
    );
}

/// The PNG files of a bounce, in order.
pub fn pngs(dir: &Path) -> Vec<Vec<u8>> {
    let m = manifest(dir);
    m["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| std::fs::read(dir.join(f["file"].as_str().unwrap())).unwrap())
        .collect()
}

/// Seconds of a media file's first video or audio stream, by ffprobe.
pub fn duration(path: &Path, stream: &str) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream])
        .args(["-show_entries", "stream=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe (ffmpeg is a test dependency)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no {stream} duration in {}", path.display()))
}

/// A program on PATH.
pub fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Run `mvgen` with `args`; panics with its stderr if it fails, else returns the stderr.
pub fn mvgen(args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(crate::mvgen())
        .args(args)
        .output()
        .expect("running mvgen");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "mvgen {args:?}: {stderr}");
    stderr
}

/// A video's frames decoded to RGB, one after another, and its width and height.
pub fn decoded(video: &Path) -> (Vec<u8>, (u32, u32)) {
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(video)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout);
    let mut sides = text.trim().split(',').map(|v| v.parse::<u32>().unwrap());
    let size = (sides.next().unwrap(), sides.next().unwrap());
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "decoding {}", video.display());
    (out.stdout, size)
}

/// Peak signal-to-noise ratio of two equally long 8-bit buffers, in dB.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "different lengths");
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}
