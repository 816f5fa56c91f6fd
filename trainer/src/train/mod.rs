//! `mvgen train`: Pix2Pix on an aligned dataset, into a run folder.
//!
//! The run folder:
//! - `config.json`, written first; a re-run of the same folder resumes with it;
//! - `checkpoint.bin`: both networks and both Adam states after the last finished epoch,
//!   written atomically, so a killed run resumes losing at most the epoch in progress;
//! - `snapshots/epoch-NNNN.bin`: the generator at the chosen epochs (the paper compared
//!   95, 180 and 200) and at the last;
//! - `samples/epoch-NNNN.png`: held-out pairs, input | generated | real;
//! - `losses.csv` (one row per step) and `losses.png` (epoch means).
//!
//! Training follows the reference exactly: vanilla GAN loss (BCE with logits) plus 100 x
//! L1, the discriminator's loss halved, Adam (2e-4, betas 0.5/0.999, eps 1e-8), weights
//! N(0, 0.02), batch 1, `epochs` at constant rate then `decay_epochs` of linear decay.
//!
//! **No augmentation.** pix2pix resizes to 286, crops back to 256 and flips. Our inputs
//! have absolute axes: a row is a frequency and a column a time before the frame. A crop
//! shifts pitch and timing and a flip swaps bass with treble or past with future, so both
//! would teach the generator that different music is the same. Frames alone cannot be
//! jittered either without breaking the pairing. Datasets grow by taking more frames
//! (`mvgen dataset build --every`), not by distorting them.

pub mod backend;
pub mod checkpoint;
pub mod eval;
pub mod export;
pub mod net;
pub mod on_burn;
#[cfg(feature = "torch")]
pub mod on_torch;
pub mod plot;

use anyhow::{ensure, Context};
use burn::module::Module;
use burn::tensor::Device;
use checkpoint::Checkpoint;
use mvgen_core::spectrogram::SIZE;
use net::{Discriminator, Generator};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything that decides a run, written to `config.json` before the first step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub dataset: PathBuf,
    /// The dataset's folder name; exported models record it.
    pub dataset_name: String,
    pub ngf: usize,
    pub ndf: usize,
    /// Epochs at the initial learning rate.
    pub epochs: usize,
    /// Epochs of linear decay after them.
    pub decay_epochs: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub adam_eps: f64,
    pub lambda_l1: f64,
    pub batch: usize,
    pub seed: u64,
    /// `cpu` or `gpu`.
    pub device: String,
    /// The trainer: `torch` (libtorch) or `burn` (flex on the CPU, wgpu on a GPU). Runs
    /// from before there was a choice were burn's.
    #[serde(default = "burn_backend")]
    pub backend: String,
    /// Epochs whose generator is kept in `snapshots/`; the last epoch always is.
    pub snapshots: Vec<usize>,
    /// Use only the first N training pairs (quick runs and tests); all when `None`.
    pub max_pairs: Option<usize>,
    /// Held-out pairs drawn in each epoch's sample grid.
    pub sample_pairs: usize,
    /// Always "none": see the module documentation.
    pub augmentation: String,
    /// The run whose networks this one started from (`--init-from`), with fresh
    /// optimisers and its own learning-rate schedule; `None`: from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// CPU threads the run started with (rayon's pool for burn, libtorch's intra-op
    /// pool): the CPU's results depend on how sums are split. 0 in runs from before it
    /// was recorded.
    #[serde(default)]
    pub threads: usize,
}

fn burn_backend() -> String {
    "burn".into()
}

impl TrainConfig {
    /// The reference's settings for `ngf`/`ndf` on `device`, with no dataset: benches and
    /// tests.
    pub fn bench(ngf: usize, ndf: usize, device: &str) -> Self {
        Self {
            dataset: PathBuf::new(),
            dataset_name: String::new(),
            ngf,
            ndf,
            epochs: 1,
            decay_epochs: 0,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            adam_eps: 1e-8,
            lambda_l1: 100.0,
            batch: 1,
            seed: 0,
            device: device.into(),
            backend: backend::DEFAULT.into(),
            snapshots: vec![],
            max_pairs: None,
            sample_pairs: 0,
            augmentation: "none".into(),
            init_from: None,
            threads: rayon::current_num_threads(),
        }
    }

    pub fn total_epochs(&self) -> usize {
        self.epochs + self.decay_epochs
    }

    /// pix2pix's `linear` policy for 1-based `epoch`: constant, then falling by
    /// 1 / (decay_epochs + 1) per epoch.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let over = epoch.saturating_sub(self.epochs) as f64;
        self.lr * (1.0 - over / (self.decay_epochs as f64 + 1.0))
    }
}

/// One pair in memory, 8-bit as stored: a pair costs 256 KiB, not 1 MiB of floats.
pub struct Example {
    pub gray: Vec<u8>,
    /// Interleaved RGB.
    pub rgb: Vec<u8>,
}

pub fn load_split(
    dataset: &Path,
    split: &str,
    limit: Option<usize>,
) -> anyhow::Result<Vec<Example>> {
    use rayon::prelude::*;
    let mut files = crate::dataset::pairs::list(dataset, split);
    if let Some(n) = limit {
        files.truncate(n);
    }
    files
        .par_iter()
        .map(|f| {
            let pair = crate::dataset::pairs::load_pair(f)?;
            Ok(Example {
                gray: pair.spectrogram.to_gray8(),
                rgb: pair.frame.into_raw(),
            })
        })
        .collect()
}

/// Spectrograms `[n, 1, 256, 256]` and frames `[n, 3, 256, 256]`, both in [-1, 1], as
/// flat planes: what both trainers feed their networks.
pub fn batch_values(examples: &[&Example]) -> (Vec<f32>, Vec<f32>) {
    let n = examples.len();
    let plane = SIZE * SIZE;
    let mut a = Vec::with_capacity(n * plane);
    let mut b = vec![0f32; n * 3 * plane];
    for (k, e) in examples.iter().enumerate() {
        a.extend(e.gray.iter().map(|&g| to_unit(g)));
        for i in 0..plane {
            for c in 0..3 {
                b[(k * 3 + c) * plane + i] = to_unit(e.rgb[3 * i + c]);
            }
        }
    }
    (a, b)
}

fn to_unit(v: u8) -> f32 {
    v as f32 / 127.5 - 1.0
}

/// The losses of one step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Losses {
    pub g_gan: f32,
    pub g_l1: f32,
    pub d_real: f32,
    pub d_fake: f32,
}

/// Wall time of one step's phases, in milliseconds (each phase ends with a read-back, so
/// asynchronous backends are timed fully).
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseMs {
    pub data: f64,
    pub generator_forward: f64,
    pub discriminator_step: f64,
    pub generator_step: f64,
}

impl PhaseMs {
    pub fn total(&self) -> f64 {
        self.data + self.generator_forward + self.discriminator_step + self.generator_step
    }
}

/// Wall-clock laps of a step's phases.
pub struct Timer {
    at: Instant,
    pub ms: PhaseMs,
}

impl Timer {
    pub fn start() -> Self {
        Self {
            at: Instant::now(),
            ms: PhaseMs::default(),
        }
    }

    /// Ends the phase that `slot` picks.
    pub fn lap(&mut self, slot: impl FnOnce(&mut PhaseMs) -> &mut f64) {
        *slot(&mut self.ms) = self.at.elapsed().as_secs_f64() * 1e3;
        self.at = Instant::now();
    }
}

/// One backend's networks and optimiser states: what the training loop drives. Weights
/// go in and out as burn modules ([`net`]), so checkpoints' networks, snapshots, eval
/// and export do not depend on which trainer made them; only the optimiser states are
/// in each trainer's own format (a run resumes on the trainer its `config.json` names).
pub trait Trainer {
    /// One Pix2Pix iteration at learning rate `lr`, as the reference: D on (x, G(x))
    /// detached and (x, y), halved; then G against the updated D, plus lambda x L1.
    fn step(&mut self, batch: &[&Example], lr: f64) -> (Losses, PhaseMs);
    /// Seeds the trainer's random source (dropout).
    fn seed(&mut self, seed: u64);
    fn generator(&self) -> anyhow::Result<Generator>;
    fn discriminator(&self) -> anyhow::Result<Discriminator>;
    /// The generator's and the discriminator's optimiser states.
    fn optimisers(&self) -> anyhow::Result<[Vec<u8>; 2]>;
    /// The generator's frames for `examples`, as inference makes them (no dropout).
    fn frames(&self, examples: &[&Example]) -> Vec<Vec<u8>>;
}

/// Where a trainer's state comes from.
#[derive(Clone, Copy)]
pub enum Start<'a> {
    /// Fresh networks from the run's seed.
    Fresh,
    /// Another run's networks with fresh optimisers (`--init-from`).
    Networks(&'a Checkpoint),
    /// The run's own checkpoint: networks and optimisers.
    Resume(&'a Checkpoint),
}

impl<'a> Start<'a> {
    pub fn networks(self) -> Option<&'a Checkpoint> {
        match self {
            Start::Fresh => None,
            Start::Networks(ck) | Start::Resume(ck) => Some(ck),
        }
    }

    pub fn optimisers(self) -> Option<&'a Checkpoint> {
        match self {
            Start::Resume(ck) => Some(ck),
            _ => None,
        }
    }
}

/// The discriminator's initialisation seed, derived from the run's.
pub fn discriminator_seed(cfg: &TrainConfig) -> u64 {
    cfg.seed ^ 0xD15C
}

fn to_checkpoint(trainer: &dyn Trainer, epoch: usize, step: u64) -> anyhow::Result<Checkpoint> {
    let [opt_g, opt_d] = trainer.optimisers()?;
    Ok(Checkpoint {
        epoch,
        step,
        generator: checkpoint::module_bytes(trainer.generator()?)?,
        discriminator: checkpoint::module_bytes(trainer.discriminator()?)?,
        opt_g,
        opt_d,
    })
}

/// Deterministic shuffle of `0..n` for `epoch` (splitmix64-driven Fisher-Yates), so a
/// resumed run visits pairs in the order an uninterrupted one would have.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut s = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    order
}

pub const CONFIG: &str = "config.json";
pub const CHECKPOINT: &str = "checkpoint.bin";
pub const LOSSES: &str = "losses.csv";
const LOSSES_HEADER: &str = "epoch,step,lr,g_gan,g_l1,d_real,d_fake,ms";

pub fn snapshot_path(run: &Path, epoch: usize) -> PathBuf {
    run.join("snapshots").join(format!("epoch-{epoch:04}.bin"))
}

pub fn read_config(run: &Path) -> anyhow::Result<TrainConfig> {
    let path = run.join(CONFIG);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} is not a training run (no {CONFIG})", run.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// Train, or resume the run in `run` if it has a checkpoint. `stop_after` ends the
/// process's work after that many epochs (a run split across sessions; tests).
pub fn run(cfg: TrainConfig, run: &Path, stop_after: Option<usize>) -> anyhow::Result<()> {
    train(cfg, run, stop_after, None)
}

/// When a run must end, for [`run_until`].
pub struct Deadline<'a> {
    pub until: Instant,
    /// The most epochs in all.
    pub most: usize,
    /// Called after each epoch's checkpoint (the caller notes the time spent).
    pub after_epoch: &'a mut dyn FnMut(),
}

/// [`run`], ending by a deadline: after each epoch the epochs still to come are fitted to
/// the time left, at the pace of the epochs this process trained (half at the constant
/// rate, half decaying, as `mvgen look new` plans them; see [`refit`]). The new plan is
/// written to `config.json` before the epoch's checkpoint, so a resumed run follows it.
/// Returns the epochs the run ended with.
pub fn run_until(cfg: TrainConfig, run: &Path, deadline: Deadline) -> anyhow::Result<usize> {
    train(cfg, run, None, Some(deadline))?;
    Ok(read_config(run)?.total_epochs())
}

/// Epochs in all for a run that has done `done` at `epoch_s` seconds each and has
/// `left_s` seconds left, at most `most`; never fewer than `done`.
fn refit(done: usize, epoch_s: f64, left_s: f64, most: usize) -> usize {
    let more = (left_s.max(0.0) / epoch_s.max(1e-9)).floor() as usize;
    (done + more).min(most).max(done)
}

/// The constant-rate and decaying epochs of a run of `constant` + `decay` epochs
/// re-fitted to `fitted` in all after `done` of them. Half and half, as planned; but the
/// rate never goes back up and never drops at once: a run already decaying keeps its
/// constant epochs and grows only as far as its next epoch's rate stays at most its last
/// one's, and one cut short while constant starts decaying with the next epoch.
fn schedule(done: usize, (constant, decay): (usize, usize), fitted: usize) -> (usize, usize) {
    if done >= constant {
        // The last epoch ran at 1 - (done - c) / (t - c + 1) of the rate, the next at
        // 1 - (done + 1 - c) / (t' - c + 1): not more when t' - c + 1 is at most
        // (done + 1 - c) (t - c + 1) / (done - c).
        let most = match done - constant {
            0 => usize::MAX,
            past => constant - 1 + (past + 1) * (decay + 1) / past,
        };
        let total = fitted.min(most).max(done);
        return (constant, total - constant);
    }
    let constant = fitted.div_ceil(2).max(done);
    (constant, fitted.max(constant) - constant)
}

fn train(
    cfg: TrainConfig,
    run: &Path,
    stop_after: Option<usize>,
    mut deadline: Option<Deadline>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(run.join("snapshots"))
        .and_then(|_| std::fs::create_dir_all(run.join("samples")))
        .with_context(|| format!("creating run folder {}", run.display()))?;
    let (mut cfg, mut trainer, mut done, mut step) = match checkpoint::read(&run.join(CHECKPOINT))?
    {
        Some(ck) => {
            let saved = read_config(run)?;
            eprintln!(
                "resuming {} after epoch {} of {} (its config.json decides; other options are ignored)",
                run.display(),
                ck.epoch,
                saved.total_epochs()
            );
            let trainer = backend::open(&saved, Start::Resume(&ck))?;
            truncate_losses(&run.join(LOSSES), ck.epoch)?;
            (saved, trainer, ck.epoch, ck.step)
        }
        None => {
            let source = cfg
                .init_from
                .as_deref()
                .map(|from| initial_networks(from, &cfg))
                .transpose()?;
            let start = source.as_ref().map_or(Start::Fresh, Start::Networks);
            let trainer = backend::open(&cfg, start)?;
            crate::files::write_atomic(&run.join(CONFIG), &serde_json::to_vec_pretty(&cfg)?)?;
            let _ = std::fs::remove_file(run.join(LOSSES));
            (cfg, trainer, 0, 0)
        }
    };
    eprintln!("training on {}", backend::describe(&cfg));

    let train = load_split(&cfg.dataset, "train", cfg.max_pairs)?;
    ensure!(
        !train.is_empty(),
        "{} has no pairs in train/ (build one with `mvgen dataset build`)",
        cfg.dataset.display()
    );
    let mut held_out = load_split(&cfg.dataset, "val", Some(cfg.sample_pairs))?;
    if held_out.is_empty() {
        eprintln!("note: no val/ pairs; sample grids show training pairs");
        held_out = load_split(&cfg.dataset, "train", Some(cfg.sample_pairs))?;
    }

    let mut total = cfg.total_epochs();
    let steps_per_epoch = train.len().div_ceil(cfg.batch);
    let mut last = stop_after.map_or(total, |n| (done + n).min(total));
    let bar = crate::progress::styled(
        ((last - done) * steps_per_epoch) as u64,
        "{bar:40} epoch {prefix} {pos}/{len} steps {elapsed_precise} (eta {eta}) {msg}",
    );
    let mut losses_csv = open_losses(&run.join(LOSSES))?;
    let (started, first) = (Instant::now(), done);
    while done < last {
        let epoch = done + 1;
        bar.set_prefix(format!("{epoch}/{total}"));
        // Dropout draws from the trainer's generator: seeding per epoch keeps a resumed
        // run on the same random path as an uninterrupted one.
        trainer.seed(cfg.seed.wrapping_add(epoch as u64));
        let lr = cfg.lr_at(epoch);
        let order = epoch_order(train.len(), cfg.seed, epoch);
        for chunk in order.chunks(cfg.batch) {
            let batch: Vec<&Example> = chunk.iter().map(|&i| &train[i]).collect();
            let (l, ms) = trainer.step(&batch, lr);
            step += 1;
            ensure!(
                l.g_l1.is_finite() && l.g_gan.is_finite() && l.d_real.is_finite(),
                "training diverged at epoch {epoch}, step {step}: a loss is not finite"
            );
            writeln!(
                losses_csv,
                "{epoch},{step},{lr:e},{},{},{},{},{:.1}",
                l.g_gan,
                l.g_l1,
                l.d_real,
                l.d_fake,
                ms.total()
            )?;
            bar.set_message(format!("L1 {:.3} GAN {:.3}", l.g_l1, l.g_gan));
            bar.inc(1);
        }
        losses_csv.flush()?;
        done = epoch;
        if let Some(deadline) = &deadline {
            let epoch_s = started.elapsed().as_secs_f64() / (done - first) as f64;
            let left_s = deadline
                .until
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            let fitted = refit(done, epoch_s, left_s, deadline.most);
            let (epochs, decay_epochs) = schedule(done, (cfg.epochs, cfg.decay_epochs), fitted);
            if (epochs, decay_epochs) != (cfg.epochs, cfg.decay_epochs) {
                (cfg.epochs, cfg.decay_epochs) = (epochs, decay_epochs);
                total = cfg.total_epochs();
                last = total;
                crate::files::write_atomic(&run.join(CONFIG), &serde_json::to_vec_pretty(&cfg)?)?;
                bar.set_length(((last - first) * steps_per_epoch) as u64);
                bar.println(format!(
                    "{total} epochs fit the time left ({epoch_s:.0} s an epoch)"
                ));
            }
        }
        // The epoch's work is saved first: nothing written after it can lose it.
        let ck = to_checkpoint(trainer.as_ref(), epoch, step)?;
        checkpoint::write(&run.join(CHECKPOINT), &ck)?;
        if epoch == total || cfg.snapshots.contains(&epoch) {
            crate::files::write_atomic(&snapshot_path(run, epoch), &ck.generator)?;
        }
        let samples = run.join("samples").join(format!("epoch-{epoch:04}.png"));
        if let Err(e) = sample_grid(trainer.as_ref(), &held_out).and_then(|grid| {
            grid.save(&samples)
                .with_context(|| format!("writing {}", samples.display()))
        }) {
            bar.println(format!("note: no sample grid: {e:#}"));
        }
        if let Err(e) = plot::loss_curve(&run.join(LOSSES), &run.join("losses.png")) {
            bar.println(format!("note: no loss plot: {e:#}"));
        }
        if let Some(deadline) = &mut deadline {
            (deadline.after_epoch)();
        }
    }
    bar.finish();
    eprintln!(
        "{done} epochs of {total} done in {} ({step} steps)",
        run.display()
    );
    Ok(())
}

/// The networks to start from (for `--init-from`): a run's latest checkpoint, or a
/// generator exported to ONNX (a look's) with a fresh discriminator from `cfg`'s seed.
fn initial_networks(from: &Path, cfg: &TrainConfig) -> anyhow::Result<Checkpoint> {
    if is_onnx(from) {
        let device = Device::flex();
        let generator = export::from_onnx(from, &device)?;
        eprintln!("starting from the generator {}", from.display());
        return Ok(Checkpoint {
            epoch: 0,
            step: 0,
            generator: checkpoint::module_bytes(generator)?,
            discriminator: checkpoint::module_bytes(Discriminator::new(
                cfg.ndf,
                discriminator_seed(cfg),
                &device,
            ))?,
            opt_g: Vec::new(),
            opt_d: Vec::new(),
        });
    }
    let ck = checkpoint::read(&from.join(CHECKPOINT))?.with_context(|| {
        format!(
            "--init-from {}: not a training run with a checkpoint",
            from.display()
        )
    })?;
    eprintln!(
        "starting from the networks of {} after its epoch {}",
        from.display(),
        ck.epoch
    );
    Ok(ck)
}

fn open_losses(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    let exists = path.exists();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    if !exists {
        writeln!(w, "{LOSSES_HEADER}")?;
    }
    Ok(w)
}

/// Whether `path` names an ONNX file rather than a run folder.
pub fn is_onnx(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "onnx")
}

/// Drop the rows of epochs after the checkpoint: a killed run logged steps it will redo.
fn truncate_losses(path: &Path, epoch: usize) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|e| e.parse::<usize>().ok())
                .is_none_or(|e| e <= epoch)
        })
        .collect();
    crate::files::write_atomic(path, format!("{}\n", kept.join("\n")).as_bytes())
}

/// The generator as inference sees it: no autodiff, no dropout.
pub fn frames(generator: &Generator, examples: &[&Example], device: &Device) -> Vec<Vec<u8>> {
    let inner = device.clone().inner();
    let g = generator.valid();
    examples
        .iter()
        .map(|e| {
            let (x, _) = on_burn::batch_tensors(&[e], &inner);
            let planes: Vec<f32> = g
                .forward(x)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 frame");
            mvgen_core::Frame::from_planes(&planes)
                .expect("a 3x256x256 frame")
                .to_rgb8()
        })
        .collect()
}

/// Rows of input | generated | real.
pub fn sample_grid(trainer: &dyn Trainer, examples: &[Example]) -> anyhow::Result<image::RgbImage> {
    ensure!(!examples.is_empty(), "no pairs to show");
    let refs: Vec<&Example> = examples.iter().collect();
    let generated = trainer.frames(&refs);
    let s = SIZE as u32;
    let mut grid = image::RgbImage::new(3 * s, s * examples.len() as u32);
    for (row, (e, g)) in examples.iter().zip(&generated).enumerate() {
        let y0 = row as u32 * s;
        for y in 0..s {
            for x in 0..s {
                let i = (y * s + x) as usize;
                let v = e.gray[i];
                grid.put_pixel(x, y0 + y, image::Rgb([v, v, v]));
                let px = |rgb: &[u8]| image::Rgb([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]]);
                grid.put_pixel(s + x, y0 + y, px(g));
                grid.put_pixel(2 * s + x, y0 + y, px(&e.rgb));
            }
        }
    }
    Ok(grid)
}

/// CPU threads for both trainers (rayon's pool for burn, libtorch's intra-op pool).
pub(crate) fn threads(n: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = n {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the thread count")?;
    }
    backend::set_threads(rayon::current_num_threads());
    Ok(())
}

/// `mvgen train`.
pub fn command(a: &crate::cli::TrainArgs) -> anyhow::Result<()> {
    threads(a.threads)?;
    ensure!(
        a.batch >= 1 && a.ngf >= 1 && a.ndf >= 1,
        "--batch, --ngf and --ndf must be at least 1"
    );
    ensure!(
        a.epochs + a.decay_epochs >= 1,
        "nothing to train: --epochs and --decay-epochs are 0"
    );
    ensure!(
        a.sample_pairs >= 1,
        "--sample-pairs must be at least 1: each epoch's sample grid shows that many pairs"
    );
    let dataset = a
        .dataset
        .canonicalize()
        .with_context(|| format!("dataset {}", a.dataset.display()))?;
    let cfg = TrainConfig {
        dataset_name: dataset
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        dataset,
        ngf: a.ngf,
        ndf: a.ndf,
        epochs: a.epochs,
        decay_epochs: a.decay_epochs,
        lr: a.lr,
        lambda_l1: a.lambda_l1,
        batch: a.batch,
        seed: a.seed,
        backend: backend::choose(&a.backend)?.into(),
        snapshots: a.snapshots.clone(),
        max_pairs: a.max_pairs,
        sample_pairs: a.sample_pairs,
        init_from: a
            .init_from
            .as_ref()
            .map(|r| {
                r.canonicalize()
                    .with_context(|| format!("--init-from {}", r.display()))
            })
            .transpose()?,
        ..TrainConfig::bench(a.ngf, a.ndf, &a.device)
    };
    if let Some(from) = cfg.init_from.as_deref().filter(|f| is_onnx(f)) {
        let ngf = mvgen_core::model::inspect(from)
            .with_context(|| format!("--init-from {}", from.display()))?
            .ngf;
        ensure!(
            ngf.is_none_or(|n| n as usize == cfg.ngf),
            "--init-from {}: its generator is ngf {}, this run's {}: give the same --ngf",
            from.display(),
            ngf.unwrap_or_default(),
            cfg.ngf
        );
    } else if let Some(from) = &cfg.init_from {
        // Checked before anything is written: the networks must have the same shapes.
        let source =
            read_config(from).with_context(|| format!("--init-from {}", from.display()))?;
        ensure!(
            (source.ngf, source.ndf) == (cfg.ngf, cfg.ndf),
            "--init-from {}: its networks are ngf {} / ndf {}, this run's {} / {}: give the same --ngf and --ndf",
            from.display(),
            source.ngf,
            source.ndf,
            cfg.ngf,
            cfg.ndf
        );
    }
    run(cfg, &a.run, a.stop_after)
}

/// Training steps of a fresh trainer for `cfg` on made-up pairs: the times of `steps`
/// after `warm_up`.
fn step_times(cfg: &TrainConfig, steps: usize, warm_up: usize) -> anyhow::Result<Vec<PhaseMs>> {
    let examples: Vec<Example> = (0..4u8)
        .map(|k| Example {
            gray: (0..SIZE * SIZE)
                .map(|i| (i as u8).wrapping_mul(k + 1))
                .collect(),
            rgb: (0..3 * SIZE * SIZE)
                .map(|i| (i as u8).wrapping_add(k * 40))
                .collect(),
        })
        .collect();
    let mut trainer = backend::open(cfg, Start::Fresh)?;
    let mut times = Vec::new();
    for s in 0..steps + warm_up {
        let (_, ms) = trainer.step(&[&examples[s % examples.len()]], cfg.lr);
        if s >= warm_up {
            times.push(ms);
        }
    }
    Ok(times)
}

/// About how long one of `cfg`'s training steps takes here, in seconds (the median of
/// ten after three to warm up; of three, it varied from 60 to 82 ms between two jobs on
/// one machine): for planning a run to a time budget.
pub fn seconds_per_step(cfg: &TrainConfig) -> anyhow::Result<f64> {
    let mut times: Vec<f64> = step_times(cfg, 10, 3)?.iter().map(PhaseMs::total).collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2] / 1000.0 * cfg.batch as f64)
}

/// `mvgen bench-train`: median ms per phase of a training step on fixed pairs.
pub fn bench(a: &crate::cli::BenchTrainArgs) -> anyhow::Result<()> {
    threads(a.threads)?;
    for &ngf in &a.ngf {
        let cfg = TrainConfig {
            backend: backend::choose(&a.backend)?.into(),
            ..TrainConfig::bench(ngf, a.ndf, &a.device)
        };
        if ngf == a.ngf[0] {
            println!("{}", backend::describe(&cfg));
        }
        let times = step_times(&cfg, a.steps, a.warm_up)?;
        let median = |f: fn(&PhaseMs) -> f64| {
            let mut v: Vec<f64> = times.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "ngf {ngf} ndf {}: {:.1} ms/iteration (median of {}): data {:.1}, G forward {:.1}, D step {:.1}, G step {:.1}",
            a.ndf,
            median(PhaseMs::total),
            times.len(),
            median(|m| m.data),
            median(|m| m.generator_forward),
            median(|m| m.discriminator_step),
            median(|m| m.generator_step),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{refit, schedule, TrainConfig};

    #[test]
    fn the_epochs_to_come_fit_the_time_left() {
        // 100 s an epoch, 450 s left after 3: 4 more.
        assert_eq!(refit(3, 100.0, 450.0, 200), 7);
        // Steps ran slower than planned: the run ends with the epoch it has done.
        assert_eq!(refit(3, 100.0, 60.0, 200), 3);
        assert_eq!(refit(3, 100.0, -5.0, 200), 3);
        // Never past the most it may train, and never fewer than it has done.
        assert_eq!(refit(3, 1.0, 1e6, 10), 10);
        assert_eq!(refit(12, 1.0, 1e6, 10), 12);
    }

    /// Re-fitted, the rate neither jumps back up in a decaying run nor drops at once in a
    /// constant one.
    #[test]
    fn a_refitted_schedule_keeps_the_rate_continuous() {
        // Still constant after 2 of 5 + 5: half and half of the new total.
        assert_eq!(schedule(2, (5, 5), 8), (4, 4));
        assert_eq!(schedule(2, (5, 5), 13), (7, 6));
        // Cut short while constant: decaying from the next epoch on, not from the past.
        assert_eq!(schedule(4, (5, 5), 6), (4, 2));
        assert_eq!(schedule(4, (5, 5), 4), (4, 0));
        // Already decaying (7 of 5 + 5): it may end sooner, or later as far as the rate
        // stays level (13: the next epoch at 1 - 3/9, as the last at 1 - 2/6).
        assert_eq!(schedule(7, (5, 5), 20), (5, 8));
        assert_eq!(schedule(7, (5, 5), 11), (5, 6));
        assert_eq!(schedule(7, (5, 5), 8), (5, 3));
        assert_eq!(schedule(7, (5, 5), 7), (5, 2));
        // Just out of the constant epochs: any length.
        assert_eq!(schedule(5, (5, 5), 30), (5, 25));
        let rate = |(epochs, decay_epochs): (usize, usize), epoch| {
            let cfg = TrainConfig {
                epochs,
                decay_epochs,
                ..TrainConfig::bench(16, 16, "cpu")
            };
            cfg.lr_at(epoch) / cfg.lr
        };
        // Time for 20 epochs after 8 of a decaying 5 + 5: the next epoch's rate is not
        // above the last one's.
        let before = rate((5, 5), 8);
        assert!(rate(schedule(8, (5, 5), 20), 9) <= before, "{before}");
        // Shrinking a constant plan from 40 to 12 after 10: the next epoch still runs at
        // more than half the rate.
        assert!(rate(schedule(10, (20, 20), 12), 11) > 0.5);
        // Every re-fit of every small plan: the next epoch's rate is never above the
        // last one's, and the run never ends before the epochs it has done.
        for constant in 1..8 {
            for decay in 0..8 {
                for done in 1..=constant + decay {
                    for fitted in done..40 {
                        let (c, d) = schedule(done, (constant, decay), fitted);
                        assert!(c + d >= done, "{done} {constant} {decay} {fitted}");
                        let last = rate((constant, decay), done);
                        let next = rate((c, d), done + 1);
                        assert!(
                            next <= last + 1e-12,
                            "after {done} of {constant} + {decay}, fitted {fitted}: {last} then {next}"
                        );
                    }
                }
            }
        }
    }
}
