//! `mvgen dataset synth`: audio-reactive synthetic music videos, for tests, demos and the
//! default model. No real music videos can be downloaded here, and a known picture makes
//! learning measurable.
//!
//! The music (44.1 kHz, per video seed): a tempo between 90 and 150 bpm; a kick on every
//! beat and a hi-hat between beats; a three-note chord whose root changes every bar and
//! whose brightness (upper harmonics) and loudness drift slowly.
//!
//! The picture is a documented function of that music, frame by frame at time t:
//! - background hue follows the chord's brightness b(t) in [0, 1]: deep blue when dull,
//!   orange when bright (the spectral centroid rises with b);
//! - a centred disc whose radius follows the loudness L(t) in [0.3, 1];
//! - a white flash on every kick, fading over 80 ms.

use anyhow::{ensure, Context};
use std::f64::consts::TAU;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const RATE_HZ: u32 = 44_100;
pub const FPS: u32 = 25;
pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 180;

/// One synthetic song's parameters, derived from its seed.
pub struct Song {
    pub bpm: f64,
    seed: u64,
}

impl Song {
    pub fn new(seed: u64) -> Self {
        Self {
            bpm: 90.0 + (seed * 37 % 61) as f64,
            seed,
        }
    }

    fn beat_s(&self) -> f64 {
        60.0 / self.bpm
    }

    /// Chord brightness in [0, 1].
    pub fn brightness(&self, t: f64) -> f64 {
        0.5 + 0.5 * (TAU * t / (7.0 + (self.seed % 5) as f64) + self.seed as f64).sin()
    }

    /// Loudness in [0.3, 1].
    pub fn loudness(&self, t: f64) -> f64 {
        0.65 + 0.35 * (TAU * t / (11.0 + (self.seed % 3) as f64) + 1.3 * self.seed as f64).sin()
    }

    /// Seconds since the last kick.
    pub fn since_kick(&self, t: f64) -> f64 {
        t.rem_euclid(self.beat_s())
    }

    pub fn sample(&self, t: f64, noise: f64) -> f32 {
        let beat = self.beat_s();
        let bar = (t / (4.0 * beat)).floor() as i64;
        let root = 110.0
            * 2f64
                .powf([0, 5, 7, 3][(bar + self.seed as i64).rem_euclid(4) as usize] as f64 / 12.0);
        let b = self.brightness(t);
        let mut chord = 0.0;
        for ratio in [1.0, 1.26, 1.5] {
            for h in 1..=6 {
                let weight = if h == 1 {
                    1.0
                } else {
                    b.powi(h - 1) / h as f64
                };
                chord += weight * (TAU * root * 2.0 * ratio * h as f64 * t).sin();
            }
        }
        let k = self.since_kick(t);
        let kick = (TAU * (50.0 + 120.0 * (-k * 30.0).exp()) * k).sin() * (-k * 9.0).exp();
        let h = (t + beat / 2.0).rem_euclid(beat);
        let hat = noise * (-h * 70.0).exp();
        (self.loudness(t) * (0.08 * chord + 0.5 * kick + 0.12 * hat)) as f32
    }

    /// RGB24 frame at time t.
    pub fn frame(&self, t: f64) -> Vec<u8> {
        let b = self.brightness(t);
        let background = [(30.0 + 220.0 * b), (40.0 + 100.0 * b), (160.0 - 140.0 * b)];
        let flash = (1.0 - self.since_kick(t) / 0.08).max(0.0);
        let radius = self.loudness(t) * HEIGHT as f64 * 0.45;
        let (cx, cy) = (WIDTH as f64 / 2.0, HEIGHT as f64 / 2.0);
        let mut rgb = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let inside = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() < radius;
                for (c, &bg) in background.iter().enumerate() {
                    let base = if inside {
                        255.0 - bg * 0.5 + 20.0 * c as f64
                    } else {
                        bg
                    };
                    rgb.push((base + (255.0 - base) * flash).clamp(0.0, 255.0) as u8);
                }
            }
        }
        rgb
    }
}

/// Write `num_videos` synthetic music videos of `seconds` each into `out`.
pub fn write_videos(
    out: &Path,
    num_videos: usize,
    seconds: f64,
    first_seed: u64,
) -> anyhow::Result<()> {
    ensure!(
        seconds > 0.0 && num_videos > 0,
        "--videos and --seconds must be positive"
    );
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = indicatif::ProgressBar::new(num_videos as u64);
    for i in 0..num_videos {
        let seed = first_seed + i as u64;
        write_video(&out.join(format!("synth_{seed:03}.mp4")), seed, seconds)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

fn write_video(path: &Path, seed: u64, seconds: f64) -> anyhow::Result<()> {
    let song = Song::new(seed);
    let num_samples = (seconds * RATE_HZ as f64) as usize;
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let audio: Vec<u8> = (0..num_samples)
        .flat_map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = ((state >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0;
            song.sample(i as f64 / RATE_HZ as f64, noise).to_le_bytes()
        })
        .collect();
    let audio_path = path.with_extension("f32.tmp");
    std::fs::write(&audio_path, audio)?;
    let tmp = path.with_extension("mp4.tmp");
    let mut child = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &format!("{WIDTH}x{HEIGHT}"),
            "-r",
            &FPS.to_string(),
            "-i",
            "-",
        ])
        .args(["-f", "f32le", "-ar", &RATE_HZ.to_string(), "-ac", "1", "-i"])
        .arg(&audio_path)
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-threads", "1",
        ])
        .args(["-c:a", "aac", "-b:a", "192k", "-shortest", "-f", "mp4"])
        .arg(&tmp)
        .stdin(Stdio::piped())
        .spawn()
        .context("running ffmpeg (install ffmpeg)")?;
    {
        let mut stdin = child.stdin.take().context("ffmpeg stdin")?;
        for k in 0..(seconds * FPS as f64).round() as usize {
            stdin.write_all(&song.frame(k as f64 / FPS as f64))?;
        }
    }
    let status = child.wait()?;
    std::fs::remove_file(&audio_path).ok();
    ensure!(status.success(), "ffmpeg failed writing {}", path.display());
    std::fs::rename(&tmp, path)?;
    Ok(())
}
