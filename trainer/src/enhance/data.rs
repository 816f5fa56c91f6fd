//! What the enhancer learns from: for moments of songs, the generator's frame (the input,
//! exactly as the generator makes it for that moment's window) and the true picture of
//! the moment at 1024x1024 (the target), drawn by the director, which draws at any size,
//! with the same calibration (and material) the generator was trained on.
//!
//! The pairs are written once into the run folder (`data/`, PNG, with `index.json`), so
//! a resumed run does not make them again. Songs are split between training and
//! validation whole, by a seeded hash, as datasets are.

use crate::dataset::director::{self, Calibration, Colours, Features, Material};
use anyhow::{ensure, Context};
use mvgen_core::model::ENHANCED_SIDE;
use mvgen_core::spectrogram::SIZE;
use mvgen_core::Frame;
use mvgen_runtime::{Generator, RuntimeConfig};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One moment: the generator's frame and the true picture, 8-bit interleaved RGB.
pub struct Pair {
    /// 256x256.
    pub frame: Vec<u8>,
    /// 1024x1024.
    pub target: Vec<u8>,
}

/// Where a pair came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Moment {
    pub song: String,
    pub frame_index: usize,
    pub val: bool,
}

/// How the pairs are made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recipe {
    pub songs: Vec<PathBuf>,
    /// The director's calibration (`director.json`), as the generator's videos used.
    pub calibration: PathBuf,
    pub material: Option<PathBuf>,
    #[serde(default = "Colours::before_the_choice")]
    pub colours: Colours,
    /// The generator whose frames are enlarged, and its hash.
    pub generator: PathBuf,
    pub generator_sha256: String,
    /// A moment every this many seconds of each song, from `from_s`.
    pub every_s: f64,
    pub from_s: f64,
    /// Songs in validation: this fraction of them (at least one when there are two).
    pub val_fraction: f64,
    pub seed: u64,
}

/// The pairs of a run: made into `dir` on the first call, read back after that.
pub fn pairs(dir: &Path, recipe: &Recipe) -> anyhow::Result<(Vec<Moment>, Vec<Pair>)> {
    let index = dir.join("index.json");
    if let Ok(bytes) = std::fs::read(&index) {
        let saved: (Recipe, Vec<Moment>) = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged: delete it to make the pairs again",
                index.display()
            )
        })?;
        ensure!(
            saved.0 == *recipe,
            "{} holds pairs made another way (other songs, generator, artwork, colours or settings): use a new run folder",
            dir.display()
        );
        let pairs = read(dir, &saved.1)?;
        return Ok((saved.1, pairs));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (moments, pairs) = make(recipe)?;
    for (i, pair) in pairs.iter().enumerate() {
        write_png(&dir.join(format!("{i:06}.frame.png")), &pair.frame, SIZE)?;
        write_png(
            &dir.join(format!("{i:06}.target.png")),
            &pair.target,
            ENHANCED_SIDE,
        )?;
    }
    crate::files::write_atomic(&index, &serde_json::to_vec_pretty(&(recipe, &moments))?)?;
    Ok((moments, pairs))
}

fn write_png(path: &Path, rgb: &[u8], side: usize) -> anyhow::Result<()> {
    crate::files::write_atomic(path, &mvgen_core::frame::rgb8_to_png(rgb, side))
}

fn read(dir: &Path, moments: &[Moment]) -> anyhow::Result<Vec<Pair>> {
    (0..moments.len())
        .into_par_iter()
        .map(|i| {
            let load = |name: String, side: usize| -> anyhow::Result<Vec<u8>> {
                let path = dir.join(name);
                let image = image::open(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .to_rgb8();
                ensure!(
                    image.width() as usize == side,
                    "{} is not {side} wide",
                    path.display()
                );
                Ok(image.into_raw())
            };
            Ok(Pair {
                frame: load(format!("{i:06}.frame.png"), SIZE)?,
                target: load(format!("{i:06}.target.png"), ENHANCED_SIDE)?,
            })
        })
        .collect()
}

/// Make the pairs: each song's moments, the generator's frame for each (on 2 CPU
/// threads: the same runtime as everywhere) and the director's picture at 1024.
fn make(recipe: &Recipe) -> anyhow::Result<(Vec<Moment>, Vec<Pair>)> {
    let calibration: Calibration = serde_json::from_slice(
        &std::fs::read(&recipe.calibration)
            .with_context(|| format!("reading {}", recipe.calibration.display()))?,
    )
    .with_context(|| {
        format!(
            "{} is not a director calibration",
            recipe.calibration.display()
        )
    })?;
    let material = recipe
        .material
        .as_deref()
        .map(|m| Material::load_at(m, ENHANCED_SIDE, recipe.colours))
        .transpose()?;
    let config = RuntimeConfig {
        execution: mvgen_runtime::Execution::Cpu,
        cpu_threads: 2,
    };
    let mut generator = Generator::load(&recipe.generator, &config)
        .with_context(|| format!("loading {}", recipe.generator.display()))?;
    let names: Vec<String> = recipe.songs.iter().map(|s| stem(s)).collect();
    let val = crate::dataset::val_videos(
        &names,
        &crate::dataset::Recipe {
            every: 1,
            start_s: 0.0,
            end_s: 0.0,
            whole: true,
            fit: crate::media::Fit::Squash,
            val_fraction: recipe.val_fraction,
            seed: recipe.seed,
        },
    );
    let bar = crate::progress::bar(recipe.songs.len() as u64, "songs made into pairs");
    let every = (recipe.every_s * director::FPS.per_second() as f64)
        .round()
        .max(1.0) as usize;
    let first = (recipe.from_s * director::FPS.per_second() as f64).round() as usize;
    let (mut moments, mut pairs) = (Vec::new(), Vec::new());
    let mut frame = Frame::default();
    for (song, name) in recipe.songs.iter().zip(&names) {
        let decoded = match crate::audio::decode(song) {
            Ok(d) => d,
            Err(e) => {
                bar.println(format!("skipped {}: {e:#}", song.display()));
                bar.inc(1);
                continue;
            }
        };
        let wanted = |k: usize| k >= first && (k - first).is_multiple_of(every);
        director::for_windows(&decoded, wanted, |k, window| {
            generator
                .run(window, &mut frame)
                .with_context(|| format!("{name}, frame {k}"))?;
            let target = director::draw_at(
                &Features::of(window),
                &calibration,
                material.as_ref(),
                ENHANCED_SIDE,
            );
            moments.push(Moment {
                song: name.clone(),
                frame_index: k,
                val: val.contains(name),
            });
            pairs.push(Pair {
                frame: frame.to_rgb8(),
                target,
            });
            Ok(())
        })?;
        bar.set_message(format!("{} pairs", pairs.len()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    ensure!(
        !moments.is_empty(),
        "the songs gave no moments: give longer songs (or a smaller --from)"
    );
    Ok((moments, pairs))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}
