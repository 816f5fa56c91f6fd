//! `mvgen eval`: how close each snapshot's frames come to the held-out real frames, beside
//! the baseline a generator must beat to be reacting to music at all: the mean training
//! frame, the best single picture that ignores the audio (under L1, nearly).
//!
//! Metrics on 8-bit RGB, as a viewer sees them:
//! - L1: mean absolute difference, in [0, 1] (255 = 1);
//! - SSIM: Wang et al. (2004), 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, over
//!   the windows that fit inside the image, averaged over R, G and B.

use crate::train::net::Generator;
use crate::train::{self, Example, TrainConfig};
use anyhow::{ensure, Context};
use burn::tensor::Device;
use mvgen_core::spectrogram::SIZE;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Score {
    pub l1: f64,
    pub ssim: f64,
}

#[derive(Debug, Serialize)]
pub struct SnapshotScore {
    pub epoch: usize,
    #[serde(flatten)]
    pub score: Score,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub val_pairs: usize,
    pub baseline_mean_frame: Score,
    pub snapshots: Vec<SnapshotScore>,
    /// How each snapshot's video of songs it never saw reacts (`--songs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub songs: Vec<SongReaction>,
}

#[derive(Debug, Serialize)]
pub struct SongReaction {
    pub epoch: usize,
    pub song: String,
    #[serde(flatten)]
    pub reactivity: crate::reactivity::Reactivity,
}

pub fn l1(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y) as u64).sum();
    sum as f64 / (a.len() as f64 * 255.0)
}

const SSIM_RADIUS: usize = 5;
const SSIM_SIGMA: f64 = 1.5;

fn gaussian() -> [f64; 2 * SSIM_RADIUS + 1] {
    let mut k = [0.0; 2 * SSIM_RADIUS + 1];
    for (i, v) in k.iter_mut().enumerate() {
        let d = i as f64 - SSIM_RADIUS as f64;
        *v = (-d * d / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp();
    }
    let sum: f64 = k.iter().sum();
    k.map(|v| v / sum)
}

/// Separable "valid" Gaussian filter of a `side`x`side` plane.
fn blur(plane: &[f64], side: usize) -> Vec<f64> {
    let k = gaussian();
    let out = side - 2 * SSIM_RADIUS;
    let mut rows = vec![0.0; side * out];
    for y in 0..side {
        for x in 0..out {
            rows[y * out + x] = (0..k.len()).map(|i| k[i] * plane[y * side + x + i]).sum();
        }
    }
    let mut both = vec![0.0; out * out];
    for y in 0..out {
        for x in 0..out {
            both[y * out + x] = (0..k.len()).map(|i| k[i] * rows[(y + i) * out + x]).sum();
        }
    }
    both
}

/// Mean SSIM of two interleaved RGB 256x256 images.
pub fn ssim(a: &[u8], b: &[u8]) -> f64 {
    ssim_at(a, b, SIZE)
}

/// Mean SSIM of two interleaved RGB `side`x`side` images (scikit-image's, with a
/// Gaussian window of sigma 1.5).
pub fn ssim_at(a: &[u8], b: &[u8], side: usize) -> f64 {
    let blur = |plane: &[f64]| blur(plane, side);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let n = side * side;
    let mut total = 0.0;
    for c in 0..3 {
        let x: Vec<f64> = (0..n).map(|i| a[3 * i + c] as f64).collect();
        let y: Vec<f64> = (0..n).map(|i| b[3 * i + c] as f64).collect();
        let prod = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<_>>();
        let (mx, my) = (blur(&x), blur(&y));
        let (sxx, syy, sxy) = (
            blur(&prod(&x, &x)),
            blur(&prod(&y, &y)),
            blur(&prod(&x, &y)),
        );
        let map_mean = (0..mx.len())
            .map(|i| {
                let (vx, vy) = (sxx[i] - mx[i] * mx[i], syy[i] - my[i] * my[i]);
                let cov = sxy[i] - mx[i] * my[i];
                ((2.0 * mx[i] * my[i] + c1) * (2.0 * cov + c2))
                    / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
            })
            .sum::<f64>()
            / mx.len() as f64;
        total += map_mean;
    }
    total / 3.0
}

/// Mean L1 and SSIM of `frames` against the real frames of `val`.
pub fn score(frames: &[Vec<u8>], val: &[Example]) -> Score {
    use rayon::prelude::*;
    let per: Vec<(f64, f64)> = frames
        .par_iter()
        .zip(val)
        .map(|(f, e)| (l1(f, &e.rgb), ssim(f, &e.rgb)))
        .collect();
    let n = per.len().max(1) as f64;
    Score {
        l1: per.iter().map(|p| p.0).sum::<f64>() / n,
        ssim: per.iter().map(|p| p.1).sum::<f64>() / n,
    }
}

/// The per-pixel mean of the training frames.
pub fn mean_frame(train: &[Example]) -> Vec<u8> {
    let len = train[0].rgb.len();
    let mut sum = vec![0u64; len];
    for e in train {
        for (s, &v) in sum.iter_mut().zip(&e.rgb) {
            *s += v as u64;
        }
    }
    let n = train.len() as u64;
    sum.iter().map(|&s| ((s + n / 2) / n) as u8).collect()
}

/// Snapshot epochs present in a run, ascending.
pub fn snapshots(run: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(run.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("epoch-")?
                .strip_suffix(".bin")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    epochs
}

pub fn load_snapshot(
    run: &Path,
    cfg: &TrainConfig,
    epoch: usize,
    device: &Device,
) -> anyhow::Result<Generator> {
    let path = train::snapshot_path(run, epoch);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    crate::train::checkpoint::load_module(Generator::new(cfg.ngf, 0, device), bytes)
        .with_context(|| format!("loading {}", path.display()))
}

pub fn evaluate(run: &Path) -> anyhow::Result<Report> {
    let cfg = train::read_config(run)?;
    let epochs = snapshots(run);
    ensure!(!epochs.is_empty(), "{} has no snapshots yet", run.display());
    let train_set = train::load_split(&cfg.dataset, "train", cfg.max_pairs)?;
    let val = train::load_split(&cfg.dataset, "val", None)?;
    ensure!(
        !train_set.is_empty() && !val.is_empty(),
        "{} needs pairs in both train/ and val/",
        cfg.dataset.display()
    );
    let mean = mean_frame(&train_set);
    let baseline = score(&vec![mean; val.len()], &val);
    let device = Device::flex();
    let refs: Vec<&Example> = val.iter().collect();
    let mut snapshots = Vec::new();
    for epoch in epochs {
        let g = load_snapshot(run, &cfg, epoch, &device)?;
        let frames = train::frames(&g, &refs, &device);
        snapshots.push(SnapshotScore {
            epoch,
            score: score(&frames, &val),
        });
    }
    Ok(Report {
        val_pairs: val.len(),
        baseline_mean_frame: baseline,
        snapshots,
        songs: Vec::new(),
    })
}

/// How each snapshot reacts to `songs`: its export, run as the plugin runs it (ONNX
/// Runtime, CPU), over `excerpt` (from, seconds) of each song at 30 fps.
pub fn song_reactions(
    run: &Path,
    songs: &[std::path::PathBuf],
    excerpt: (f64, f64),
) -> anyhow::Result<Vec<SongReaction>> {
    let cfg = train::read_config(run)?;
    let device = Device::flex();
    let songs = crate::dataset::director::collect_songs(songs)?;
    let model = std::env::temp_dir().join(format!("mvgen-eval-{}.onnx", std::process::id()));
    let mut out = Vec::new();
    for epoch in snapshots(run) {
        let g = load_snapshot(run, &cfg, epoch, &device)?;
        let info = crate::train::export::ExportInfo {
            name: format!("epoch {epoch}"),
            epochs: epoch,
            dataset: cfg.dataset_name.clone(),
        };
        crate::files::write_atomic(&model, &crate::train::export::to_onnx(&g, &info))?;
        let mut generator = mvgen_runtime::Generator::load(
            &model,
            &mvgen_runtime::RuntimeConfig {
                execution: mvgen_runtime::Execution::Cpu,
                cpu_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            },
        )?;
        for song in &songs {
            let reactivity =
                crate::render::reactivity(song, &mut generator, mvgen_core::Fps::F30, excerpt)
                    .with_context(|| format!("measuring {}", song.display()))?;
            out.push(SongReaction {
                epoch,
                song: song
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
                reactivity,
            });
        }
    }
    let _ = std::fs::remove_file(&model);
    Ok(out)
}

pub fn print(report: &Report) {
    println!("{} held-out pairs", report.val_pairs);
    println!("{:<22} {:>8} {:>8}", "", "L1", "SSIM");
    let b = report.baseline_mean_frame;
    println!(
        "{:<22} {:>8.4} {:>8.4}",
        "mean training frame", b.l1, b.ssim
    );
    for s in &report.snapshots {
        println!(
            "{:<22} {:>8.4} {:>8.4}",
            format!("epoch {}", s.epoch),
            s.score.l1,
            s.score.ssim
        );
    }
    if !report.songs.is_empty() {
        println!("\nreacting to songs it never saw (levels of 255; coupling -1..1)");
        println!(
            "{:<10} {:<28} {:>7} {:>8} {:>9}",
            "", "song", "motion", "variety", "coupling"
        );
        for s in &report.songs {
            println!(
                "{:<10} {:<28} {:>7.1} {:>8.1} {:>9.2}",
                format!("epoch {}", s.epoch),
                s.song,
                s.reactivity.motion,
                s.reactivity.variety,
                s.reactivity.coupling
            );
        }
    }
}

/// `mvgen eval`: print the table and keep it as `eval.json` in the run.
pub fn command(a: &crate::cli::EvalArgs) -> anyhow::Result<()> {
    let mut report = evaluate(&a.run)?;
    if !a.songs.is_empty() {
        report.songs = song_reactions(&a.run, &a.songs, (a.from, a.seconds))?;
    }
    print(&report);
    crate::files::write_atomic(
        &a.run.join("eval.json"),
        &serde_json::to_vec_pretty(&report)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(f: impl Fn(usize) -> u8) -> Vec<u8> {
        (0..3 * SIZE * SIZE).map(f).collect()
    }

    #[test]
    fn identical_images_score_perfectly() {
        let a = image(|i| (i * 7 % 251) as u8);
        assert_eq!(l1(&a, &a), 0.0);
        assert!((ssim(&a, &a) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn metrics_rank_a_closer_image_higher() {
        let a = image(|i| ((i / 3) % 256) as u8);
        let near = image(|i| (((i / 3) % 256) as u8).saturating_add(3));
        let far = image(|i| ((i * 13) % 256) as u8);
        assert!((l1(&a, &near) - 3.0 / 255.0).abs() < 0.01);
        assert!(l1(&a, &near) < l1(&a, &far));
        assert!(ssim(&a, &near) > 0.9 && ssim(&a, &far) < 0.2);
    }

    /// Our SSIM against an independent reference: scikit-image's `structural_similarity`
    /// with Wang et al.'s settings (11x11 Gaussian, sigma 1.5, population covariance, data
    /// range 255, channels averaged), in the test venv, on seeded image pairs from alike to
    /// unrelated.
    #[test]
    fn ssim_equals_scikit_image() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup.sh",
            python.display()
        );
        let dir = std::env::temp_dir().join(format!("mvgen-ssim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut state = 7u64;
        let mut noise = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as i32
        };
        let random = |noise: &mut dyn FnMut() -> i32| -> Vec<u8> {
            (0..3 * SIZE * SIZE)
                .map(|_| (noise() & 255) as u8)
                .collect()
        };
        let smooth = image(|i| ((i / 3 % SIZE + i / 3 / SIZE) / 2 + 20 * (i % 3)) as u8);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (
                smooth.clone(),
                smooth.iter().map(|&v| v.saturating_add(9)).collect(),
            ),
            (
                smooth.clone(),
                smooth
                    .iter()
                    .map(|&v| (v as i32 + noise() / 8 - 16).clamp(0, 255) as u8)
                    .collect(),
            ),
            (
                image(|i| ((i / 3) % 256) as u8),
                image(|i| ((i * 13) % 256) as u8),
            ),
            (random(&mut noise), random(&mut noise)),
        ];
        for (n, (a, b)) in pairs.iter().enumerate() {
            std::fs::write(dir.join(format!("{n}a.rgb")), a).unwrap();
            std::fs::write(dir.join(format!("{n}b.rgb")), b).unwrap();
        }
        let script = format!(
            "import numpy as np, sys\n\
             from skimage.metrics import structural_similarity as ssim\n\
             d = sys.argv[1]\n\
             for n in range({}):\n\
             \x20   a, b = (np.fromfile(f'{{d}}/{{n}}{{s}}.rgb', np.uint8).reshape({SIZE}, {SIZE}, 3) for s in 'ab')\n\
             \x20   print(ssim(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1))\n",
            pairs.len()
        );
        let out = std::process::Command::new(&python)
            .args(["-c", &script])
            .arg(&dir)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reference: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        assert_eq!(reference.len(), pairs.len());
        for ((a, b), want) in pairs.iter().zip(reference) {
            let got = ssim(a, b);
            assert!(
                (got - want).abs() < 1e-6,
                "SSIM {got} against scikit-image's {want}"
            );
        }
    }

    #[test]
    fn mean_frame_is_the_rounded_pixel_mean() {
        let e = |v: u8| Example {
            gray: vec![],
            rgb: vec![v; 6],
        };
        assert_eq!(mean_frame(&[e(0), e(3)]), vec![2; 6]);
    }
}
