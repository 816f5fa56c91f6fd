//! `mvgen look`: the looks there are (`list`, `show`, `rm`), and `new`, which makes one
//! from a musician's songs and artwork in one command, within a time budget.
//!
//! `look new NAME` works in a job folder of its own, `<data dir>/look-jobs/<slug>/`:
//! - `job.json`: what was asked (the songs, the held-out ones, the artwork, the look it
//!   starts from); running the same command again resumes this job, and only this one;
//! - `state.json`: the stages done, with their seconds, and the training plan;
//! - `videos/` (the director's), `dataset/`, `run/` (pix2pix), `enhancer/`, and `look/`,
//!   the look being made.
//!
//! The stages: direct the training songs (with the artwork), build pairs (every 1.5 s,
//! or more often for a few short songs),
//! fine-tune the starting look's generator on them (its discriminator starts fresh),
//! export, train the enhancer, measure the new generator on the held-out songs
//! (reactivity and a contact sheet), and install the look into the user's folder if it
//! reacts ([`mvgen_look::shortfalls`]). Each stage resumes where it stopped: the
//! director keeps finished videos, the dataset finished videos' pairs, the trainers
//! their checkpoints.
//!
//! **The budget.** Directing and pairing take what they take; the time left, less a
//! reserve for measuring, goes 80 % to the generator and 20 % to the enhancer, each
//! planned from the time of a few steps measured on this machine before it starts. The
//! generator's epochs are fitted again to the time left after each one, at the pace the
//! epochs actually ran. The plan is saved, so a resumed job follows it. One bar shows the whole job against the
//! budget.

use crate::cli::{LookCommand, LookNewArgs};
use crate::dataset::{self, director};
use crate::reactivity::Recorder;
use crate::train::{self, TrainConfig};
use anyhow::{bail, ensure, Context};
use mvgen_core::{Fps, FrameClock};
use mvgen_look::{Catalogue, Description, Look, LookId, Reaction, Source};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The frame rate looks are measured at.
const FPS: Fps = Fps::F30;
/// Pairs every this many frames of the directed videos at most (1.5 s)...
const PAIR_EVERY: usize = 45;
/// ...and more often for a few short songs, up to this many pairs (every 3rd frame at
/// the most: neighbours a tenth of a second apart differ little).
const PAIRS_WANTED: f64 = 1500.0;
/// The most epochs a budget buys (the paper's 200).
const MOST_EPOCHS: usize = 200;
/// The share of the training budget that goes to the enhancer.
const ENHANCER_SHARE: f64 = 0.2;
/// How much longer a step of the real training loop takes (reading pairs, logging,
/// checkpoints) than the step measured on fixed pairs before planning: over the whole
/// stage, 75 ms against 60 in Ember's job and 69 against 63 in Nightfall's (2026-12-07).
const LOOP_OVERHEAD: f64 = 1.2;
/// Seconds from the middle of each held-out song that the contact sheet's moments are
/// spread over. The numbers are measured over whole songs, as the director's ceiling and
/// the Default look's are: one Nightfall look varied by 14.4 over the middle 40 s of "the
/// king is dead" and by 32.0 over the whole song.
const SHEET_SECONDS: f64 = 40.0;
/// Moments of each held-out song on the contact sheet.
const SHEET_MOMENTS: usize = 4;
/// At most this many songs are held out.
const MAX_HELD_OUT: usize = 3;

pub fn command(cmd: &LookCommand) -> anyhow::Result<()> {
    match cmd {
        LookCommand::List => list(),
        LookCommand::Show { name } => show(name),
        LookCommand::Rm { name } => {
            let catalogue = Catalogue::load();
            let look = catalogue.find(name).map_err(anyhow::Error::msg)?;
            look.remove()?;
            eprintln!("removed the look \"{}\" ({})", look.name(), where_(look));
            Ok(())
        }
        LookCommand::New(args) => new(args),
    }
}

fn where_(look: &Look) -> String {
    look.location
        .as_ref()
        .map_or_else(|| "embedded".into(), |p| p.display().to_string())
}

/// The mean of each number over a look's measured songs.
fn mean_reaction(reactions: &[Reaction]) -> Option<(f64, f64, f64)> {
    let n = reactions.len() as f64;
    (!reactions.is_empty()).then(|| {
        let sum = |f: fn(&Reaction) -> f64| reactions.iter().map(f).sum::<f64>() / n;
        (
            sum(|r| r.numbers.variety),
            sum(|r| r.numbers.coupling),
            sum(|r| r.numbers.motion),
        )
    })
}

fn list() -> anyhow::Result<()> {
    let catalogue = Catalogue::load();
    println!(
        "{:<24} {:<9} {:>7} {:>8} {:>6}  enhancer",
        "look", "from", "variety", "coupling", "motion"
    );
    for look in &catalogue.looks {
        let numbers = mean_reaction(&look.description.reactivity).map_or_else(
            || format!("{:>7} {:>8} {:>6}", "-", "-", "-"),
            |(v, c, m)| format!("{v:>7.1} {c:>8.2} {m:>6.1}"),
        );
        println!(
            "{:<24} {:<9} {numbers}  {}",
            look.name(),
            look.origin.to_string(),
            if look.enhancer.is_some() {
                "yes"
            } else {
                "no (classical filter)"
            }
        );
    }
    println!("your looks are in {}", mvgen_look::user_folder().display());
    for problem in &catalogue.problems {
        println!("not a look: {problem}");
    }
    Ok(())
}

fn show(name: &str) -> anyhow::Result<()> {
    let catalogue = Catalogue::load();
    let look = catalogue.find(name).map_err(anyhow::Error::msg)?;
    let d = &look.description;
    println!("{} ({})", d.name, look.origin);
    let field = |label: &str, value: &str| {
        if !value.is_empty() {
            println!("  {label:<10} {value}");
        }
    };
    field("author", &d.author);
    field("licence", &d.licence);
    field("dataset", &d.dataset);
    field(
        "width",
        &d.ngf.map(|n| format!("ngf {n}")).unwrap_or_default(),
    );
    if !d.material.is_empty() {
        println!("  material   {} files", d.material.len());
    }
    println!("  on songs it never saw:");
    for r in &d.reactivity {
        println!("    {}: {}", r.song, r.numbers);
    }
    let short = mvgen_look::shortfalls(&d.reactivity);
    if short.is_empty() {
        println!("  it reacts to music");
    } else {
        println!("  it falls short: {}", short.join("; "));
    }
    field("generator", &look.generator.display().to_string());
    field(
        "enhancer",
        &look
            .enhancer
            .as_ref()
            .map_or_else(|| "none".into(), |p| p.display().to_string()),
    );
    for note in &look.notes {
        println!("  note: {note}");
    }
    if let Some(sheet) = &look.sheet {
        println!("  contact sheet: {}", sheet.display());
    }
    Ok(())
}

/// What was asked, fixed when the job starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Job {
    name: String,
    /// The songs it is trained on, and the ones it is measured on.
    songs: Vec<PathBuf>,
    held_out: Vec<PathBuf>,
    material: Option<PathBuf>,
    #[serde(default = "director::Colours::before_the_choice")]
    colours: director::Colours,
    /// The look it starts from.
    from: LookId,
    from_generator: PathBuf,
    ngf: usize,
}

/// How the generator and the enhancer were fitted to the budget.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
struct Plan {
    pairs: usize,
    seconds_per_step: f64,
    /// Planned; after training, the epochs it trained.
    epochs: usize,
    enhancer_steps: u64,
    /// The job's seconds by which the generator's training ends: the epochs are fitted
    /// again to the time left after each one (`None` for a fixed `--epochs`).
    #[serde(default)]
    train_until_s: Option<f64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Stages done, with the seconds each took.
    done: Vec<(String, f64)>,
    plan: Option<Plan>,
    /// Seconds the generator's training has spent in runs that were stopped: a resumed
    /// job counts them, so it does not train past its budget.
    #[serde(default)]
    training_s: f64,
}

/// The job's folder and progress.
struct Runner {
    work: PathBuf,
    state: State,
    budget_s: f64,
    /// Seconds spent by earlier runs of the job, and when this run started.
    before_s: f64,
    started: Instant,
    bar: indicatif::ProgressBar,
}

impl Runner {
    fn spent(&self) -> f64 {
        self.before_s + self.started.elapsed().as_secs_f64()
    }

    fn save(&self) -> anyhow::Result<()> {
        crate::files::write_atomic(
            &self.work.join("state.json"),
            &serde_json::to_vec_pretty(&self.state)?,
        )
    }

    fn is_done(&self, stage: &str) -> bool {
        self.state.done.iter().any(|(s, _)| s == stage)
    }

    /// Run `stage` unless an earlier run finished it.
    fn stage(
        &mut self,
        stage: &str,
        what: &str,
        work: impl FnOnce(&mut Self) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if self.is_done(stage) {
            self.say(&format!("kept from before: {what}"));
            return Ok(());
        }
        self.bar.set_message(what.to_string());
        let start = Instant::now();
        work(self).with_context(|| what.to_string())?;
        let seconds = start.elapsed().as_secs_f64();
        self.state.done.push((stage.into(), seconds));
        self.save()?;
        self.say(&format!("{what}: {}", minutes(seconds)));
        Ok(())
    }

    /// A line above the bar (also where no bar is drawn).
    fn say(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Forget the stages from `stage` on, and their folders: they are made again.
    fn restart_from(&mut self, stage: &str, folders: &[&str]) -> anyhow::Result<()> {
        if let Some(i) = self.state.done.iter().position(|(s, _)| s == stage) {
            self.state.done.truncate(i);
        }
        self.state.plan = None;
        for f in folders {
            let _ = std::fs::remove_dir_all(self.work.join(f));
        }
        self.save()
    }
}

fn minutes(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.1} min", seconds / 60.0)
    }
}

/// The songs held out of training: about one in seven, at least one, at most
/// [`MAX_HELD_OUT`], spread through the sorted list.
fn hold_out(songs: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let n = songs.len();
    let held = (n as f64 * 0.15).round().clamp(1.0, MAX_HELD_OUT as f64) as usize;
    let picks: Vec<usize> = (0..held).map(|i| (2 * i + 1) * n / (2 * held)).collect();
    let (mut train, mut out) = (Vec::new(), Vec::new());
    for (i, s) in songs.iter().enumerate() {
        if picks.contains(&i) {
            out.push(s.clone());
        } else {
            train.push(s.clone());
        }
    }
    (train, out)
}

/// `mvgen look new`.
fn new(a: &LookNewArgs) -> anyhow::Result<()> {
    train::threads(a.threads)?;
    ensure!(a.minutes > 0.0, "--minutes must be above 0");
    let name = a.name.trim();
    ensure!(!name.is_empty(), "the look needs a name");
    let catalogue = Catalogue::load();
    if let Some(taken) = catalogue.get(name) {
        bail!(
            "a look named \"{}\" exists already ({}): choose another name, or `mvgen look rm \"{}\"` first",
            taken.name(),
            where_(taken),
            taken.name()
        );
    }
    let from = catalogue.find(&a.from).map_err(anyhow::Error::msg)?;
    let device = match a.device.as_str() {
        "auto" => train::backend::auto_device(),
        "cpu" => "cpu",
        "gpu" => "gpu",
        other => bail!("--device {other:?}: use auto, cpu or gpu"),
    };
    let songs = director::collect_songs(std::slice::from_ref(&a.songs))?;
    let (train_songs, held_out) = match &a.held_out {
        Some(dir) => {
            let held_out = director::collect_songs(std::slice::from_ref(dir))?;
            let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_os_string());
            if let Some(both) = held_out
                .iter()
                .find(|h| songs.iter().any(|s| stem(s) == stem(h)))
            {
                bail!(
                    "{} is in --songs and in --held-out: the look is measured on songs it never saw",
                    both.display()
                );
            }
            (songs, held_out)
        }
        None => {
            ensure!(
                songs.len() >= 2,
                "{} has {} song(s): give at least 2, because some are held out to measure the look on music it never saw (about 20 make a good look)",
                a.songs.display(),
                songs.len()
            );
            hold_out(&songs)
        }
    };
    let material = a
        .material
        .as_ref()
        .map(|m| {
            m.canonicalize()
                .with_context(|| format!("--material {}", m.display()))
        })
        .transpose()?;
    if let Some(m) = &material {
        // Read now: bad artwork is refused before anything is made.
        director::Material::load(m, a.colours.unwrap_or_default())?;
    }
    let mut job = Job {
        name: name.into(),
        songs: train_songs,
        held_out,
        material,
        colours: a.colours.unwrap_or_default(),
        from: from.id(),
        from_generator: from.generator.clone(),
        ngf: from.description.ngf.unwrap_or(16) as usize,
    };

    let work = mvgen_look::data_dir()
        .join("look-jobs")
        .join(mvgen_look::slug(name));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let _one_at_a_time = one_job_at_a_time(work.parent().expect("look-jobs"))?;
    let job_path = work.join("job.json");
    match std::fs::read(&job_path) {
        Ok(bytes) => {
            let saved: Job = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is damaged: remove {}",
                    job_path.display(),
                    work.display()
                )
            })?;
            if a.colours.is_none() {
                // Resumed without naming the colours: the job's own (a job made before
                // the choice existed used the music's).
                job.colours = saved.colours;
            }
            ensure!(
                saved == job,
                "{} holds another job for \"{name}\" (other songs, artwork or starting look): remove that folder to start again",
                work.display()
            );
        }
        Err(_) => crate::files::write_atomic(&job_path, &serde_json::to_vec_pretty(&job)?)?,
    }
    let state: State = std::fs::read(work.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let before_s = state.done.iter().map(|(_, s)| s).sum::<f64>() + state.training_s;
    if !state.done.is_empty() {
        eprintln!(
            "resuming \"{name}\" in {} ({} spent before)",
            work.display(),
            minutes(before_s)
        );
    }

    let budget_s = a.minutes * 60.0;
    let bar = crate::progress::styled(
        budget_s.ceil() as u64,
        "{bar:40} {percent:>3}% of the budget, eta {eta} | {msg}",
    );
    crate::progress::quiet();
    let mut run = Runner {
        work,
        state,
        budget_s,
        before_s,
        started: Instant::now(),
        bar,
    };
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = {
        let (bar, ticking, before, started) =
            (run.bar.clone(), ticking.clone(), run.before_s, run.started);
        std::thread::spawn(move || {
            while ticking.load(Ordering::Relaxed) {
                let spent = before + started.elapsed().as_secs_f64();
                bar.set_position((spent as u64).min(bar.length().unwrap_or(1).saturating_sub(1)));
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        })
    };
    let result = stages(&mut run, &job, a, device);
    ticking.store(false, Ordering::Relaxed);
    let _ = ticker.join();
    match result {
        Ok(installed) => {
            run.bar.finish_and_clear();
            eprintln!(
                "the look \"{name}\" is installed in {} ({} of {} budgeted); choose it in the plugin's Look chooser, or `mvgen render --look \"{name}\"`",
                installed.display(),
                minutes(run.spent()),
                minutes(budget_s)
            );
            let _ = std::fs::remove_dir_all(&run.work);
            Ok(())
        }
        Err(e) => {
            run.bar.abandon();
            Err(e)
        }
    }
}

/// Held while a job runs: a second `look new` on the machine is refused, because each
/// plans its training for the whole machine, and two at once thrash (BENCHMARKS.md).
fn one_job_at_a_time(jobs: &Path) -> anyhow::Result<std::fs::File> {
    let path = jobs.join(".running");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `mvgen look new` is running on this machine: make looks one at a time (each plans for all the cores)"
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn stages(run: &mut Runner, job: &Job, a: &LookNewArgs, device: &str) -> anyhow::Result<PathBuf> {
    let (videos, dataset_dir, run_dir, enhancer_dir, look_dir) = (
        run.work.join("videos"),
        run.work.join("dataset"),
        run.work.join("run"),
        run.work.join("enhancer"),
        run.work.join("look"),
    );
    let calibration = videos.join(director::CALIBRATION);
    let material = job
        .material
        .as_deref()
        .map(|m| director::Material::load(m, job.colours))
        .transpose()?;

    run.stage(
        "direct",
        &format!("directing {} songs", job.songs.len()),
        |_| {
            let cal = match std::fs::read(&calibration)
                .ok()
                .and_then(|b| serde_json::from_slice::<director::Calibration>(&b).ok())
            {
                Some(saved) => saved,
                None => {
                    let cal = director::calibrate(&job.songs)?;
                    std::fs::create_dir_all(&videos)?;
                    crate::files::write_atomic(&calibration, &serde_json::to_vec_pretty(&cal)?)?;
                    cal
                }
            };
            director::direct(&job.songs, &videos, &cal, material.as_ref())?;
            Ok(())
        },
    )?;

    run.stage("pairs", "pairing frames with their music", |_| {
        let seconds: f64 = dataset::collect_videos(std::slice::from_ref(&videos))?
            .iter()
            .map(|v| crate::media::probe(v).map_or(0.0, |p| p.duration_s))
            .sum();
        let frames = seconds * FPS.per_second() as f64;
        let recipe = dataset::Recipe {
            every: ((frames / PAIRS_WANTED) as usize).clamp(3, PAIR_EVERY),
            start_s: 2.0,
            end_s: 0.0,
            whole: true,
            fit: crate::media::Fit::Squash,
            val_fraction: 0.1,
            seed: 188,
        };
        let outcomes = dataset::build(std::slice::from_ref(&videos), &dataset_dir, &recipe)?;
        let pairs: usize = outcomes.iter().map(|o| o.pairs).sum();
        ensure!(
            pairs > 0,
            "the songs gave no pairs: are they over 3 s long?"
        );
        Ok(())
    })?;

    let cfg = TrainConfig {
        dataset: dataset_dir.clone(),
        dataset_name: job.name.clone(),
        backend: train::backend::DEFAULT.into(),
        snapshots: Vec::new(),
        sample_pairs: 4,
        init_from: Some(job.from_generator.clone()),
        ..TrainConfig::bench(job.ngf, 16, device)
    };
    if run.state.plan.is_none() {
        let plan = plan(run, &cfg, a.epochs)?;
        run.state.plan = Some(plan);
        run.save()?;
    }
    let mut plan = run.state.plan.expect("planned");
    let epochs = plan.epochs;
    run.stage(
        "train",
        &format!(
            "fine-tuning \"{}\" for {epochs} epochs of {} pairs",
            job.from.name, plan.pairs
        ),
        |run| {
            let cfg = TrainConfig {
                epochs: epochs.div_ceil(2),
                decay_epochs: epochs / 2,
                ..cfg.clone()
            };
            match plan.train_until_s {
                Some(until) => {
                    let left = std::time::Duration::from_secs_f64((until - run.spent()).max(0.0));
                    let (started, before) = (Instant::now(), run.state.training_s);
                    let mut note = || {
                        // Best effort: a lost note only lets a resumed job train longer.
                        run.state.training_s = before + started.elapsed().as_secs_f64();
                        let _ = run.save();
                    };
                    train::run_until(
                        cfg,
                        &run_dir,
                        train::Deadline {
                            until: Instant::now() + left,
                            most: MOST_EPOCHS,
                            after_epoch: &mut note,
                        },
                    )?;
                    // The stage's own seconds are this run's; earlier runs' stay noted.
                    run.state.training_s = before;
                    Ok(())
                }
                None => train::run(cfg, &run_dir, None),
            }
        },
    )?;
    if plan.train_until_s.is_some() {
        plan.epochs = train::read_config(&run_dir)?.total_epochs();
        run.state.plan = Some(plan);
        run.save()?;
    }

    let generator = look_dir.join(mvgen_look::GENERATOR);
    run.stage("export", "exporting the generator", |_| {
        train::export::export_run(&run_dir, None, job.name.clone(), &generator)?;
        Ok(())
    })?;

    let enhancer = look_dir.join(mvgen_look::ENHANCER);
    run.stage(
        "enhance",
        &format!("training its enhancer ({} steps)", plan.enhancer_steps),
        |_| {
            let sha256 = mvgen_core::model::inspect(&generator)?.sha256;
            let cfg = crate::enhance::EnhanceConfig {
                data: crate::enhance::data::Recipe {
                    // The held-out songs too: the enhancer learns texture, not reactions,
                    // and validates on a song it did not train on.
                    songs: job.songs.iter().chain(&job.held_out).cloned().collect(),
                    calibration: calibration.clone(),
                    material: job.material.clone(),
                    colours: job.colours,
                    generator: generator.clone(),
                    generator_sha256: sha256,
                    every_s: 3.0,
                    from_s: 2.0,
                    val_fraction: 0.15,
                    seed: 0,
                },
                channels: 16,
                steps: plan.enhancer_steps,
                batch: 16,
                lr: 3e-3,
                consistency: 3.0,
                grid: 10.0,
                seed: 0,
                name: format!("{} enhancer", job.name),
                threads: rayon::current_num_threads(),
            };
            crate::enhance::run(cfg, &enhancer_dir, &enhancer, &[])
        },
    )?;

    run.stage("measure", "measuring it on the held-out songs", |run| {
        let calibration: director::Calibration =
            serde_json::from_slice(&std::fs::read(&calibration)?)?;
        let made = (&calibration, material.as_ref());
        let description = measure(job, a, &look_dir, made, plan, (run.spent(), run.budget_s))?;
        crate::files::write_atomic(
            &look_dir.join(mvgen_look::DESCRIPTION),
            &serde_json::to_vec_pretty(&description)?,
        )
    })?;

    let description: Description = Description::parse(&std::fs::read_to_string(
        look_dir.join(mvgen_look::DESCRIPTION),
    )?)
    .map_err(anyhow::Error::msg)?;
    let short = mvgen_look::shortfalls(&description.reactivity);
    if !short.is_empty() {
        let ceiling = &description.made["director_on_held_out"];
        let mean = |key: &str| {
            let v: Vec<f64> = ceiling
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c[key].as_f64())
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let ceiling = format!(
            "the director's own videos of those songs reach variety {:.1} and coupling {:.2}",
            mean("variety"),
            mean("coupling")
        );
        // What was made stays to be looked at; the training is made again next time.
        let rejected = run.work.join("rejected");
        let _ = std::fs::remove_dir_all(&rejected);
        std::fs::rename(&look_dir, &rejected)?;
        run.restart_from("train", &["run", "enhancer", "look"])?;
        bail!(
            "\"{}\" does not react enough to the songs it never saw: {} ({ceiling}). It was not installed (its numbers and contact sheet are in {}). The directed videos and pairs are kept: run the same command with a larger --minutes (or other songs) to train it again",
            job.name,
            short.join("; "),
            rejected.display()
        );
    }
    install(&look_dir, &job.name)
}

/// Fit the generator's epochs and the enhancer's steps to the budget left.
fn plan(run: &Runner, cfg: &TrainConfig, fixed_epochs: Option<usize>) -> anyhow::Result<Plan> {
    let pairs = dataset::pairs::list(&cfg.dataset, "train").len();
    ensure!(pairs > 0, "the dataset has no training pairs");
    let seconds_per_step = LOOP_OVERHEAD * train::seconds_per_step(cfg)?;
    let enhancer_step = crate::enhance::seconds_per_step(16, 16);
    let left = run.budget_s - run.spent();
    // Measuring whole held-out songs and the sheet, on 2 cores: the director's videos of
    // three songs of 3.6 to 6 minutes took 2.0 min, and `mvgen render` made a look's
    // frames of the 3.7-minute one in 68 s.
    let reserve = 30.0 + 0.15 * run.budget_s;
    let for_training = left - reserve;
    let epoch_s = pairs as f64 * seconds_per_step;
    let epochs = if let Some(fixed) = fixed_epochs {
        ensure!(fixed >= 1, "--epochs must be at least 1");
        fixed
    } else if for_training > 0.0 {
        ((1.0 - ENHANCER_SHARE) * for_training / epoch_s).floor() as usize
    } else {
        0
    };
    if epochs == 0 {
        let needed = run.spent() + reserve + epoch_s / (1.0 - ENHANCER_SHARE);
        bail!(
            "the budget is too short to train a single epoch: one epoch of {pairs} pairs takes about {}, and {:.1} of the {:.1} minutes are left for training; give --minutes {:.0} or more (the work so far is kept)",
            minutes(epoch_s),
            for_training.max(0.0) / 60.0,
            run.budget_s / 60.0,
            (needed / 60.0).ceil()
        );
    }
    // Most of the enhancer's share trains; the rest makes its pairs.
    let enhancer_steps =
        (0.7 * ENHANCER_SHARE * for_training / enhancer_step).clamp(50.0, 4000.0) as u64;
    Ok(Plan {
        pairs,
        seconds_per_step,
        epochs: if fixed_epochs.is_some() {
            epochs
        } else {
            epochs.min(MOST_EPOCHS)
        },
        enhancer_steps,
        train_until_s: fixed_epochs
            .is_none()
            .then(|| run.spent() + (1.0 - ENHANCER_SHARE) * for_training),
    })
}

/// How the look in `look_dir` reacts to the held-out songs, its contact sheet and
/// thumbnail, and its description.
fn measure(
    job: &Job,
    a: &LookNewArgs,
    look_dir: &Path,
    (calibration, material): (&director::Calibration, Option<&director::Material>),
    plan: Plan,
    (spent_s, budget_s): (f64, f64),
) -> anyhow::Result<Description> {
    // The director's own videos of the held-out songs: the ceiling the look learns
    // towards, which says whether a look that falls short needs time or other songs.
    let mut ceiling = Vec::new();
    for song in &job.held_out {
        let r = director::reactivity(song, calibration, material)?;
        ceiling.push(serde_json::json!({
            "song": song.file_stem().map(|s| s.to_string_lossy().into_owned()),
            "variety": r.variety, "coupling": r.coupling, "motion": r.motion,
        }));
    }
    let config = mvgen_runtime::RuntimeConfig {
        execution: mvgen_runtime::Execution::Auto,
        cpu_threads: rayon::current_num_threads(),
    };
    let generator_path = look_dir.join(mvgen_look::GENERATOR);
    let mut generator = mvgen_runtime::Generator::load(&generator_path, &config)?;
    let mut reactions = Vec::new();
    let mut rows: Vec<Vec<Vec<u8>>> = Vec::new();
    for song in &job.held_out {
        let decoded = crate::audio::decode(song)?;
        let clock = FrameClock::new(FPS, decoded.rate_hz);
        let all = clock.num_whole_frames(decoded.mono.len() as i64);
        let span = ((SHEET_SECONDS * FPS.per_second() as f64) as i64).min(all);
        let first = (all - span) / 2;
        let moments: Vec<i64> = (0..SHEET_MOMENTS as i64)
            .map(|i| first + (2 * i + 1) * span / (2 * SHEET_MOMENTS as i64))
            .collect();
        let mut recorder = Recorder::default();
        let mut row = Vec::new();
        crate::render::frames(
            &decoded,
            FPS,
            &mut generator,
            0.0,
            0..all,
            |k, window, frame| {
                let rgb = frame.to_rgb8();
                recorder.push(&rgb, window);
                if moments.contains(&k) {
                    row.push(rgb);
                }
                Ok(())
            },
        )?;
        reactions.push(Reaction {
            song: song
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
            numbers: recorder.measure(FPS.per_second() as f64),
        });
        rows.push(row);
    }
    write_sheet(
        &rows,
        &look_dir.join(mvgen_look::SHEET),
        &look_dir.join(mvgen_look::THUMBNAIL),
    )?;
    let licence = a.licence.clone().unwrap_or_default();
    let sources = job
        .songs
        .iter()
        .chain(&job.held_out)
        .cloned()
        .chain(job.material.iter().flat_map(|m| {
            crate::files::collect(std::slice::from_ref(m), &["png", "jpg", "jpeg"])
                .unwrap_or_default()
        }))
        .map(|p| Source {
            file: p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            package: String::new(),
            licence: licence.clone(),
        })
        .collect();
    Ok(Description {
        author: a.author.clone().unwrap_or_default(),
        licence,
        material: sources,
        ngf: Some(job.ngf as u32),
        dataset: format!(
            "{} songs directed by mvgen{}",
            job.songs.len(),
            if job.material.is_some() {
                " with the artist's artwork"
            } else {
                ""
            }
        ),
        reactivity: reactions,
        made: serde_json::json!({
            "command": "mvgen look new",
            "from": job.from,
            "budget_minutes": budget_s / 60.0,
            "minutes_to_measure": spent_s / 60.0,
            "pairs": plan.pairs,
            "epochs": plan.epochs,
            "colours": job.material.is_some().then_some(job.colours),
            "seconds_per_step": plan.seconds_per_step,
            "enhancer_steps": plan.enhancer_steps,
            "held_out": job.held_out.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
            "director_on_held_out": ceiling,
            "mvgen": env!("CARGO_PKG_VERSION"),
        }),
        ..Description::named(&job.name)
    })
}

/// A contact sheet (a row of moments per held-out song, 256x256 frames with a 4-pixel
/// gap) and a thumbnail (the first song's middle moment, 128x128).
fn write_sheet(rows: &[Vec<Vec<u8>>], sheet: &Path, thumbnail: &Path) -> anyhow::Result<()> {
    const SIDE: u32 = mvgen_core::spectrogram::SIZE as u32;
    const GAP: u32 = 4;
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    ensure!(columns > 0, "no frames to show");
    let mut img = image::RgbImage::new(
        columns * (SIDE + GAP) - GAP,
        rows.len() as u32 * (SIDE + GAP) - GAP,
    );
    for (r, row) in rows.iter().enumerate() {
        for (c, rgb) in row.iter().enumerate() {
            let frame = image::RgbImage::from_raw(SIDE, SIDE, rgb.clone()).context("a frame")?;
            image::imageops::replace(
                &mut img,
                &frame,
                (c as u32 * (SIDE + GAP)) as i64,
                (r as u32 * (SIDE + GAP)) as i64,
            );
        }
    }
    let png = |img: &image::RgbImage| -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )?;
        Ok(bytes)
    };
    crate::files::write_atomic(sheet, &png(&img)?)?;
    let middle = &rows[0][rows[0].len() / 2];
    let frame = image::RgbImage::from_raw(SIDE, SIDE, middle.clone()).context("a frame")?;
    let small = image::imageops::resize(
        &frame,
        SIDE / 2,
        SIDE / 2,
        image::imageops::FilterType::Triangle,
    );
    crate::files::write_atomic(thumbnail, &png(&small)?)
}

/// Move the finished look into the user's folder under its name.
fn install(look_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let folder = mvgen_look::user_folder();
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let target = folder.join(mvgen_look::slug(name));
    ensure!(
        !target.exists(),
        "{} exists already: remove it or choose another name",
        target.display()
    );
    // Copied under a hidden name (looks skip those), then renamed whole.
    let part = folder.join(format!(".{}.part", mvgen_look::slug(name)));
    let _ = std::fs::remove_dir_all(&part);
    std::fs::create_dir_all(&part)?;
    for entry in std::fs::read_dir(look_dir)? {
        let entry = entry?;
        std::fs::copy(entry.path(), part.join(entry.file_name()))
            .with_context(|| format!("copying {}", entry.path().display()))?;
    }
    std::fs::rename(&part, &target)?;
    // It must be a look now, as anyone will read it.
    let mut check = Catalogue::default();
    check.scan(&[(mvgen_look::Origin::User, folder)]);
    ensure!(
        check
            .get(name)
            .is_some_and(|l| l.location.as_deref() == Some(target.as_path())),
        "the installed look does not read back: {}",
        check
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_songs_are_spread_and_bounded() {
        let songs = |n: usize| {
            (0..n)
                .map(|i| PathBuf::from(format!("{i:02}.ogg")))
                .collect::<Vec<_>>()
        };
        let (train, held) = hold_out(&songs(2));
        assert_eq!((train.len(), held.len()), (1, 1));
        let (train, held) = hold_out(&songs(20));
        assert_eq!((train.len(), held.len()), (17, 3));
        assert_eq!(
            held,
            [
                PathBuf::from("03.ogg"),
                PathBuf::from("10.ogg"),
                PathBuf::from("16.ogg")
            ]
        );
        assert_eq!(hold_out(&songs(100)).1.len(), MAX_HELD_OUT);
    }
}
