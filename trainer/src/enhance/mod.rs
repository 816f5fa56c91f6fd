//! `mvgen train-enhancer`: a learned 4x upscaler for a generator's frames, trained on
//! what that generator really makes (its frames for songs' windows) against the true
//! pictures at 1024 (the director's, drawn at that size), then exported to ONNX
//! (`mvgen_core::model::ENHANCER`) with a parity check and metadata, and measured.
//!
//! The run folder holds `config.json` (written first; running the same command again
//! resumes with it), `data/` (the pairs, made once), `checkpoint.bin` (network and Adam
//! state, written atomically every few hundred steps), `enhancer.onnx` and
//! `quality.json`: on the validation songs' pairs (and, with `--held-out`, on songs
//! neither network saw), the enhancer against a Lanczos enlargement of the same frames
//! (PSNR and SSIM against the true pictures), the enhancer's frames brought back to 256
//! by area against the generator's, and (held out) the motion of 10 s of each song with
//! and without the enhancer: whether it adds flicker.
//!
//! Training: random 32x32 crops of the generator's frames against the 128x128 crops of
//! the true pictures under them, a batch of 16, seeded (the same command makes the same
//! enhancer). The loss has three terms:
//! - the squared error against the truth, which teaches detail and sharpness;
//! - `consistency` times the squared error between the enhanced crop averaged back down
//!   (4x4 blocks) and the generator's, both through a 5x5 binomial filter ([`TAPS`]): it
//!   keeps the generator's picture (3 keeps it to about 36 dB at 256, where 30 is asked);
//! - `grid` times the squared error between the fine structure of those two at 256 (each
//!   less its filtered self) and the truth's: the generator's stride-2 transposed
//!   convolutions leave a faint mesh of periods 2, 4 and 8 pixels, which a 4x enlargement
//!   makes a visible grid of 8 to 32 on the screen. The truth has none, so the enhancer
//!   learns to take it out (`quality.json` says how much is left, in levels).
//!
//! Adam at 3e-3, halved at 60 % and 85 % of the steps. Runs made before the grid term
//! (`grid` 0) keep the generator's picture whole, as they were made.

pub mod data;
pub mod export;
pub mod net;
pub mod quality;

use crate::dataset::director::Colours;
use crate::train::checkpoint::{self, Checkpoint};
use anyhow::{ensure, Context};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use mvgen_core::model::ENHANCED_SIDE;
use mvgen_core::spectrogram::SIZE;
use net::{EnhanceNet, SCALE};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Input crops are this many pixels on a side (targets four times that).
pub const CROP: usize = 32;

/// Everything that decides an enhancer's run, written to `config.json` first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnhanceConfig {
    pub data: data::Recipe,
    /// Feature channels (16 runs a frame in about 6 ms on two CPU threads).
    pub channels: usize,
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    /// Weight of keeping the generator's picture (see the module documentation).
    pub consistency: f64,
    /// Weight of taking the fine structure at 256 (periods under about 6 pixels, where
    /// the generator's grid lies) from the truth rather than from the generator; above 0,
    /// the picture kept is the generator's without that structure. Runs made before the
    /// choice (0) keep the generator's picture whole, grid and all.
    #[serde(default)]
    pub grid: f64,
    pub seed: u64,
    /// The name exports carry.
    pub name: String,
    /// CPU threads the run started with.
    pub threads: usize,
}

impl EnhanceConfig {
    /// The learning rate at `step`: constant, then halved at 60 % and again at 85 %.
    fn lr_at(&self, step: u64) -> f64 {
        let done = step as f64 / self.steps.max(1) as f64;
        self.lr
            * if done < 0.6 {
                1.0
            } else if done < 0.85 {
                0.5
            } else {
                0.25
            }
    }
}

pub const CONFIG: &str = "config.json";
pub const CHECKPOINT: &str = "checkpoint.bin";
pub const EXPORT: &str = "enhancer.onnx";
pub const QUALITY: &str = "quality.json";
/// Steps between checkpoints.
const CHECKPOINT_EVERY: u64 = 250;

/// `mvgen train-enhancer`.
pub fn command(a: &crate::cli::TrainEnhancerArgs) -> anyhow::Result<()> {
    if let Some(n) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the thread count")?;
    }
    let songs = director_songs(&a.songs)?;
    let generator = match &a.generator {
        Some(g) => g
            .canonicalize()
            .with_context(|| format!("the generator {}", g.display()))?,
        None => mvgen_default_model::path()
            .context("writing the embedded default model to the cache folder")?,
    };
    let generator_sha256 = mvgen_core::model::inspect(&generator)
        .with_context(|| format!("the generator {}", generator.display()))?
        .sha256;
    ensure!(a.steps >= 1, "--steps must be at least 1");
    ensure!(a.batch >= 1, "--batch must be at least 1");
    ensure!(a.grid >= 0.0, "--grid must be 0 or more");
    ensure!(a.every > 0.0, "--every must be above 0 seconds");
    let cfg = EnhanceConfig {
        data: data::Recipe {
            songs,
            calibration: a
                .calibration
                .canonicalize()
                .with_context(|| format!("the calibration {}", a.calibration.display()))?,
            material: a.material.as_ref().map(|m| m.canonicalize()).transpose()?,
            // Without artwork the colours are the music's, as recipes made before the
            // choice say.
            colours: if a.material.is_some() {
                a.colours
            } else {
                Colours::before_the_choice()
            },
            generator,
            generator_sha256,
            every_s: a.every,
            from_s: a.from,
            val_fraction: a.val_fraction,
            seed: a.seed,
        },
        channels: a.channels,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        consistency: a.consistency,
        grid: a.grid,
        seed: a.seed,
        name: a.name.clone().unwrap_or_else(|| {
            a.run
                .file_name()
                .map_or("enhancer".into(), |n| n.to_string_lossy().into_owned())
        }),
        threads: rayon::current_num_threads(),
    };
    let out = a.output.clone().unwrap_or_else(|| a.run.join(EXPORT));
    let held_out = if a.held_out.is_empty() {
        Vec::new()
    } else {
        director_songs(&a.held_out)?
    };
    run(cfg, &a.run, &out, &held_out)
}

/// The songs, sorted (files, or folders one level deep).
fn director_songs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    crate::dataset::director::collect_songs(inputs)?
        .into_iter()
        .map(|s| {
            s.canonicalize()
                .with_context(|| format!("the song {}", s.display()))
        })
        .collect()
}

/// What `quality.json` holds.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub validation: quality::Quality,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<quality::Quality>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flicker: Vec<quality::Flicker>,
}

/// Train (or resume) the run in `dir`, export to `out` and measure, on `held_out` songs
/// too where there are any.
pub fn run(cfg: EnhanceConfig, dir: &Path, out: &Path, held_out: &[PathBuf]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config_path = dir.join(CONFIG);
    let cfg = match std::fs::read(&config_path) {
        Ok(bytes) => {
            let saved: EnhanceConfig = serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not an enhancer run's config", config_path.display())
            })?;
            eprintln!("resuming {} (its config.json decides)", dir.display());
            saved
        }
        Err(_) => {
            crate::files::write_atomic(&config_path, &serde_json::to_vec_pretty(&cfg)?)?;
            cfg
        }
    };
    let (moments, pairs) = data::pairs(&dir.join("data"), &cfg.data)?;
    let train: Vec<&data::Pair> = pairs
        .iter()
        .zip(&moments)
        .filter(|(_, m)| !m.val)
        .map(|(p, _)| p)
        .collect();
    let val: Vec<&data::Pair> = pairs
        .iter()
        .zip(&moments)
        .filter(|(_, m)| m.val)
        .map(|(p, _)| p)
        .collect();
    ensure!(
        !train.is_empty() && !val.is_empty(),
        "the songs gave {} training and {} validation pairs: give more or longer songs \
         (or a shorter --every)",
        train.len(),
        val.len()
    );
    eprintln!(
        "{} training pairs, {} validation pairs; enhancer of {} channels, {} steps",
        train.len(),
        val.len(),
        cfg.channels,
        cfg.steps
    );
    let net = train_net(&cfg, dir, &train)?;

    let info = export::EnhancerInfo {
        name: cfg.name.clone(),
        steps: cfg.steps,
        dataset: cfg
            .data
            .songs
            .first()
            .and_then(|s| s.parent())
            .map_or_else(String::new, |d| d.display().to_string()),
        generator_sha256: cfg.data.generator_sha256.clone(),
    };
    let checks: Vec<mvgen_core::Frame> = val
        .iter()
        .take(3)
        .filter_map(|p| mvgen_core::Frame::from_rgb8(&p.frame))
        .collect();
    let worst = export::export(&net, &info, out, &checks)?;
    eprintln!(
        "{} -> {}: ONNX Runtime matches burn within {worst:.1e}",
        info.name,
        out.display()
    );
    let validation = quality::on_pairs(out, &val)?;
    eprintln!("validation {validation}");
    let mut report = Report {
        validation,
        held_out: None,
        flicker: Vec::new(),
    };
    if !held_out.is_empty() {
        // The held-out songs' own pairs, all of them measured.
        let recipe = data::Recipe {
            songs: held_out.to_vec(),
            val_fraction: 1.0,
            ..cfg.data.clone()
        };
        let (_, pairs) = data::pairs(&dir.join("data-held-out"), &recipe)?;
        let pairs: Vec<&data::Pair> = pairs.iter().collect();
        let q = quality::on_pairs(out, &pairs)?;
        eprintln!("held out {q}");
        report.held_out = Some(q);
        for song in held_out {
            let f = quality::flicker(out, &cfg.data.generator, song, (30.0, 10.0))?;
            eprintln!(
                "{}: motion {:.2} at 256, {:.2} enhanced (brought back to 256)",
                f.song, f.motion_256, f.motion_enhanced
            );
            report.flicker.push(f);
        }
    }
    crate::files::write_atomic(&dir.join(QUALITY), &serde_json::to_vec_pretty(&report)?)?;
    Ok(())
}

/// Train from the checkpoint in `dir` (or from the seed) to `cfg.steps`.
fn train_net(cfg: &EnhanceConfig, dir: &Path, train: &[&data::Pair]) -> anyhow::Result<EnhanceNet> {
    ensure!(!train.is_empty(), "no training pairs");
    let device = Device::flex().autodiff();
    device.seed(cfg.seed);
    let mut net = EnhanceNet::new(cfg.channels, cfg.seed, &device);
    let mut optimiser: ModuleOptimizer = AdamConfig::new().init();
    let mut step = 0u64;
    if let Some(ck) = checkpoint::read(&dir.join(CHECKPOINT))? {
        net = checkpoint::load_module(net, ck.generator)?;
        optimiser = optimiser
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(ck.opt_g))
            .map_err(|e| anyhow::anyhow!("reading the optimiser state: {e:?}"))?;
        step = ck.step;
    }
    let bar = crate::progress::bar(cfg.steps, "steps");
    bar.set_position(step);
    let mut rng = Crops::new(cfg.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut recent = Vec::new();
    while step < cfg.steps {
        let (x, y) = rng.batch(train, cfg.batch, &device);
        let value;
        (net, value) = train_step(
            net,
            &mut optimiser,
            (x, y),
            cfg.lr_at(step),
            (cfg.consistency, cfg.grid),
        );
        step += 1;
        recent.push(value);
        if recent.len() == 50 {
            let mean = recent.iter().sum::<f32>() / recent.len() as f32;
            bar.set_message(format!("loss {mean:.5}"));
            if step.is_multiple_of(500) {
                bar.suspend(|| eprintln!("step {step}: loss {mean:.5}"));
            }
            recent.clear();
        }
        bar.set_position(step);
        if step.is_multiple_of(CHECKPOINT_EVERY) || step == cfg.steps {
            save(dir, &net, &optimiser, step)?;
        }
    }
    bar.finish_and_clear();
    Ok(net.valid())
}

/// One step on the crops `(x, y)`: the network after it, and the loss before it.
fn train_step(
    net: EnhanceNet,
    optimiser: &mut ModuleOptimizer,
    (x, y): (Tensor<4>, Tensor<4>),
    lr: f64,
    (consistency, grid): (f64, f64),
) -> (EnhanceNet, f32) {
    let out = net.forward(x.clone());
    let down = pooled(out.clone());
    let loss = if grid > 0.0 {
        let fine = |t: Tensor<4>| {
            let [n, c, h, w] = t.dims();
            t.clone()
                .slice([0..n, 0..c, MARGIN..h - MARGIN, MARGIN..w - MARGIN])
                - smoothed(t)
        };
        let truth_down = pooled(y.clone());
        (out - y).powf_scalar(2.0).mean()
            + (smoothed(down.clone()) - smoothed(x))
                .powf_scalar(2.0)
                .mean()
                * consistency
            + (fine(down) - fine(truth_down)).powf_scalar(2.0).mean() * grid
    } else {
        (out - y).powf_scalar(2.0).mean() + (down - x).powf_scalar(2.0).mean() * consistency
    };
    let value: f32 = loss.clone().into_scalar();
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    (optimiser.step(lr, net, grads), value)
}

/// About how long one training step of an enhancer with `channels` on `batch` crops
/// takes here, in seconds (the median of three after one to warm up): for planning.
pub fn seconds_per_step(channels: usize, batch: usize) -> f64 {
    let device = Device::flex().autodiff();
    let mut net = EnhanceNet::new(channels, 0, &device);
    let mut optimiser: ModuleOptimizer = AdamConfig::new().init();
    let big = CROP * SCALE;
    let mut times = Vec::new();
    for s in 0..4 {
        let x = Tensor::<4>::from_data(
            TensorData::new(
                vec![0.25f32; batch * 3 * CROP * CROP],
                [batch, 3, CROP, CROP],
            ),
            &device,
        );
        let y = Tensor::<4>::from_data(
            TensorData::new(vec![0.5f32; batch * 3 * big * big], [batch, 3, big, big]),
            &device,
        );
        let start = std::time::Instant::now();
        (net, _) = train_step(net, &mut optimiser, (x, y), 1e-3, (3.0, 10.0));
        if s > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Enlarged frames `[n, 3, 4h, 4w]` averaged back down to `[n, 3, h, w]` (4x4 blocks).
fn pooled(frames: Tensor<4>) -> Tensor<4> {
    burn::tensor::module::avg_pool2d(
        frames,
        burn::tensor::ops::AvgPoolOptions::new([SCALE, SCALE]).with_stride([SCALE, SCALE]),
    )
}

/// The binomial filter [`smoothed`] applies on each axis: it keeps cos^4(pi / p) of a
/// pattern of period p along an axis (none of period 2, 25 % of 4, 73 % of 8, 92 % of
/// 16). Nine taps (cos^8) took no more of the grid out of the default's enhancer (0.20
/// levels left against 0.21) and kept a little less of its SSIM.
const TAPS: [f32; 5] = [1.0, 4.0, 6.0, 4.0, 1.0];
/// What [`smoothed`] trims from each side.
const MARGIN: usize = TAPS.len() / 2;

/// Frames `[n, 3, h, w]` through [`TAPS`] on both axes, without padding (`[n, 3, h - 2
/// MARGIN, w - 2 MARGIN]`): the picture less its finest structure, where the
/// generator's grid lies.
fn smoothed(frames: Tensor<4>) -> Tensor<4> {
    let (n, sum) = (TAPS.len(), TAPS.iter().sum::<f32>());
    let kernel: Vec<f32> = (0..3 * n * n)
        .map(|i| TAPS[i / n % n] * TAPS[i % n] / (sum * sum))
        .collect();
    let weight = Tensor::<4>::from_data(TensorData::new(kernel, [3, 1, n, n]), &frames.device());
    burn::tensor::module::conv2d(
        frames,
        weight,
        None,
        burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 3),
    )
}

/// The checkpoint: the network where the generator's trainer keeps its generator, Adam's
/// state where it keeps its generator's (the other two sections are empty).
fn save(dir: &Path, net: &EnhanceNet, opt: &ModuleOptimizer, step: u64) -> anyhow::Result<()> {
    let opt = opt
        .into_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| anyhow::anyhow!("saving the optimiser state: {e:?}"))?;
    checkpoint::write(
        &dir.join(CHECKPOINT),
        &Checkpoint {
            epoch: 0,
            step,
            generator: checkpoint::module_bytes(net.clone())?,
            discriminator: Vec::new(),
            opt_g: opt,
            opt_d: Vec::new(),
        },
    )
}

/// Seeded random crops: which pair, and where.
struct Crops(u64);

impl Crops {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    /// `batch` crops: frames `[b, 3, 32, 32]` and true pictures `[b, 3, 128, 128]`.
    fn batch(
        &mut self,
        pairs: &[&data::Pair],
        batch: usize,
        device: &Device,
    ) -> (Tensor<4>, Tensor<4>) {
        let big = CROP * SCALE;
        let (mut xs, mut ys) = (
            Vec::with_capacity(batch * 3 * CROP * CROP),
            Vec::with_capacity(batch * 3 * big * big),
        );
        for _ in 0..batch {
            let pair = pairs[self.below(pairs.len())];
            let (top, left) = (self.below(SIZE - CROP + 1), self.below(SIZE - CROP + 1));
            planes(&pair.frame, SIZE, top, left, CROP, &mut xs);
            planes(
                &pair.target,
                ENHANCED_SIDE,
                top * SCALE,
                left * SCALE,
                big,
                &mut ys,
            );
        }
        (
            Tensor::from_data(TensorData::new(xs, [batch, 3, CROP, CROP]), device),
            Tensor::from_data(TensorData::new(ys, [batch, 3, big, big]), device),
        )
    }
}

/// A `size` square of an interleaved RGB image `side` wide, at (top, left), as planes in
/// [-1, 1].
fn planes(rgb: &[u8], side: usize, top: usize, left: usize, size: usize, out: &mut Vec<f32>) {
    for c in 0..3 {
        for y in top..top + size {
            let row = &rgb[3 * y * side..3 * (y + 1) * side];
            out.extend((left..left + size).map(|x| row[3 * x + c] as f32 / 127.5 - 1.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter takes a checkerboard of 2 pixels out entirely, keeps a flat picture,
    /// and trims its margin from each side.
    #[test]
    fn the_filter_removes_the_finest_grid_and_keeps_the_level() {
        let device = Device::flex();
        let picture = |f: fn(usize, usize) -> f32| {
            let values: Vec<f32> = (0..3 * 12 * 12).map(|i| f(i / 12 % 12, i % 12)).collect();
            Tensor::<4>::from_data(TensorData::new(values, [1, 3, 12, 12]), &device)
        };
        let flat = smoothed(picture(|_, _| 0.3));
        assert_eq!(flat.dims(), [1, 3, 12 - 2 * MARGIN, 12 - 2 * MARGIN]);
        let flat: Vec<f32> = flat.into_data().try_to_vec().unwrap();
        assert!(flat.iter().all(|v| (v - 0.3).abs() < 1e-6), "{flat:?}");
        let checker: Vec<f32> = smoothed(picture(|y, x| 0.3 + 0.5 * ((y + x) % 2) as f32))
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(
            checker.iter().all(|v| (v - 0.55).abs() < 1e-6),
            "{checker:?}"
        );
    }

    /// The grid term takes out a mesh the truth lacks, and without it the mesh is kept:
    /// a frame of soft waves with a checkerboard over it, a truth of the waves alone, and
    /// the same steps either way. The checkerboard's share of the enhanced frame,
    /// averaged back to 256, is compared.
    #[test]
    fn the_grid_term_takes_out_a_mesh_the_truth_lacks() {
        let device = Device::flex().autodiff();
        let wave = |y: f32, x: f32| 0.4 * (x / 5.0).sin() * (y / 7.0).cos();
        let x: Vec<f32> = (0..3 * 32 * 32)
            .map(|i| {
                let (y, x) = ((i / 32 % 32) as f32, (i % 32) as f32);
                wave(y, x) + if (i / 32 + i) % 2 == 0 { 0.08 } else { -0.08 }
            })
            .collect();
        let y: Vec<f32> = (0..3 * 128 * 128)
            .map(|i| {
                wave(
                    (i / 128 % 128) as f32 / 4.0 - 0.375,
                    (i % 128) as f32 / 4.0 - 0.375,
                )
            })
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, 3, 32, 32]), &device);
        let y = Tensor::<4>::from_data(TensorData::new(y, [1, 3, 128, 128]), &device);
        let checker: Vec<f32> = (0..3 * 32 * 32)
            .map(|i| if (i / 32 + i) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mesh_left = |grid: f64| {
            let mut net = EnhanceNet::new(8, 0, &device);
            let mut opt: ModuleOptimizer = AdamConfig::new().init();
            for _ in 0..150 {
                (net, _) = train_step(net, &mut opt, (x.clone(), y.clone()), 3e-3, (3.0, grid));
            }
            let down: Vec<f32> = pooled(net.forward(x.clone()))
                .into_data()
                .try_to_vec()
                .unwrap();
            down.iter().zip(&checker).map(|(d, c)| d * c).sum::<f32>() / down.len() as f32
        };
        let (kept, taken) = (mesh_left(0.0), mesh_left(10.0));
        eprintln!("mesh left: {kept:.4} without the grid term, {taken:.4} with it");
        // The mesh is 0.08 in the frame: most of it stays without the term (0.060 when
        // written), next to none with it (0.002).
        assert!(
            kept > 0.04,
            "without the grid term the mesh is kept: {kept}"
        );
        assert!(taken.abs() < 0.25 * kept, "{taken} against {kept}");
    }

    /// Training moves every layer: a few steps on a pair whose truth has detail the
    /// frame lacks lower the loss.
    #[test]
    fn training_steps_lower_the_loss() {
        let device = Device::flex().autodiff();
        let mut net = EnhanceNet::new(8, 0, &device);
        let mut opt: ModuleOptimizer = AdamConfig::new().init();
        // A 32x32 frame of flat blocks, and its truth: the same blocks with a ramp inside.
        let x: Vec<f32> = (0..3 * 32 * 32)
            .map(|i| ((i % 32) as f32 / 32.0) - 0.5)
            .collect();
        let y: Vec<f32> = (0..3 * 128 * 128)
            .map(|i| ((i % 128) / 4) as f32 / 32.0 - 0.5 + ((i % 4) as f32 - 1.5) * 0.05)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, 3, 32, 32]), &device);
        let y = Tensor::<4>::from_data(TensorData::new(y, [1, 3, 128, 128]), &device);
        let mut losses = Vec::new();
        for _ in 0..60 {
            let loss = (net.forward(x.clone()) - y.clone()).abs().mean();
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(1e-2, net, grads);
        }
        eprintln!("{:?} .. {:?}", &losses[..3], &losses[57..]);
        assert!(losses[59] < 0.5 * losses[0], "{losses:?}");
    }
}
