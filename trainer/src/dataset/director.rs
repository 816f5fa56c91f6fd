//! `mvgen dataset direct`: music videos directed by their music, for people who have songs
//! (and perhaps artwork) but no music videos to learn a look from.
//!
//! A generator sees only the last 1.5 s of audio, so it can learn only the part of a
//! picture that is a function of that window, and learns it best where the function is
//! smooth. The director is such a function, by construction: each frame is drawn from the
//! very window the generator will see for it (the contract's spectrogram, through
//! `mvgen_core`), described by a few musical numbers:
//! - the level of low, mid and high frequencies over the last 0.5 s, and overall;
//! - the spectral centroid (how bright the sound is);
//! - onsets (how much the level rose in the last 0.25 s);
//! - lift (the last 0.5 s against the whole 1.5 s: a build or a drop).
//!
//! Each number is mapped through its own spread over all the songs being directed (the
//! 5th to 95th percentile, saved as `director.json`), so that ordinary musical change
//! uses the whole visual range. The picture: a two-hue palette set by the brightness of
//! the sound and the treble, lit by its level; a kaleidoscopic interference field whose
//! scale follows the mids and treble, whose phase follows the bass and whose twist follows
//! the lift; a ring that widens with the level and a bloom that swells with the bass,
//! both flaring on onsets. With
//! `--material`, the artist's images (each stretched to its full contrast) show through
//! where the field is low: the brightness of the music walks through them, the bass zooms
//! them, the palette tints them and the level lights them. The palette's hues are then
//! the artwork's own ([`Colours::Artwork`], a path through its strongest hues along which
//! the music moves, drawn as dark shades against pale tints), or the music's choice from
//! the whole wheel ([`Colours::Music`]).
//!
//! Every number moves smoothly with the window (it slides 33 ms a frame), so the video
//! moves with the music and does not flicker. The videos then go through the ordinary
//! pipeline: `mvgen dataset build`, `train`, `eval`, `export`.

use crate::audio;
use anyhow::{ensure, Context};
use indicatif::ProgressBar;
use mvgen_core::spectrogram::SIZE;
use mvgen_core::{Analyser, Fps, FrameClock, SpectrogramWindow, WindowError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f32::consts::{PI, TAU};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The frame rate of directed videos.
pub const FPS: Fps = Fps::F30;
/// The calibration file in the output folder.
pub const CALIBRATION: &str = "director.json";
/// Audio files the director reads.
pub const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "flac", "ogg", "mp3", "m4a", "aiff", "aif"];
const NUM_FEATURES: usize = 7;
const FEATURE_NAMES: [&str; NUM_FEATURES] =
    ["low", "mid", "high", "level", "centroid", "onset", "lift"];

/// The musical numbers of one window, before calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features([f32; NUM_FEATURES]);

/// Mean image value (the contract's dB mapping, -1..1) of bins `lo..hi` over columns
/// `c0..c1` (column 255 is the newest).
fn level(window: &SpectrogramWindow, lo: usize, hi: usize, c0: usize, c1: usize) -> f32 {
    let pixels = window.pixels();
    let mut sum = 0.0;
    for bin in lo..hi {
        let row = &pixels[(SIZE - 1 - bin) * SIZE..(SIZE - bin) * SIZE];
        sum += row[c0..c1].iter().sum::<f32>();
    }
    sum / ((hi - lo) * (c1 - c0)) as f32
}

/// Columns per second of audio: one per 257 samples at 44.1 kHz.
const COLUMNS_PER_S: f32 = 44_100.0 / 257.0;

impl Features {
    pub fn of(window: &SpectrogramWindow) -> Self {
        let recent = SIZE - (0.5 * COLUMNS_PER_S) as usize;
        let last = SIZE - (0.25 * COLUMNS_PER_S) as usize;
        let before = recent - (0.25 * COLUMNS_PER_S) as usize;
        // Bins are 86 Hz apart: low 86-344 Hz, mid 344-2 756 Hz, high 2.8-11 kHz.
        let low = level(window, 1, 4, recent, SIZE);
        let mid = level(window, 4, 32, recent, SIZE);
        let high = level(window, 32, 128, recent, SIZE);
        let all = level(window, 1, SIZE, recent, SIZE);
        let context = level(window, 1, SIZE, 0, SIZE);
        let onset = level(window, 1, SIZE, last, SIZE) - level(window, 1, SIZE, before, last);
        // Centroid over the recent columns, in bins, with power from the dB mapping.
        let pixels = window.pixels();
        let (mut weighted, mut total) = (0.0f32, 0.0f32);
        for bin in 1..SIZE {
            let row = &pixels[(SIZE - 1 - bin) * SIZE..(SIZE - bin) * SIZE];
            let v = row[recent..].iter().sum::<f32>() / (SIZE - recent) as f32;
            // -1..1 spans 110 dB: back to power, relative.
            let power = 10f32.powf(v * 5.5);
            weighted += power * (bin as f32).ln();
            total += power;
        }
        let centroid = if total > 0.0 { weighted / total } else { 0.0 };
        Self([low, mid, high, all, centroid, onset, all - context])
    }
}

/// Where each feature's ordinary range lies, over the songs being directed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    pub version: u32,
    pub features: Vec<String>,
    /// 5th and 95th percentiles.
    pub low: Vec<f32>,
    pub high: Vec<f32>,
    /// The songs it was measured on.
    pub songs: Vec<String>,
}

impl Calibration {
    fn from_samples(samples: &[Features], songs: Vec<String>) -> Self {
        let quantile = |i: usize, q: f64| {
            let mut v: Vec<f32> = samples.iter().map(|f| f.0[i]).collect();
            v.sort_by(f32::total_cmp);
            v[((v.len() - 1) as f64 * q).round() as usize]
        };
        Self {
            version: 1,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            low: (0..NUM_FEATURES).map(|i| quantile(i, 0.05)).collect(),
            high: (0..NUM_FEATURES).map(|i| quantile(i, 0.95)).collect(),
            songs,
        }
    }

    /// Each feature mapped to 0..1 by its range (outliers clamped).
    fn normalise(&self, f: &Features) -> [f32; NUM_FEATURES] {
        std::array::from_fn(|i| {
            let span = (self.high[i] - self.low[i]).max(1e-6);
            ((f.0[i] - self.low[i]) / span).clamp(0.0, 1.0)
        })
    }
}

/// Where the colours of pictures directed with artwork come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Colours {
    /// The artwork's own hues, along which the music moves.
    #[default]
    Artwork,
    /// The whole colour wheel, chosen by the music (as without artwork).
    Music,
}

impl Colours {
    /// What jobs and recipes made before the choice existed used.
    pub fn before_the_choice() -> Self {
        Self::Music
    }
}

/// The artist's images, square RGB as floats in 0..1, at the size the pictures are drawn,
/// and the hues they are painted in (`None`: the music chooses them).
pub struct Material {
    side: usize,
    images: Vec<Vec<[f32; 3]>>,
    hues: Option<HuePath>,
}

impl Material {
    /// The images at 256x256, as the videos are drawn.
    pub fn load(dir: &Path, colours: Colours) -> anyhow::Result<Self> {
        Self::load_at(dir, SIZE, colours)
    }

    /// The images at `side` x `side`: the director can draw at any size.
    pub fn load_at(dir: &Path, side: usize, colours: Colours) -> anyhow::Result<Self> {
        let paths = crate::files::collect(&[dir.to_path_buf()], &["png", "jpg", "jpeg"])?;
        ensure!(
            !paths.is_empty(),
            "{} holds no PNG or JPEG images",
            dir.display()
        );
        let square = |img: &image::DynamicImage, side: usize| {
            let img = img
                .resize_to_fill(side as u32, side as u32, image::imageops::Lanczos3)
                .to_rgb8();
            levelled(
                img.pixels()
                    .map(|px| px.0.map(|c| c as f32 / 255.0))
                    .collect(),
            )
        };
        let mut images = Vec::with_capacity(paths.len());
        let mut swatches = Vec::new();
        for p in &paths {
            let img = image::open(p).with_context(|| format!("reading {}", p.display()))?;
            images.push(square(&img, side));
            // The palette from the same small copy at every drawing size, so that the
            // enhancer's large pictures have exactly the generator's colours.
            swatches.extend(square(&img, PALETTE_SIDE));
        }
        Ok(Self {
            side,
            images,
            hues: (colours == Colours::Artwork).then(|| HuePath::of(&swatches)),
        })
    }

    /// The material at walk position `at` (0..1 through the images), zoomed by `zoom` (1:
    /// as is) about the centre, at pixel (x, y) of a picture `side` pixels wide.
    fn sample(&self, at: f32, zoom: f32, x: usize, y: usize, side: usize) -> [f32; 3] {
        let n = self.images.len();
        let pos = at * (n - 1) as f32;
        let (i, frac) = (pos.floor() as usize, pos.fract());
        let j = (i + 1).min(n - 1);
        // The picture's pixel in the material's own resolution.
        let to_material = |v: usize| {
            if side == self.side {
                v as f32
            } else {
                (v as f32 + 0.5) * self.side as f32 / side as f32 - 0.5
            }
        };
        let c = (self.side as f32 - 1.0) / 2.0;
        let last = self.side as f32 - 1.0;
        let sx = (c + (to_material(x) - c) / zoom).round().clamp(0.0, last) as usize;
        let sy = (c + (to_material(y) - c) / zoom).round().clamp(0.0, last) as usize;
        let at = sy * self.side + sx;
        let (a, b) = (self.images[i][at], self.images[j][at]);
        [0, 1, 2].map(|k| a[k] * (1.0 - frac) + b[k] * frac)
    }
}

/// An image stretched so its luminance spans 0..1 (2nd to 98th percentile; each channel
/// by the same amount): a dark wallpaper shows its contrast as much as a light one, so the
/// music's brightness, not the artwork's, decides how bright the picture is.
fn levelled(mut pixels: Vec<[f32; 3]>) -> Vec<[f32; 3]> {
    if pixels.is_empty() {
        return pixels;
    }
    let luma = |p: &[f32; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    let mut sorted: Vec<f32> = pixels.iter().map(luma).collect();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q) as usize];
    let (low, high) = (at(0.02), at(0.98));
    // A near-flat image stays as it is: stretched, it would be noise.
    if high - low > 0.1 {
        for p in &mut pixels {
            *p = p.map(|c| ((c - low) / (high - low)).clamp(0.0, 1.0));
        }
    }
    pixels
}

/// The side of the copy of each image the palette is taken from.
const PALETTE_SIDE: usize = 64;

/// The artwork's palette as a path round the colour wheel: through the hues its pixels
/// show most (weighted by how colourful each pixel is), the shortest way. The music moves
/// along it, so a look's colours are its artwork's, whatever the song.
#[derive(Debug, Clone, PartialEq)]
struct HuePath {
    /// Hues in order along the path, unwrapped (each at least the one before; they may
    /// pass 1.0).
    knots: Vec<f32>,
}

impl HuePath {
    /// Hue bins of the histogram the palette is read from.
    const BINS: usize = 36;
    /// The most hues the palette keeps.
    const MOST: usize = 3;
    /// A peak counts when it holds at least this share of the strongest one.
    const SHARE: f32 = 0.2;
    /// The least span of the path: music needs room to move the colour.
    const LEAST_SPAN: f32 = 0.35;

    fn of(pixels: &[[f32; 3]]) -> Self {
        let mut histogram = [0f32; Self::BINS];
        for p in pixels {
            let (h, s, v) = to_hsv(*p);
            histogram[((h * Self::BINS as f32) as usize).min(Self::BINS - 1)] += s * v;
        }
        let bin = |i: isize| histogram[i.rem_euclid(Self::BINS as isize) as usize];
        let smooth: Vec<f32> = (0..Self::BINS as isize)
            .map(|i| bin(i - 1) + 2.0 * bin(i) + bin(i + 1))
            .collect();
        let at = |i: isize| smooth[i.rem_euclid(Self::BINS as isize) as usize];
        let strongest = smooth.iter().copied().fold(0.0, f32::max);
        let mut peaks: Vec<(f32, f32)> = (0..Self::BINS as isize)
            .filter(|&i| at(i) > 0.0 && at(i) >= at(i - 1) && at(i) > at(i + 1))
            .filter(|&i| at(i) >= Self::SHARE * strongest)
            .map(|i| (at(i), (i as f32 + 0.5) / Self::BINS as f32))
            .collect();
        peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
        peaks.truncate(Self::MOST);
        let mut hues: Vec<f32> = peaks.into_iter().map(|(_, h)| h).collect();
        if hues.is_empty() {
            // Grey artwork: the default's deep blue.
            hues.push(0.62);
        }
        hues.sort_by(f32::total_cmp);
        // Start after the widest gap between neighbours, so the path is the shortest
        // way through them all.
        let gap = |i: usize| {
            let next = hues[(i + 1) % hues.len()] + if i + 1 == hues.len() { 1.0 } else { 0.0 };
            next - hues[i]
        };
        let widest = (0..hues.len())
            .max_by(|&a, &b| gap(a).total_cmp(&gap(b)))
            .expect("a hue");
        let mut knots: Vec<f32> = (1..=hues.len())
            .map(|k| hues[(widest + k) % hues.len()])
            .collect();
        for k in 1..knots.len() {
            while knots[k] < knots[k - 1] {
                knots[k] += 1.0;
            }
        }
        if knots.len() == 1 {
            // One hue: a path about it.
            knots.push(knots[0]);
        }
        let last = knots.len() - 1;
        let span = knots[last] - knots[0];
        if span < Self::LEAST_SPAN {
            let grow = (Self::LEAST_SPAN - span) / 2.0;
            knots[0] -= grow;
            knots[last] += grow;
        }
        Self { knots }
    }

    /// The hue at `t` (0..1 along the path; clamped). It eases into each knot, so the
    /// picture dwells on the artwork's own colours and passes quickly between them.
    fn at(&self, t: f32) -> f32 {
        let segments = (self.knots.len() - 1) as f32;
        let pos = t.clamp(0.0, 1.0) * segments;
        let i = (pos.floor() as usize).min(self.knots.len() - 2);
        let s = smoothstep(0.0, 1.0, pos - i as f32);
        (self.knots[i] + (self.knots[i + 1] - self.knots[i]) * s).rem_euclid(1.0)
    }
}

/// Hue (0..1), saturation and value of an RGB colour.
fn to_hsv([r, g, b]: [f32; 3]) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let range = max - r.min(g).min(b);
    if range <= 0.0 {
        return (0.0, 0.0, max);
    }
    let h = if max == r {
        ((g - b) / range).rem_euclid(6.0)
    } else if max == g {
        (b - r) / range + 2.0
    } else {
        (r - g) / range + 4.0
    };
    (h / 6.0, range / max, max)
}

fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(1.0) * 6.0;
    let f = h.fract();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match h as usize {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The picture for one window: 256x256 interleaved RGB.
pub fn draw(
    features: &Features,
    calibration: &Calibration,
    material: Option<&Material>,
) -> Vec<u8> {
    draw_at(features, calibration, material, SIZE)
}

/// The picture for one window at `side` x `side` (the picture is a function of where a
/// pixel is in the square, so every size shows the same picture, sharper): interleaved
/// RGB. Rows are drawn in parallel.
pub fn draw_at(
    features: &Features,
    calibration: &Calibration,
    material: Option<&Material>,
    side: usize,
) -> Vec<u8> {
    let [low, mid, high, level, centroid, onset, lift] = calibration.normalise(features);
    // Palette: a main hue from the brightness of the sound (deep blue for dark music to
    // red and orange for bright), a contrasting one moved by the treble. With artwork,
    // both are taken along the artwork's own hues instead: the main one by the
    // brightness, the other from the far end, moved by the treble.
    let hues = material.and_then(|m| m.hues.as_ref());
    let (hue_a, hue_b) = match hues {
        None => {
            let a = 0.7 - 0.85 * centroid + 0.12 * (lift - 0.5);
            (a, a + 0.33 + 0.3 * high)
        }
        Some(h) => (
            h.at(0.9 * centroid + 0.1 * lift),
            h.at(1.0 - 0.7 * centroid - 0.3 * high),
        ),
    };
    let saturation = 0.6 + 0.4 * level;
    // With artwork's close hues, the level carries more of the change.
    let value = match hues {
        None => 0.2 + 0.75 * level,
        Some(_) => 0.1 + 0.9 * level,
    };
    // The field's scale follows the mids and the treble, its phase the bass, its twist
    // the rise and fall of the level.
    // Phases move gently: a pattern that slides far for a small change of the music would
    // look erratic (and could not be learnt).
    let (k1, k2) = (2.5 + 4.0 * mid, 4.0 + 4.0 * high);
    let angle = PI * (0.5 * centroid + 0.3 * lift);
    let (ca, sa) = (angle.cos(), angle.sin());
    let phase = 1.5 * low + 1.0 * lift;
    let twist = 2.0 * lift;
    let bloom_radius = 0.15 + 0.45 * low;
    let bloom = 0.15 + 0.85 * onset;
    let ripple_radius = 0.3 + 0.6 * level;
    let glow_colour = hsv(hue_b, 0.45, 1.0);
    let zoom = 1.0 + 0.35 * low;
    let mut out = vec![0u8; side * side * 3];
    out.par_chunks_mut(side * 3)
        .enumerate()
        .for_each(|(y, row)| {
            let v = (y as f32 + 0.5) / side as f32 * 2.0 - 1.0;
            for x in 0..side {
                let u = (x as f32 + 0.5) / side as f32 * 2.0 - 1.0;
                let r = (u * u + v * v).sqrt();
                let theta = v.atan2(u);
                let field = ((k1 * (u * ca + v * sa) + phase).sin()
                    + (k2 * r - 2.0 * phase).sin()
                    + (6.0 * theta + twist * r + TAU * centroid).sin())
                    / 3.0;
                let mix = smoothstep(-0.6, 0.6, field);
                let (a, b) = if hues.is_none() {
                    (
                        hsv(hue_a, saturation, value * (0.45 + 0.55 * (1.0 - mix))),
                        hsv(hue_b, saturation, value * (0.55 + 0.45 * mix)),
                    )
                } else {
                    // The artwork's hues lie close together: the field shows as dark
                    // against light instead, a deep shade of the main hue against a
                    // pale tint of the other.
                    (
                        hsv(hue_a, saturation, value * (0.15 + 0.35 * (1.0 - mix))),
                        hsv(hue_b, 0.45 * saturation, value * (0.75 + 0.25 * mix)),
                    )
                };
                let mut rgb = [0, 1, 2].map(|k| a[k] * (1.0 - mix) + b[k] * mix);
                if let Some(m) = material {
                    // The artwork shows through where the field is low, so the field's
                    // pattern (and with it the music's variety) survives at full
                    // contrast; the palette tints it and the level lights it. (Blended
                    // evenly at 60 % instead, it had cut the variety of "the king is
                    // dead" from 30.2 to 24.0, below a look's gate.)
                    let picture = m.sample(centroid, zoom, x, y, side);
                    let tint = hsv(hue_a, 0.8, 1.0);
                    let reveal = 0.95 * (1.0 - mix);
                    for k in 0..3 {
                        let art = picture[k] * tint[k] * 1.5 * level;
                        rgb[k] = rgb[k] * (1.0 - reveal) + art * reveal;
                    }
                }
                // A ring that widens with the level, and a bloom that swells with the bass;
                // both flare on onsets; darker towards the corners.
                let ripple = (-((r - ripple_radius) / (0.05 + 0.1 * onset)).powi(2)).exp()
                    * (0.15 + 0.35 * onset);
                let glow = bloom * (-(r / bloom_radius).powi(2) * 2.0).exp();
                let vignette = 1.0 - 0.35 * r * r;
                for k in 0..3 {
                    let c = (rgb[k] + (glow + ripple) * glow_colour[k]) * vignette;
                    row[3 * x + k] = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        });
    out
}

/// Every frame's window of a song at `FPS`, in order, through `mvgen_core` (as the plugin
/// and `mvgen render` make them): whole frames only.
fn for_each_window(
    decoded: &audio::Decoded,
    each: impl FnMut(usize, &SpectrogramWindow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for_windows(decoded, |_| true, each)
}

/// The windows of the frames `wanted` says, in order (the others are analysed but not
/// copied out).
pub(crate) fn for_windows(
    decoded: &audio::Decoded,
    wanted: impl Fn(usize) -> bool,
    mut each: impl FnMut(usize, &SpectrogramWindow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut analyser = Analyser::new(decoded.rate_hz)
        .with_context(|| format!("analysing {} Hz audio", decoded.rate_hz))?;
    let clock = FrameClock::new(FPS, decoded.rate_hz);
    let mut window = SpectrogramWindow::default();
    let mut pushed = 0usize;
    for k in (0..clock.num_whole_frames(decoded.mono.len() as i64)).filter(|&k| wanted(k as usize))
    {
        let end = clock.window_end(clock.frame_position(k));
        while let Err(WindowError::NotReady) = analyser.copy_window(end, &mut window) {
            analyser.push(decoded.mono.get(pushed).copied().unwrap_or(0.0));
            pushed += 1;
        }
        each(k as usize, &window)?;
    }
    Ok(())
}

/// Songs among `inputs` (files, or folders searched one level deep), sorted.
pub fn collect_songs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let songs = crate::files::collect(inputs, &AUDIO_EXTENSIONS)?;
    ensure!(
        !songs.is_empty(),
        "no songs ({}) found",
        AUDIO_EXTENSIONS.join(", ")
    );
    Ok(songs)
}

fn bar(len: usize, what: &str) -> ProgressBar {
    crate::progress::bar(len as u64, what)
}

/// Measure the features' ranges over `songs` (every 10th frame). Songs that cannot be
/// read are left out and named.
pub fn calibrate(songs: &[PathBuf]) -> anyhow::Result<Calibration> {
    let progress = bar(songs.len(), "songs measured");
    let measured: Vec<(&PathBuf, anyhow::Result<Vec<Features>>)> = songs
        .par_iter()
        .map(|song| {
            let samples = audio::decode(song).and_then(|decoded| {
                let mut samples = Vec::new();
                for_each_window(&decoded, |k, w| {
                    if k % 10 == 0 {
                        samples.push(Features::of(w));
                    }
                    Ok(())
                })?;
                Ok(samples)
            });
            progress.inc(1);
            (song, samples)
        })
        .collect();
    progress.finish_and_clear();
    let (mut samples, mut used) = (Vec::new(), Vec::new());
    for (song, result) in measured {
        match result {
            Ok(s) => {
                samples.extend(s);
                used.push(file_stem(song));
            }
            Err(e) => eprintln!("skipped {}: {e:#}", song.display()),
        }
    }
    ensure!(
        samples.len() >= 20,
        "the songs are too short to calibrate on"
    );
    Ok(Calibration::from_samples(&samples, used))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// Write one directed video per song into `out` (`<song>.mp4`, 256x256 at 30 fps, with
/// the song's own audio), in parallel, skipping videos already there.
pub fn direct(
    songs: &[PathBuf],
    out: &Path,
    calibration: &Calibration,
    material: Option<&Material>,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let progress = bar(songs.len(), "songs directed");
    let videos: Vec<anyhow::Result<PathBuf>> = songs
        .par_iter()
        .map(|song| {
            let video = out.join(format!("{}.mp4", file_stem(song)));
            let written = if video.exists() {
                Ok(())
            } else {
                write_video(song, &video, calibration, material)
            };
            progress.inc(1);
            written.map(|()| video)
        })
        .collect();
    progress.finish_and_clear();
    let mut done = Vec::new();
    for (song, video) in songs.iter().zip(videos) {
        match video {
            Ok(v) => done.push(v),
            Err(e) => eprintln!("skipped {}: {e:#}", song.display()),
        }
    }
    ensure!(!done.is_empty(), "no song could be directed");
    Ok(done)
}

fn write_video(
    song: &Path,
    video: &Path,
    calibration: &Calibration,
    material: Option<&Material>,
) -> anyhow::Result<()> {
    let decoded = audio::decode(song)?;
    let tmp = video.with_extension("mp4.tmp");
    let mut ffmpeg = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args(["-s", &format!("{SIZE}x{SIZE}"), "-r"])
        .arg(FPS.per_second().to_string())
        .args(["-i", "-", "-i"])
        .arg(song)
        .args([
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
        ])
        .args(["-crf", "16", "-pix_fmt", "yuv420p", "-threads", "1"])
        .args(["-c:a", "aac", "-b:a", "192k", "-shortest", "-f", "mp4"])
        .arg(&tmp)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running ffmpeg (install ffmpeg)")?;
    let mut stdin = ffmpeg.stdin.take().context("ffmpeg's stdin")?;
    let written = for_each_window(&decoded, |_, w| {
        stdin
            .write_all(&draw(&Features::of(w), calibration, material))
            .context("piping frames to ffmpeg")
    });
    drop(stdin);
    let out = ffmpeg.wait_with_output()?;
    ensure!(
        written.is_ok() && out.status.success(),
        "ffmpeg failed: {} {}",
        written.err().map(|e| format!("{e:#}")).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    std::fs::rename(&tmp, video)?;
    Ok(())
}

/// How the director's own pictures react to `song`: the ceiling of what a generator
/// trained on them can show.
pub fn reactivity(
    song: &Path,
    calibration: &Calibration,
    material: Option<&Material>,
) -> anyhow::Result<crate::reactivity::Reactivity> {
    let decoded = audio::decode(song)?;
    let mut recorder = crate::reactivity::Recorder::default();
    for_each_window(&decoded, |_, w| {
        recorder.push(&draw(&Features::of(w), calibration, material), w);
        Ok(())
    })?;
    Ok(recorder.measure(FPS.per_second() as f64))
}

/// `mvgen dataset direct`.
/// The calibration saved at `path`, if it was measured on exactly `songs`: a re-run
/// (after an interruption, say) then directs the remaining songs exactly as the first.
fn saved_calibration(path: &Path, songs: &[PathBuf]) -> Option<Calibration> {
    let saved: Calibration = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let mut names: Vec<String> = songs.iter().map(|s| file_stem(s)).collect();
    let mut measured = saved.songs.clone();
    names.sort();
    measured.sort();
    (names == measured).then_some(saved)
}

pub fn command(a: &crate::cli::DirectArgs) -> anyhow::Result<()> {
    let songs = collect_songs(&a.songs)?;
    let material = a
        .material
        .as_deref()
        .map(|m| Material::load(m, a.colours))
        .transpose()?;
    let calibration = match &a.calibration {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not a director calibration", path.display()))?,
        None => match saved_calibration(&a.output.join(CALIBRATION), &songs) {
            Some(saved) => {
                eprintln!("calibration: the folder's own, measured on the same songs");
                saved
            }
            None => calibrate(&songs)?,
        },
    };
    std::fs::create_dir_all(&a.output)?;
    crate::files::write_atomic(
        &a.output.join(CALIBRATION),
        &serde_json::to_vec_pretty(&calibration)?,
    )?;
    if a.calibrate {
        eprintln!(
            "calibration of {} songs -> {}",
            songs.len(),
            a.output.join(CALIBRATION).display()
        );
        return Ok(());
    }
    if a.measure {
        for song in &songs {
            let r = reactivity(song, &calibration, material.as_ref())?;
            println!("{}: {r}", song.display());
        }
        return Ok(());
    }
    let videos = direct(&songs, &a.output, &calibration, material.as_ref())?;
    eprintln!(
        "{} directed videos in {} (calibration: {})",
        videos.len(),
        a.output.display(),
        CALIBRATION
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_with(level: f32, bins: std::ops::Range<usize>) -> SpectrogramWindow {
        let mut w = SpectrogramWindow::default();
        let mut column = [-1.0f32; SIZE];
        for bin in bins {
            column[bin] = level;
        }
        for x in 0..SIZE {
            w.set_column(x, &column);
        }
        w
    }

    #[test]
    fn brighter_sound_has_a_higher_centroid_and_louder_a_higher_level() {
        let dull = Features::of(&window_with(0.2, 2..6));
        let bright = Features::of(&window_with(0.2, 60..90));
        assert!(bright.0[4] > dull.0[4]);
        let loud = Features::of(&window_with(0.6, 2..6));
        assert!(loud.0[3] > dull.0[3] && loud.0[0] > dull.0[0]);
    }

    /// A folder of `images`, each a square of `side` pixels cycling through `colours`
    /// in stripes.
    fn artwork(name: &str, images: &[&[[u8; 3]]]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mvgen-art-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, colours) in images.iter().enumerate() {
            let img = image::RgbImage::from_fn(96, 64, |x, _| {
                image::Rgb(colours[(x as usize / 8) % colours.len()])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
        dir
    }

    fn calibrated() -> (Vec<Features>, Calibration) {
        let samples: Vec<Features> = (0..40)
            .map(|i| Features::of(&window_with(-0.8 + 0.04 * i as f32, 2 + i..10 + 2 * i)))
            .collect();
        let calibration = Calibration::from_samples(&samples, vec![]);
        (samples, calibration)
    }

    /// Degrees from `a` to `b` round the wheel (0..180).
    fn apart(a: f32, b: f32) -> f32 {
        let d = (a - b).rem_euclid(1.0);
        360.0 * d.min(1.0 - d)
    }

    #[test]
    fn the_palette_is_the_artworks_hues_the_short_way_round() {
        // Orange and gold: one warm peak, widened to the least span centred on it.
        let warm = HuePath::of(&[[1.0, 0.5, 0.0], [1.0, 0.6, 0.1], [0.2, 0.2, 0.2]]);
        let (start, end) = (warm.at(0.0), warm.at(1.0));
        assert!(
            apart(start, end) >= 360.0 * HuePath::LEAST_SPAN - 1.0,
            "{warm:?}"
        );
        let middle = warm.at(0.5);
        assert!(apart(middle, 30.0 / 360.0) <= 10.0, "{middle}: {warm:?}");
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            assert!(apart(warm.at(t), 30.0 / 360.0) <= 70.0, "{t}: {warm:?}");
        }
        // Magenta (300 degrees) and red (0): the path crosses 0, not the greens.
        let across = HuePath::of(&[[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let h = across.at(t);
            assert!(apart(h, 1.0 / 3.0) > 75.0, "{t}: {h} {across:?}");
        }
        assert!(apart(across.at(0.5), 0.93) < 5.0, "{across:?}");
        // Grey artwork: the default's blue.
        let grey = HuePath::of(&[[0.5, 0.5, 0.5]]);
        assert!(apart(grey.at(0.5), 0.62) < 1.0, "{grey:?}");
    }

    #[test]
    fn artwork_colours_paint_with_its_hues_and_music_colours_with_the_wheel() {
        let dir = artwork(
            "warm",
            &[&[[230, 120, 20], [120, 50, 10]], &[[250, 190, 40]]],
        );
        let (samples, calibration) = calibrated();
        let hues_of = |colours: Colours| {
            let material = Material::load(&dir, colours).unwrap();
            // The hue of every colourful pixel over the song's pictures.
            let mut hues = Vec::new();
            for f in samples.iter().step_by(3) {
                for px in draw(f, &calibration, Some(&material)).chunks(3) {
                    let (h, s, v) = to_hsv([px[0], px[1], px[2]].map(|c| c as f32 / 255.0));
                    if s > 0.3 && v > 0.2 {
                        hues.push(h);
                    }
                }
            }
            hues
        };
        let own = hues_of(Colours::Artwork);
        let far = own
            .iter()
            .filter(|&&h| apart(h, 30.0 / 360.0) > 90.0)
            .count();
        assert!(
            far * 100 < own.len(),
            "{far} of {} colourful pixels are far from the artwork's orange",
            own.len()
        );
        let wheel = hues_of(Colours::Music);
        let far = wheel
            .iter()
            .filter(|&&h| apart(h, 30.0 / 360.0) > 90.0)
            .count();
        assert!(
            far * 5 > wheel.len(),
            "the music's colours span the wheel: {far} of {}",
            wheel.len()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_palette_is_the_same_at_every_size() {
        let dir = artwork(
            "sizes",
            &[&[[20, 40, 120], [90, 60, 160]], &[[10, 120, 130]]],
        );
        let small = Material::load_at(&dir, 256, Colours::Artwork).unwrap();
        let large = Material::load_at(&dir, 1024, Colours::Artwork).unwrap();
        assert_eq!(small.hues, large.hues);
        assert!(small.hues.is_some());
        assert!(Material::load(&dir, Colours::Music).unwrap().hues.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_picture_follows_the_music_and_is_deterministic() {
        let samples: Vec<Features> = (0..40)
            .map(|i| Features::of(&window_with(-0.8 + 0.04 * i as f32, 2 + i..10 + 2 * i)))
            .collect();
        let calibration = Calibration::from_samples(&samples, vec![]);
        let a = draw(&samples[2], &calibration, None);
        let b = draw(&samples[30], &calibration, None);
        assert_eq!(a.len(), SIZE * SIZE * 3);
        assert_eq!(a, draw(&samples[2], &calibration, None), "deterministic");
        let differ = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .sum::<i32>() as f64
            / a.len() as f64;
        assert!(
            differ > 20.0,
            "different music, different picture: {differ}"
        );
    }
}
