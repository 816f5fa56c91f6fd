//! How a video reacts to its music: motion, variety and coupling, the numbers we judge a
//! look by (README, "How a look is measured").
//!
//! Frames are compared at 32x32 (8x8 box averages of the 256x256 RGB frame), in 8-bit
//! levels (0..255):
//! - **motion**: the mean change per frame, |f(t+1) - f(t)|: high means flicker;
//! - **variety**: the per-pixel standard deviation over the whole song: how much the
//!   picture changes at all;
//! - **coupling**: over pairs of frames more than 1 s apart, the Spearman correlation
//!   between how different the two pictures are and how different their 1.5 s windows
//!   are. Near 0 the picture moves on its own clock; high, similar music gives a similar
//!   picture. A window is described by its log power pooled to 12 log-spaced bands by 12
//!   slices of 0.125 s, each of the 144 numbers standardised over the song.
//!
//! Nothing here knows where frames come from: `mvgen render`, `mvgen eval` and the
//! director itself feed it.

use mvgen_core::spectrogram::SIZE;
use mvgen_core::SpectrogramWindow;

/// Side of the compared thumbnails.
pub const THUMB: usize = 32;
const BANDS: usize = 12;
const SLICES: usize = 12;
/// Pairs sampled for the coupling (fewer when the song is short).
const PAIRS: usize = 4000;

/// The numbers (defined with the gates a look must pass, in `mvgen_look`).
pub use mvgen_look::Reactivity;

/// The mean and the (population) standard deviation of `values`.
fn mean_and_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A song's frames and windows, gathered one frame at a time.
#[derive(Default)]
pub struct Recorder {
    thumbs: Vec<Vec<f32>>,
    windows: Vec<[f32; BANDS * SLICES]>,
}

impl Recorder {
    /// Note one frame (256x256 interleaved RGB) and the window it was made from.
    pub fn push(&mut self, rgb: &[u8], window: &SpectrogramWindow) {
        self.thumbs.push(thumb(rgb));
        self.windows.push(pooled(window));
    }

    /// The numbers for the frames so far (`fps` decides which pairs are 1 s apart).
    pub fn measure(&self, fps: f64) -> Reactivity {
        measure(&self.thumbs, &self.windows, fps)
    }
}

/// 8x8 box averages of a 256x256 interleaved RGB frame: 32x32x3 values in 0..255.
fn thumb(rgb: &[u8]) -> Vec<f32> {
    let step = SIZE / THUMB;
    let mut out = vec![0.0f32; THUMB * THUMB * 3];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let o = ((y / step) * THUMB + x / step) * 3;
            let i = (y * SIZE + x) * 3;
            for c in 0..3 {
                out[o + c] += rgb[i + c] as f32;
            }
        }
    }
    let n = (step * step) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    out
}

/// The window's log power pooled to 12 log-spaced bands (86 Hz to 22 kHz, DC left out)
/// by 12 slices of 0.125 s.
fn pooled(window: &SpectrogramWindow) -> [f32; BANDS * SLICES] {
    let pixels = window.pixels();
    // Bin b sits at row SIZE - 1 - b (low frequencies at the bottom).
    let edge = |i: usize| -> usize {
        ((SIZE as f64 - 1.0).powf(i as f64 / BANDS as f64).round() as usize).clamp(1, SIZE)
    };
    let mut out = [0.0f32; BANDS * SLICES];
    for band in 0..BANDS {
        let (lo, hi) = (edge(band), edge(band + 1).max(edge(band) + 1).min(SIZE));
        for slice in 0..SLICES {
            let (c0, c1) = (slice * SIZE / SLICES, (slice + 1) * SIZE / SLICES);
            let mut sum = 0.0;
            for bin in lo..hi {
                let row = &pixels[(SIZE - 1 - bin) * SIZE..(SIZE - bin) * SIZE];
                sum += row[c0..c1].iter().sum::<f32>();
            }
            out[band * SLICES + slice] = sum / ((hi - lo) * (c1 - c0)) as f32;
        }
    }
    out
}

fn measure(thumbs: &[Vec<f32>], windows: &[[f32; BANDS * SLICES]], fps: f64) -> Reactivity {
    let n = thumbs.len();
    if n < 2 {
        return Reactivity {
            motion: 0.0,
            variety: 0.0,
            coupling: 0.0,
            frames: n,
        };
    }
    let dim = thumbs[0].len();
    let picture_distance = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() as f64)
            .sum::<f64>()
            / dim as f64
    };
    let motion = thumbs
        .windows(2)
        .map(|w| picture_distance(&w[0], &w[1]))
        .sum::<f64>()
        / (n - 1) as f64;
    let variety = (0..dim)
        .map(|i| mean_and_std(thumbs.iter().map(|t| t[i] as f64)).1)
        .sum::<f64>()
        / dim as f64;

    // Standardise each window number over the song.
    let stats: Vec<(f64, f64)> = (0..BANDS * SLICES)
        .map(|i| mean_and_std(windows.iter().map(|w| w[i] as f64)))
        .collect();
    let window_distance = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .zip(&stats)
            .filter(|(_, (_, sd))| *sd > 1e-9)
            .map(|((x, y), (_, sd))| ((*x as f64 - *y as f64) / sd).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    // Pairs more than 1 s apart, drawn with a fixed seed.
    let gap = fps.ceil() as usize + 1;
    let mut state = 0x5EED_u64;
    let mut next = |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % bound
    };
    let (mut pictures, mut music) = (Vec::new(), Vec::new());
    if n > gap {
        for _ in 0..PAIRS {
            let i = next(n);
            let j = next(n);
            if i.abs_diff(j) < gap {
                continue;
            }
            pictures.push(picture_distance(&thumbs[i], &thumbs[j]));
            music.push(window_distance(&windows[i], &windows[j]));
        }
    }
    Reactivity {
        motion,
        variety,
        coupling: spearman(&pictures, &music),
        frames: n,
    }
}

/// Spearman's rank correlation (average ranks for ties); 0 for fewer than 3 pairs or a
/// constant list.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 3 || a.len() != b.len() {
        return 0.0;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 - 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - mean) * (y - mean);
        va += (x - mean).powi(2);
        vb += (y - mean).powi(2);
    }
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end - 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    //! Strategy: videos whose answer is known. A picture that is a function of the music
    //! couples; one that moves on its own clock does not; a still picture has no motion or
    //! variety; flicker shows as motion.
    use super::*;

    /// A window whose level across the spectrum is set by `music` (0..12).
    fn window(music: usize) -> SpectrogramWindow {
        let mut w = SpectrogramWindow::default();
        let column = [-1.0 + music as f32 / 8.0; SIZE];
        for x in 0..SIZE {
            w.set_column(x, &column);
        }
        w
    }

    fn flat(level: u8) -> Vec<u8> {
        vec![level; SIZE * SIZE * 3]
    }

    #[test]
    fn spearman_matches_known_values() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&a, &[2.0, 4.0, 6.0, 8.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1,2,3,4,5], [2,1,4,3,5]) = 0.8
        assert!((spearman(&a, &[2.0, 1.0, 4.0, 3.0, 5.0]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn a_picture_that_follows_the_music_couples() {
        let mut following = Recorder::default();
        let mut own_clock = Recorder::default();
        for k in 0..600 {
            let music = (k / 45 * 7) % 12;
            following.push(&flat((music * 20) as u8), &window(music));
            own_clock.push(&flat(((k * 7) % 240) as u8), &window(music));
        }
        let follows = following.measure(30.0);
        let own = own_clock.measure(30.0);
        assert!(follows.coupling > 0.9, "{follows}");
        assert!(own.coupling.abs() < 0.2, "{own}");
        assert!(follows.variety > 50.0, "{follows}");
    }

    #[test]
    fn still_pictures_have_no_motion_and_flicker_is_motion() {
        let mut still = Recorder::default();
        let mut flicker = Recorder::default();
        for k in 0..100 {
            still.push(&flat(128), &window(k % 12));
            flicker.push(&flat(if k % 2 == 0 { 0 } else { 200 }), &window(3));
        }
        let s = still.measure(30.0);
        assert_eq!((s.motion, s.variety), (0.0, 0.0));
        let f = flicker.measure(30.0);
        assert!(
            (f.motion - 200.0).abs() < 1e-9 && (f.variety - 100.0).abs() < 1e-9,
            "{f}"
        );
    }
}
