//! `mvgen dataset build`: a folder of music videos becomes Pix2Pix pairs, as in the paper.
//!
//! Every Nth frame (default 45) between a start and an end (default 30 s and 90 s) is
//! scaled to 256x256 and paired with the contract's spectrogram of the 1.5 s of audio
//! before it, computed by the same code the plugin runs (`mvgen_core`), on the video's
//! audio mixed down and resampled to 44.1 kHz from the start of the file (the stream's
//! hop grid starts there, as it does for `mvgen render` and a bounce from the start).
//!
//! The output is pix2pix's aligned layout: `train/` and `val/` hold 512x256 PNGs, the
//! spectrogram (grey, as RGB) on the left and the frame on the right. The split is by
//! video, seeded, so no video's frames leak between the two. `manifest.csv` records each
//! pair's source and time; `summary.json` counts pairs per video and gives the reason for
//! every skipped video. Files are written to a temporary name and renamed, so a killed
//! run never leaves a half-written pair. Videos already done are skipped on a re-run.

pub mod director;
pub mod pairs;
pub mod synth;

use crate::files::write_atomic;
use crate::media::{self, Fit, Probe};
use anyhow::{bail, Context};
use mvgen_core::resample::StreamResampler;
use mvgen_core::spectrogram::{window_from_signal, ColumnAnalyser, SIZE};
use mvgen_core::FrameClock;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The paper's recipe, and how to split and write it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recipe {
    /// Take every Nth frame.
    pub every: usize,
    pub start_s: f64,
    pub end_s: f64,
    /// Take frames through to each video's end (to half a second before it) instead of
    /// stopping at `end_s`.
    #[serde(default)]
    pub whole: bool,
    pub fit: Fit,
    /// Fraction of the videos that go to `val/`.
    pub val_fraction: f64,
    pub seed: u64,
}

/// One pair, as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairRecord {
    pub file: String,
    pub split: String,
    pub video: String,
    pub frame_index: u64,
    pub frame_time_s: f64,
    pub window_end_44k: i64,
}

/// What happened to one video.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VideoOutcome {
    pub video: String,
    pub pairs: usize,
    pub skipped: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done {
    recipe: Recipe,
    source_bytes: u64,
    pairs: Vec<PairRecord>,
}

pub const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "mov", "mkv", "webm", "avi", "m4v", "mpg", "ts"];

/// Video files among `inputs` (files, or folders searched one level deep), sorted.
pub fn collect_videos(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    crate::files::collect(inputs, &VIDEO_EXTENSIONS)
}

/// Which videos go to `val/`: a seeded shuffle, and at least one when there are two or more.
pub fn val_videos(videos: &[String], recipe: &Recipe) -> Vec<String> {
    let mut order: Vec<(u64, &String)> = videos.iter().map(|v| (hash(recipe.seed, v), v)).collect();
    order.sort();
    let n = if videos.len() >= 2 {
        ((videos.len() as f64 * recipe.val_fraction).round() as usize).max(1)
    } else {
        0
    };
    order.into_iter().take(n).map(|(_, v)| v.clone()).collect()
}

fn hash(seed: u64, s: &str) -> u64 {
    // FNV-1a, seeded: stable across runs and platforms.
    s.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

pub fn build(inputs: &[PathBuf], out: &Path, recipe: &Recipe) -> anyhow::Result<Vec<VideoOutcome>> {
    anyhow::ensure!(recipe.every >= 1, "--every must be at least 1");
    anyhow::ensure!(
        (recipe.whole || recipe.end_s > recipe.start_s) && recipe.start_s >= 0.0,
        "--end must come after --start"
    );
    let videos = collect_videos(inputs)?;
    anyhow::ensure!(!videos.is_empty(), "no videos found in the inputs");
    for split in ["train", "val"] {
        std::fs::create_dir_all(out.join(split))
            .with_context(|| format!("creating {}", out.join(split).display()))?;
    }
    std::fs::create_dir_all(out.join(".done"))?;
    let names: Vec<String> = videos.iter().map(|v| stem(v)).collect();
    let val = val_videos(&names, recipe);

    let bar = crate::progress::bar(videos.len() as u64, "videos");
    let results: Vec<(VideoOutcome, Vec<PairRecord>)> = videos
        .par_iter()
        .zip(names.par_iter())
        .map(|(video, name)| {
            let split = if val.contains(name) { "val" } else { "train" };
            let result = build_video(video, name, split, out, recipe);
            bar.inc(1);
            match result {
                Ok(pairs) => (
                    VideoOutcome {
                        video: name.clone(),
                        pairs: pairs.len(),
                        skipped: None,
                    },
                    pairs,
                ),
                Err(e) => {
                    bar.println(format!("skipped {name}: {e:#}"));
                    (
                        VideoOutcome {
                            video: name.clone(),
                            pairs: 0,
                            skipped: Some(format!("{e:#}")),
                        },
                        Vec::new(),
                    )
                }
            }
        })
        .collect();
    bar.finish_and_clear();

    let mut rows: Vec<PairRecord> = results.iter().flat_map(|(_, p)| p.clone()).collect();
    rows.sort_by(|a, b| (&a.video, a.frame_index).cmp(&(&b.video, b.frame_index)));
    let mut csv = String::from("file,split,video,frame_index,frame_time_s,window_end_44k\n");
    for r in &rows {
        csv.push_str(&format!(
            "{},{},{},{},{:.6},{}\n",
            r.file, r.split, r.video, r.frame_index, r.frame_time_s, r.window_end_44k
        ));
    }
    write_atomic(&out.join("manifest.csv"), csv.as_bytes())?;
    let outcomes: Vec<VideoOutcome> = results.into_iter().map(|(o, _)| o).collect();
    let summary = serde_json::json!({ "recipe": recipe, "pairs": rows.len(), "videos": outcomes });
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok(outcomes)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace([',', ' '], "_"))
        .unwrap_or_default()
}

/// With `Recipe::whole`, how far before a video's end its last frame may be: clear of a
/// last frame or audio packet that a container's duration counts but a decoder may not
/// give.
const WHOLE_MARGIN_S: f64 = 0.5;

/// Which frames the recipe takes from a video at `fps` that is `duration_s` long:
/// (first frame index, count).
pub fn frame_plan(recipe: &Recipe, fps: f64) -> (u64, usize) {
    let first = (recipe.start_s * fps - 1e-6).ceil().max(0.0) as u64;
    let mut count = 0;
    while ((first + (count * recipe.every) as u64) as f64) / fps < recipe.end_s - 1e-9 {
        count += 1;
    }
    (first, count)
}

fn build_video(
    video: &Path,
    name: &str,
    split: &str,
    out: &Path,
    recipe: &Recipe,
) -> anyhow::Result<Vec<PairRecord>> {
    let source_bytes = std::fs::metadata(video)
        .with_context(|| format!("reading {}", video.display()))?
        .len();
    let done_path = out.join(".done").join(format!("{name}.json"));
    if let Ok(done) = std::fs::read(&done_path)
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok(serde_json::from_slice::<Done>(&b)?))
    {
        if done.recipe == *recipe
            && done.source_bytes == source_bytes
            && done
                .pairs
                .iter()
                .all(|p| out.join(&p.file).exists() && p.split == split)
        {
            return Ok(done.pairs);
        }
    }
    let Probe {
        duration_s,
        video: v,
        audio: a,
    } = media::probe(video)?;
    let Some(v) = v else { bail!("no video track") };
    let Some(a) = a else { bail!("no audio track") };
    if v.width < 16 || v.height < 16 || v.fps <= 0.0 {
        bail!(
            "unusable video stream ({}x{} at {:.3} fps)",
            v.width,
            v.height,
            v.fps
        );
    }
    if (v.r_fps - v.fps).abs() > 0.01 * v.fps {
        bail!(
            "variable frame rate ({:.3} fps average, {:.3} fps base): frame times would be guesses",
            v.fps,
            v.r_fps
        );
    }
    let whole = Recipe {
        end_s: duration_s - WHOLE_MARGIN_S,
        ..recipe.clone()
    };
    let recipe = if recipe.whole { &whole } else { recipe };
    if recipe.whole && recipe.end_s <= recipe.start_s {
        bail!("shorter than --start ({duration_s:.1} s)");
    }
    if duration_s < recipe.end_s {
        bail!(
            "shorter than the window ({duration_s:.1} s < --end {:.1} s): try --start/--end",
            recipe.end_s
        );
    }
    let (first, count) = frame_plan(recipe, v.fps);
    let frames = media::decode_frames(
        video,
        (first as f64 - 0.25) / v.fps,
        count,
        recipe.every,
        SIZE as u32,
        recipe.fit,
    )?;
    if frames.len() != count {
        bail!(
            "the stream ended or broke after {} of {count} frames (corrupt mid-file?)",
            frames.len()
        );
    }
    let mono = media::decode_audio_mono(video, &a, recipe.end_s + 1.0)?;
    let needed = (recipe.end_s * a.rate_hz as f64) as usize;
    if mono.len() < needed.saturating_sub(a.rate_hz as usize / 10) {
        bail!(
            "the audio ends at {:.2} s, before the window does",
            mono.len() as f64 / a.rate_hz as f64
        );
    }
    let signal = StreamResampler::resample_all(a.rate_hz, &mono)
        .with_context(|| format!("resampling {} Hz audio", a.rate_hz))?;

    let mut columns = ColumnAnalyser::new();
    let mut pairs = Vec::with_capacity(count);
    for (j, rgb) in frames.iter().enumerate() {
        let frame_index = first + (j * recipe.every) as u64;
        let time_s = frame_index as f64 / v.fps;
        let end = FrameClock::window_end_at_seconds(time_s, a.rate_hz);
        let spectrogram = window_from_signal(&signal, end, &mut columns).to_gray8();
        let file = format!("{split}/{name}_{frame_index:06}.png");
        write_atomic(&out.join(&file), &pair_png(&spectrogram, rgb)?)?;
        pairs.push(PairRecord {
            file,
            split: split.into(),
            video: name.into(),
            frame_index,
            frame_time_s: time_s,
            window_end_44k: end.samples(),
        });
    }
    let done = Done {
        recipe: recipe.clone(),
        source_bytes,
        pairs: pairs.clone(),
    };
    write_atomic(&done_path, &serde_json::to_vec(&done)?)?;
    Ok(pairs)
}

/// A 512x256 aligned pair: A (spectrogram, grey as RGB) left, B (frame) right.
pub fn pair_png(gray: &[u8], rgb: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut image = image::RgbImage::new(2 * SIZE as u32, SIZE as u32);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let g = gray[y * SIZE + x];
            image.put_pixel(x as u32, y as u32, image::Rgb([g, g, g]));
            let i = 3 * (y * SIZE + x);
            image.put_pixel(
                (SIZE + x) as u32,
                y as u32,
                image::Rgb([rgb[i], rgb[i + 1], rgb[i + 2]]),
            );
        }
    }
    let mut bytes = Vec::new();
    image.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    Ok(bytes)
}

/// `mvgen dataset show`: the first `num_pairs` pairs of `train/` then `val/`, in rows of
/// two, spectrogram beside frame: the paper's figure of input/output pairs. Reads any
/// aligned dataset, ours or not, through [`pairs::load_pair`].
pub fn contact_sheet(dataset: &Path, out: &Path, num_pairs: usize) -> anyhow::Result<()> {
    let mut files = pairs::list(dataset, "train");
    files.extend(pairs::list(dataset, "val"));
    anyhow::ensure!(
        !files.is_empty(),
        "{} holds no pairs in train/ or val/",
        dataset.display()
    );
    let files = &files[..num_pairs.min(files.len())];
    let columns = 2u32;
    let rows = (files.len() as u32).div_ceil(columns);
    let size = SIZE as u32;
    let mut sheet = image::RgbImage::new(columns * 2 * size, rows * size);
    for (i, file) in files.iter().enumerate() {
        let pair = pairs::load_pair(file)?;
        let gray = pair.spectrogram.to_gray8();
        let a = image::RgbImage::from_fn(size, size, |x, y| {
            let g = gray[(y * size + x) as usize];
            image::Rgb([g, g, g])
        });
        let (x, y) = ((i as u32 % columns) * 2 * size, (i as u32 / columns) * size);
        image::imageops::replace(&mut sheet, &a, x as i64, y as i64);
        image::imageops::replace(&mut sheet, &pair.frame, (x + size) as i64, y as i64);
    }
    sheet
        .save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("{} pairs -> {}", files.len(), out.display());
    Ok(())
}
