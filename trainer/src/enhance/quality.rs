//! How good an enhancer is, as users would judge it:
//! - **against the truth**: PSNR and SSIM of its 1024 frames against the true pictures,
//!   beside a Lanczos enlargement of the same generator frames (the classical filter
//!   mvgen uses where there is no enhancer);
//! - **the same picture**: its frames averaged back down to 256 (by area) against the
//!   generator's own, in PSNR;
//! - **the grid**: how strong the generator's fine grid is (the mesh its stride-2
//!   transposed convolutions leave, at periods of 2, 4 and 8 pixels), in the generator's
//!   frames, the enhancer's and the truth's ([`grid_levels`]).
//!   Enlarged four times, a grid of 2 pixels is a mesh of 8 on the screen.

use super::data::Pair;
use crate::train::eval::ssim_at;
use mvgen_core::model::{ENHANCED_SIDE, ENHANCE_SCALE};
use mvgen_core::spectrogram::SIZE;
use mvgen_core::Frame;
use mvgen_runtime::{Enhanced, Enhancer, RuntimeConfig};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// An enhancer measured on pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    pub pairs: usize,
    pub enhancer_psnr_db: f64,
    pub enhancer_ssim: f64,
    pub lanczos_psnr_db: f64,
    pub lanczos_ssim: f64,
    /// Its frames averaged down to 256 against the generator's.
    pub kept_psnr_db: f64,
    /// [`grid_levels`] of the generator's frames (what a Lanczos enlargement shows), of
    /// the enhancer's (averaged down to 256) and of the true pictures (likewise).
    pub grid_levels: Grid,
}

#[derive(Debug, Clone, Serialize)]
pub struct Grid {
    pub generator: f64,
    pub enhancer: f64,
    pub truth: f64,
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "on {} pairs: enhancer PSNR {:.2} dB, SSIM {:.4}; Lanczos PSNR {:.2} dB, SSIM \
             {:.4}; back at 256 the generator's picture to {:.1} dB; its grid {:.2} \
             levels (the generator's {:.2}, the truth's {:.2})",
            self.pairs,
            self.enhancer_psnr_db,
            self.enhancer_ssim,
            self.lanczos_psnr_db,
            self.lanczos_ssim,
            self.kept_psnr_db,
            self.grid_levels.enhancer,
            self.grid_levels.generator,
            self.grid_levels.truth
        )
    }
}

/// PSNR in dB of two 8-bit images (100 when identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64;
    if mse == 0.0 {
        100.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// A 256x256 RGB frame enlarged to 1024 with a Lanczos filter.
pub fn lanczos(rgb: &[u8]) -> Vec<u8> {
    let image =
        image::RgbImage::from_raw(SIZE as u32, SIZE as u32, rgb.to_vec()).expect("a 256x256 frame");
    image::imageops::resize(
        &image,
        ENHANCED_SIDE as u32,
        ENHANCED_SIDE as u32,
        image::imageops::FilterType::Lanczos3,
    )
    .into_raw()
}

/// A 1024x1024 RGB picture averaged down to 256 (each 4x4 block's mean, rounded).
pub fn area_down(rgb: &[u8]) -> Vec<u8> {
    let s = ENHANCE_SCALE;
    let mut out = vec![0u8; 3 * SIZE * SIZE];
    for y in 0..SIZE {
        for x in 0..SIZE {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..s {
                    for dx in 0..s {
                        sum += rgb[3 * ((y * s + dy) * ENHANCED_SIDE + x * s + dx) + c] as u32;
                    }
                }
                out[3 * (y * SIZE + x) + c] = ((sum as f64) / (s * s) as f64).round() as u8;
            }
        }
    }
    out
}

/// The enhancer at `path` on the CPU (2 threads), over `pairs`.
pub fn on_pairs(path: &Path, pairs: &[&Pair]) -> anyhow::Result<Quality> {
    let mut enhancer = Enhancer::load(
        path,
        &RuntimeConfig {
            execution: mvgen_runtime::Execution::Cpu,
            cpu_threads: 2,
        },
    )?;
    let mut enhanced = Enhanced::default();
    let mut outputs = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let frame = Frame::from_rgb8(&pair.frame).expect("a 256x256 frame");
        enhancer.run(&frame, &mut enhanced)?;
        let mut rgb = Vec::new();
        enhanced.to_rgb8_into(&mut rgb);
        outputs.push(rgb);
    }
    let per: Vec<[f64; 8]> = pairs
        .par_iter()
        .zip(&outputs)
        .map(|(pair, ours)| {
            let classical = lanczos(&pair.frame);
            let ours_256 = area_down(ours);
            [
                psnr(ours, &pair.target),
                ssim_at(ours, &pair.target, ENHANCED_SIDE),
                psnr(&classical, &pair.target),
                ssim_at(&classical, &pair.target, ENHANCED_SIDE),
                psnr(&ours_256, &pair.frame),
                grid_levels(&pair.frame, SIZE),
                grid_levels(&ours_256, SIZE),
                grid_levels(&area_down(&pair.target), SIZE),
            ]
        })
        .collect();
    let mean = |i: usize| per.iter().map(|p| p[i]).sum::<f64>() / per.len().max(1) as f64;
    Ok(Quality {
        pairs: pairs.len(),
        enhancer_psnr_db: mean(0),
        enhancer_ssim: mean(1),
        lanczos_psnr_db: mean(2),
        lanczos_ssim: mean(3),
        kept_psnr_db: mean(4),
        grid_levels: Grid {
            generator: mean(5),
            enhancer: mean(6),
            truth: mean(7),
        },
    })
}

/// How strong a picture's grid is: the RMS, in 8-bit levels, of what repeats every 8
/// pixels both ways (the mesh of periods 2, 4 and 8 is such a tile), counting at each
/// frequency of that lattice only the power above the picture's own spectrum there (the
/// mean of the frequencies two steps away, past the Hann window's spread). A picture
/// without a grid is near 0; the director's pictures at 256 are at 0.0 to 0.1.
pub fn grid_levels(rgb: &[u8], side: usize) -> f64 {
    use rustfft::num_complex::Complex32;
    assert!(
        side.is_multiple_of(8) && rgb.len() == 3 * side * side,
        "a square RGB picture a multiple of 8 wide"
    );
    let hann: Vec<f32> = (0..side)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / side as f32).cos())
        .collect();
    let grey: Vec<f32> = rgb
        .chunks_exact(3)
        .map(|p| (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0)
        .collect();
    let mean = grey.iter().sum::<f32>() / grey.len().max(1) as f32;
    let mut s: Vec<Complex32> = grey
        .iter()
        .enumerate()
        .map(|(i, &g)| Complex32::new((g - mean) * hann[i / side] * hann[i % side], 0.0))
        .collect();
    let fft = rustfft::FftPlanner::new().plan_fft_forward(side);
    fft.process(&mut s);
    let mut column = vec![Complex32::default(); side];
    for x in 0..side {
        for y in 0..side {
            column[y] = s[y * side + x];
        }
        fft.process(&mut column);
        for y in 0..side {
            s[y * side + x] = column[y];
        }
    }
    let power = |y: usize, x: usize| s[(y % side) * side + x % side].norm_sqr() as f64;
    let step = side / 8;
    let bins = (0..64).skip(1).map(|i| (i / 8 * step, i % 8 * step));
    let excess: f64 = bins
        .map(|(y, x)| {
            let around = [(2, 0), (side - 2, 0), (0, 2), (0, side - 2)]
                .iter()
                .map(|&(dy, dx)| power(y + dy, x + dx))
                .sum::<f64>()
                / 4.0;
            (power(y, x) - around).max(0.0)
        })
        .sum();
    // A cosine of amplitude A puts (A N^2 / 8)^2 into each of its two frequencies
    // through the window (or (A N^2 / 4)^2 into one, at the Nyquist frequency): 16 / N^4
    // turns the power back into the mean square.
    (16.0 * excess / (side as f64).powi(4)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_and_area_down_behave() {
        let a = vec![100u8; 12];
        assert_eq!(psnr(&a, &a), 100.0);
        let mut b = a.clone();
        b[0] = 110;
        assert!((psnr(&a, &b) - 10.0 * (255.0f64.powi(2) / (100.0 / 12.0)).log10()).abs() < 1e-9);
        let big: Vec<u8> = (0..3 * ENHANCED_SIDE * ENHANCED_SIDE)
            .map(|i| ((i / 3 / ENHANCED_SIDE / 4) % 256) as u8)
            .collect();
        let small = area_down(&big);
        assert_eq!(
            small[3 * (7 * SIZE + 3)],
            7,
            "rows of blocks keep their level"
        );
    }

    /// A smooth picture has no grid. Over it, each pattern that repeats every 8 pixels
    /// reads as its RMS: a checkerboard of 2 pixels and stripes of 4 (each +-3, RMS 3),
    /// cosines of period 8 along the rows and along a diagonal (amplitude 3, RMS 2.12),
    /// and a tile that mixes periods (rows of 2 by columns of 4, +-3, RMS 3).
    #[test]
    fn a_grid_reads_as_its_rms_and_a_smooth_picture_has_none() {
        let side = 64;
        let picture = |grid: &dyn Fn(f64, f64) -> f64| -> Vec<u8> {
            (0..side * side)
                .flat_map(|i| {
                    let (y, x) = ((i / side) as f64, (i % side) as f64);
                    let smooth = 128.0 + 60.0 * (x / 9.0).sin() * (y / 13.0).cos();
                    let v = (smooth + grid(y, x)).round() as u8;
                    [v, v, v]
                })
                .collect()
        };
        let sign = |b: bool| if b { 3.0 } else { -3.0 };
        let tau = std::f64::consts::TAU;
        let clean = grid_levels(&picture(&|_, _| 0.0), side);
        assert!(clean < 0.2, "a smooth picture: {clean:.2}");
        type Pattern<'a> = &'a dyn Fn(f64, f64) -> f64;
        let cases: [(&str, Pattern, f64); 5] = [
            (
                "checkerboard",
                &|y, x| sign(((y + x) as u64).is_multiple_of(2)),
                3.0,
            ),
            ("stripes of 4", &|_, x| sign((x as u64) % 4 < 2), 3.0),
            ("cosine of 8", &|y, _| 3.0 * (tau * y / 8.0).cos(), 2.12),
            (
                "diagonal of 8",
                &|y, x| 3.0 * (tau * (y - x) / 8.0).cos(),
                2.12,
            ),
            (
                "2 by 4",
                &|y, x| sign((y as u64).is_multiple_of(2) == (x as u64 % 4 < 2)),
                3.0,
            ),
        ];
        for (name, grid, rms) in cases {
            let got = grid_levels(&picture(grid), side);
            assert!(
                (got - rms).abs() < 0.15,
                "{name}: {got:.2} levels, not {rms}"
            );
        }
    }
}

/// Flicker: the motion (mean change per frame, as `mvgen render` measures it) of
/// `seconds` of a song from `from_s`, as the generator makes it at 256, and as the
/// enhancer makes it, brought back to 256 by area. An enhancer that adds no flicker of
/// its own keeps the two within a few per cent.
#[derive(Debug, Clone, Serialize)]
pub struct Flicker {
    pub song: String,
    pub frames: usize,
    pub motion_256: f64,
    pub motion_enhanced: f64,
}

pub fn flicker(
    enhancer: &Path,
    generator: &Path,
    song: &Path,
    (from_s, seconds): (f64, f64),
) -> anyhow::Result<Flicker> {
    let cpu = RuntimeConfig {
        execution: mvgen_runtime::Execution::Cpu,
        cpu_threads: 2,
    };
    let mut enhancer = Enhancer::load(enhancer, &cpu)?;
    let mut generator = mvgen_runtime::Generator::load(generator, &cpu)?;
    let decoded = crate::audio::decode(song)?;
    let fps = mvgen_core::Fps::F30;
    let per_second = fps.per_second() as f64;
    let range = (from_s * per_second) as i64..((from_s + seconds) * per_second) as i64;
    let (mut plain, mut enhanced_down) = (
        crate::reactivity::Recorder::default(),
        crate::reactivity::Recorder::default(),
    );
    let mut enhanced = Enhanced::default();
    let mut rgb = Vec::new();
    let mut frames = 0;
    crate::render::frames(
        &decoded,
        fps,
        &mut generator,
        0.0,
        range,
        |_, window, frame| {
            let levels = frame.to_rgb8();
            plain.push(&levels, window);
            enhancer.run(&Frame::from_rgb8(&levels).expect("a frame"), &mut enhanced)?;
            enhanced.to_rgb8_into(&mut rgb);
            enhanced_down.push(&area_down(&rgb), window);
            frames += 1;
            Ok(())
        },
    )?;
    Ok(Flicker {
        song: song
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        frames,
        motion_256: plain.measure(per_second).motion,
        motion_enhanced: enhanced_down.measure(per_second).motion,
    })
}
