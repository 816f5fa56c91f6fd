//! The spectrogram contract: 66 150 samples at 44.1 kHz become one 256x256 image.
//!
//! This is `scipy.signal.spectrogram(x, fs=44100, window=('tukey', 0.25), nperseg=510,
//! noverlap=253, nfft=510, detrend='constant', scaling='density', mode='psd')`, in dB,
//! mapped linearly from [`DB_FLOOR`, `DB_CEIL`] to [-1, 1]. Low frequencies are in the
//! bottom row and the oldest column is on the left. The parity test in
//! `tests/python/test_scipy_parity.py` checks this file against scipy itself.
//!
//! Columns sit on one hop grid for the whole stream: column `c` covers the 44.1 kHz
//! samples `[c * HOP, c * HOP + SEGMENT)`, with silence before sample 0. A window is 256
//! consecutive columns, so its end ([`WindowEnd`]) is always on the grid. Both the
//! streaming [`crate::Analyser`] and [`window_from_signal`] build images from
//! [`ColumnAnalyser::column`], so they agree bit for bit.
//!
//! Nothing here allocates after construction except the explicitly offline helpers.

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// The model's sample rate: the paper ran scipy with `fs=44100`.
pub const SAMPLE_RATE_HZ: u32 = 44_100;
/// 1.5 s at 44.1 kHz: the audio before a frame that the paper paired with it.
pub const WINDOW_SAMPLES: usize = 66_150;
/// scipy's `nperseg`: 510 samples give `510 / 2 + 1 = 256` frequency rows.
pub const SEGMENT_SAMPLES: usize = 510;
/// `nperseg - noverlap = 510 - 253`: 256 segments fit in 66 150 samples.
pub const HOP_SAMPLES: usize = 257;
/// Rows (frequency bins, 0 to 22 050 Hz, 86.1 Hz apart) and columns (segments).
pub const SIZE: usize = 256;
/// Tukey window shape parameter (`('tukey', 0.25)`).
pub const TUKEY_ALPHA: f64 = 0.25;
/// Added to the power before the logarithm; 1e-12 is -120 dB, the bottom of the range.
pub const POWER_EPS: f64 = 1e-12;
/// dB that maps to -1. A 16-bit noise floor (about -144 dB) and silence land here.
pub const DB_FLOOR: f32 = -120.0;
/// dB that maps to +1. A full-scale sine peaks near -23 dB and a full-scale square's
/// fundamental near -21 dB, so full-scale music keeps about 10 dB of headroom.
pub const DB_CEIL: f32 = -10.0;
/// The image value of silence.
pub const SILENCE: f32 = -1.0;

/// Samples the window's last segment leaves unused: 66 150 - (255 * 257 + 510) = 105.
/// A window is therefore complete 105 samples before its end.
pub const TAIL_SAMPLES: i64 =
    WINDOW_SAMPLES as i64 - ((SIZE as i64 - 1) * HOP_SAMPLES as i64 + SEGMENT_SAMPLES as i64);

/// The end of a window, in 44.1 kHz samples from the start of the stream: always
/// `WINDOW_SAMPLES + HOP_SAMPLES * m` for an integer `m` (which may be negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowEnd(i64);

impl WindowEnd {
    /// The latest window end at or before the 44.1 kHz sample position `t`.
    pub fn at_or_before(t: i64) -> Self {
        let m = (t - WINDOW_SAMPLES as i64).div_euclid(HOP_SAMPLES as i64);
        Self::from_first_column(m)
    }

    /// The window whose leftmost column is `m`.
    pub const fn from_first_column(m: i64) -> Self {
        Self(WINDOW_SAMPLES as i64 + HOP_SAMPLES as i64 * m)
    }

    /// The window whose rightmost column is `c`.
    pub fn from_last_column(c: i64) -> Self {
        Self::from_first_column(c - (SIZE as i64 - 1))
    }

    /// The end, in 44.1 kHz samples.
    pub fn samples(self) -> i64 {
        self.0
    }

    /// Index of the leftmost (oldest) column.
    pub fn first_column(self) -> i64 {
        (self.0 - WINDOW_SAMPLES as i64) / HOP_SAMPLES as i64
    }

    /// Index of the rightmost (newest) column.
    pub fn last_column(self) -> i64 {
        self.first_column() + SIZE as i64 - 1
    }

    /// The first 44.1 kHz sample of the window.
    pub fn start_samples(self) -> i64 {
        self.0 - WINDOW_SAMPLES as i64
    }
}

/// One model input: 256x256 values in [-1, 1], row-major, row 0 at the top (22 050 Hz),
/// column 0 on the left (oldest). Always exactly this size: the type is the proof.
#[derive(Clone, PartialEq)]
pub struct SpectrogramWindow {
    pixels: Box<[f32]>,
}

impl Default for SpectrogramWindow {
    fn default() -> Self {
        Self {
            pixels: vec![SILENCE; SIZE * SIZE].into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for SpectrogramWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (min, max) = self
            .pixels
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        write!(f, "SpectrogramWindow {{ min: {min}, max: {max} }}")
    }
}

impl SpectrogramWindow {
    /// Row-major pixels, `SIZE * SIZE` long.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// Build from row-major pixels; `None` unless there are exactly `SIZE * SIZE`.
    pub fn from_pixels(pixels: &[f32]) -> Option<Self> {
        (pixels.len() == SIZE * SIZE).then(|| Self {
            pixels: pixels.into(),
        })
    }

    /// Row `row` of the image (row 0 is the top, 22 050 Hz), oldest column first.
    pub fn row_mut(&mut self, row: usize) -> &mut [f32] {
        &mut self.pixels[row * SIZE..(row + 1) * SIZE]
    }

    /// Write column `x` of the image from a column in frequency order (bin 0 first).
    /// Low frequencies go to the bottom row.
    pub fn set_column(&mut self, x: usize, column: &[f32; SIZE]) {
        for (bin, &v) in column.iter().enumerate() {
            self.pixels[(SIZE - 1 - bin) * SIZE + x] = v;
        }
    }

    /// The 8-bit grey form a dataset stores: -1 -> 0, +1 -> 255, rounded.
    pub fn to_gray8(&self) -> Vec<u8> {
        self.pixels.iter().map(|&v| to_u8(v)).collect()
    }

    /// The inverse of [`Self::to_gray8`], up to its rounding (at most 1/255).
    pub fn from_gray8(gray: &[u8]) -> Option<Self> {
        (gray.len() == SIZE * SIZE).then(|| Self {
            pixels: gray.iter().map(|&g| g as f32 / 127.5 - 1.0).collect(),
        })
    }
}

fn to_u8(v: f32) -> u8 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Map power spectral density to the image range. NaN maps to silence, so a NaN that
/// slipped past the input sanitiser can never reach the model.
pub fn psd_to_image(psd: f64) -> f32 {
    let db = (10.0 * (psd + POWER_EPS).log10()) as f32;
    let v = 2.0 * (db - DB_FLOOR) / (DB_CEIL - DB_FLOOR) - 1.0;
    if v.is_nan() {
        SILENCE
    } else {
        v.clamp(-1.0, 1.0)
    }
}

/// scipy's periodic Tukey window (`get_window(('tukey', alpha), n)`, `fftbins=True`):
/// the symmetric window of length `n + 1` without its last point.
pub fn tukey_periodic(n: usize, alpha: f64) -> Vec<f64> {
    let m = n + 1;
    let width = (alpha * (m as f64 - 1.0) / 2.0).floor() as usize;
    (0..n)
        .map(|i| {
            let x = i as f64;
            let denom = alpha * (m as f64 - 1.0);
            if i <= width {
                0.5 * (1.0 + (std::f64::consts::PI * (-1.0 + 2.0 * x / denom)).cos())
            } else if i >= m - width - 1 {
                0.5 * (1.0 + (std::f64::consts::PI * (-2.0 / alpha + 1.0 + 2.0 * x / denom)).cos())
            } else {
                1.0
            }
        })
        .collect()
}

/// Turns one 510-sample segment into one image column. Planned once; `column` never
/// allocates, so the audio thread may call it. It works in f64, as scipy does: at 172
/// columns a second the cost is negligible, and deep sidelobes stay exact.
pub struct ColumnAnalyser {
    fft: Arc<dyn Fft<f64>>,
    window: Box<[f64]>,
    /// `1 / (fs * sum(window^2))`: scipy's `scaling='density'`.
    density_scale: f64,
    buffer: Box<[Complex64]>,
    scratch: Box<[Complex64]>,
}

impl Default for ColumnAnalyser {
    fn default() -> Self {
        Self::new()
    }
}

impl ColumnAnalyser {
    pub fn new() -> Self {
        let fft = FftPlanner::new().plan_fft_forward(SEGMENT_SAMPLES);
        let window = tukey_periodic(SEGMENT_SAMPLES, TUKEY_ALPHA);
        let density_scale =
            1.0 / (SAMPLE_RATE_HZ as f64 * window.iter().map(|w| w * w).sum::<f64>());
        let scratch = vec![Complex64::default(); fft.get_inplace_scratch_len()].into_boxed_slice();
        Self {
            fft,
            window: window.into_boxed_slice(),
            density_scale,
            buffer: vec![Complex64::default(); SEGMENT_SAMPLES].into_boxed_slice(),
            scratch,
        }
    }

    /// One column, frequency bin 0 first, from exactly `SEGMENT_SAMPLES` samples.
    /// Audio thread safe: no allocation.
    pub fn column(&mut self, segment: &[f32], out: &mut [f32; SIZE]) {
        debug_assert_eq!(segment.len(), SEGMENT_SAMPLES);
        // detrend='constant': remove the segment's mean before windowing.
        let mean = segment.iter().map(|&s| s as f64).sum::<f64>() / SEGMENT_SAMPLES as f64;
        for ((b, &s), &w) in self.buffer.iter_mut().zip(segment).zip(self.window.iter()) {
            *b = Complex64::new((s as f64 - mean) * w, 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.buffer, &mut self.scratch);
        for (bin, o) in out.iter_mut().enumerate() {
            let power = self.buffer[bin].norm_sqr() * self.density_scale;
            // One-sided spectrum: every bin but DC and Nyquist counts twice.
            let one_sided = if bin == 0 || bin == SIZE - 1 {
                power
            } else {
                2.0 * power
            };
            *o = psd_to_image(one_sided);
        }
    }
}

/// The image for the window ending at `end`, from a whole 44.1 kHz signal whose first
/// sample is stream sample 0. Samples outside the signal count as silence. Offline only.
pub fn window_from_signal(
    signal: &[f32],
    end: WindowEnd,
    analyser: &mut ColumnAnalyser,
) -> SpectrogramWindow {
    let mut image = SpectrogramWindow::default();
    let mut segment = [0.0f32; SEGMENT_SAMPLES];
    let mut column = [0.0f32; SIZE];
    for x in 0..SIZE {
        let start = (end.first_column() + x as i64) * HOP_SAMPLES as i64;
        for (i, s) in segment.iter_mut().enumerate() {
            let at = start + i as i64;
            *s = if at >= 0 && (at as usize) < signal.len() {
                signal[at as usize]
            } else {
                0.0
            };
        }
        analyser.column(&segment, &mut column);
        image.set_column(x, &column);
    }
    image
}

/// The image of exactly `WINDOW_SAMPLES` samples, as the paper computed it: the window
/// that starts at the first sample. Offline only.
pub fn window_from_samples(samples: &[f32]) -> SpectrogramWindow {
    assert_eq!(
        samples.len(),
        WINDOW_SAMPLES,
        "a spectrogram window is {WINDOW_SAMPLES} samples"
    );
    window_from_signal(
        samples,
        WindowEnd::from_first_column(0),
        &mut ColumnAnalyser::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f64, amp: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq_hz * i as f64 / SAMPLE_RATE_HZ as f64)
                    .sin()) as f32
            })
            .collect()
    }

    #[test]
    fn grid_constants_give_256_columns() {
        assert_eq!((WINDOW_SAMPLES - SEGMENT_SAMPLES) / HOP_SAMPLES + 1, SIZE);
        assert_eq!(SEGMENT_SAMPLES / 2 + 1, SIZE);
        assert_eq!(TAIL_SAMPLES, 105);
    }

    #[test]
    fn window_end_snaps_down_to_the_grid() {
        for t in [
            -100_000i64,
            -1,
            0,
            1,
            66_149,
            66_150,
            66_151,
            66_406,
            66_407,
            1_000_000,
        ] {
            let end = WindowEnd::at_or_before(t);
            assert!(
                end.samples() <= t && t - end.samples() < HOP_SAMPLES as i64,
                "t={t} end={end:?}"
            );
            assert_eq!(
                (end.samples() - WINDOW_SAMPLES as i64).rem_euclid(HOP_SAMPLES as i64),
                0
            );
            assert_eq!(WindowEnd::from_last_column(end.last_column()), end);
        }
    }

    #[test]
    fn silence_is_the_floor() {
        let image = window_from_samples(&vec![0.0; WINDOW_SAMPLES]);
        assert!(image.pixels().iter().all(|&v| v == SILENCE));
    }

    /// Property: a sine's energy peaks in the row of its frequency bin, in every column.
    #[test]
    fn sine_peaks_in_its_bin() {
        for bin in [3usize, 20, 57, 128, 200, 250] {
            let freq = bin as f64 * SAMPLE_RATE_HZ as f64 / SEGMENT_SAMPLES as f64;
            let image = window_from_samples(&sine(freq, 0.5, WINDOW_SAMPLES));
            for x in 0..SIZE {
                let peak_row = (0..SIZE)
                    .max_by(|&a, &b| {
                        image.pixels()[a * SIZE + x].total_cmp(&image.pixels()[b * SIZE + x])
                    })
                    .unwrap();
                assert_eq!(SIZE - 1 - peak_row, bin, "column {x}");
            }
        }
    }

    #[test]
    fn full_scale_sine_stays_below_the_ceiling() {
        let image = window_from_samples(&sine(1000.0, 1.0, WINDOW_SAMPLES));
        let max = image.pixels().iter().cloned().fold(f32::MIN, f32::max);
        assert!(max < 1.0 && max > 0.5, "max {max}");
    }

    #[test]
    fn tukey_matches_known_points() {
        let w = tukey_periodic(SEGMENT_SAMPLES, TUKEY_ALPHA);
        assert_eq!(w[0], 0.0);
        assert!(w[100..400].iter().all(|&v| v == 1.0));
        // Periodic: symmetric about n/2, so w[k] == w[n - k].
        for k in 1..SEGMENT_SAMPLES / 2 {
            assert!((w[k] - w[SEGMENT_SAMPLES - k]).abs() < 1e-12, "k={k}");
        }
    }

    #[test]
    fn gray8_round_trips_within_one_step() {
        let image = window_from_samples(&sine(440.0, 0.3, WINDOW_SAMPLES));
        let back = SpectrogramWindow::from_gray8(&image.to_gray8()).unwrap();
        for (a, b) in image.pixels().iter().zip(back.pixels()) {
            assert!((a - b).abs() <= 1.0 / 255.0 + 1e-6);
        }
    }

    #[test]
    fn nan_power_is_silence() {
        assert_eq!(psd_to_image(f64::NAN), SILENCE);
        assert_eq!(psd_to_image(f64::INFINITY), 1.0);
    }
}
