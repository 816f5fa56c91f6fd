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
//! enhancer). The loss is the squared error against the truth plus `consistency` times
//! the squared error between the enhanced crop averaged back down (4x4 blocks) and the
//! generator's: the first teaches detail and sharpness, the second keeps the generator's
//! picture (3 keeps it to about 35 dB at 256, where 30 is asked; 1 gives more sharpness
//! and 30 dB). Adam at 3e-3, halved at 60 % and 85 % of the steps.
//!
//! **What it is taught.** The enhancer keeps each 4x4 block's mean at the generator's
//! pixel (`net.rs`), so it cannot learn where the generator's picture is off from the
//! truth, only what the inside of a block looks like. So each block of the truth is moved
//! to the generator's level before the loss: otherwise the offsets, which it cannot
//! change, would drown what it can learn (the loss would barely move).

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
            cfg.consistency,
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
    consistency: f64,
) -> (EnhanceNet, f32) {
    let out = net.forward(x.clone());
    let down = burn::tensor::module::avg_pool2d(
        out.clone(),
        burn::tensor::ops::AvgPoolOptions::new([SCALE, SCALE]).with_stride([SCALE, SCALE]),
    );
    let loss = (out - y).powf_scalar(2.0).mean() + (down - x).powf_scalar(2.0).mean() * consistency;
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
        (net, _) = train_step(net, &mut optimiser, (x, y), 1e-3, 3.0);
        if s > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
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
