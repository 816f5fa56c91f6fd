//! The one way host-rate audio becomes 44.1 kHz audio, for the plugin and the trainer.
//!
//! A streaming wrapper around rubato: feed it samples one at a time, in any grouping, and
//! it calls back with 44.1 kHz samples. Its startup delay is trimmed, so output sample `i`
//! is the signal at time `i / 44100` s. Because the resampler always works on chunks of a
//! fixed size, the output does not depend on how the input was grouped: a whole file
//! pushed at once and a live stream pushed in host blocks give the same samples. At
//! 44.1 kHz it passes samples straight through, so the spectrogram contract holds exactly.
//!
//! Rates whose ratio to 44 100 is simple (22.05, 32, 48, 88.2, 96, 192 kHz, 8 kHz...) use
//! rubato's synchronous FFT resampler, which is exact for the ratio. Its chunk must be a
//! whole number of the ratio's smallest blocks, which for a rate sharing no factor with
//! 44 100 (44 101 Hz, say) is a whole second: a second of delay and an 88k-point FFT in one
//! audio callback. Those rates use rubato's asynchronous sinc resampler instead, on short
//! chunks, so latency and work per callback stay bounded at every rate
//! ([`MAX_CHUNK_FRAMES`]).
//!
//! After [`StreamResampler::new`] nothing allocates, locks or waits, except
//! [`StreamResampler::finish`], which is for offline use.

use crate::spectrogram::SAMPLE_RATE_HZ;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters, WindowFunction,
};

/// Lowest and highest host rates we accept; CONTEXT.md asks for 22.05 to 192 kHz.
pub const MIN_RATE_HZ: u32 = 8_000;
pub const MAX_RATE_HZ: u32 = 384_000;
/// Input frames per resampler call, at least. Small enough to keep the latency near 10 ms.
const MIN_CHUNK_FRAMES: usize = 256;
/// The longest chunk the exact FFT resampler may use; rates that would need more use the
/// sinc resampler. 4 096 frames is 85 ms at 48 kHz and 21 ms at 192 kHz; every common
/// rate needs far less (48 kHz: 320, 8 kHz: 320, 11.025 kHz: 256).
pub const MAX_CHUNK_FRAMES: usize = 4_096;
/// Sinc filter length for the asynchronous resampler (rubato's suggested starting point).
const SINC_LEN: usize = 256;

/// A chunk that is a whole number of the rate pair's smallest blocks and whose output
/// block is even: rubato's delay is half the output block, and an odd block would leave a
/// half-sample misalignment that the delay trim cannot remove.
fn chunk_frames(host_rate_hz: u32) -> usize {
    let (a, b) = (host_rate_hz as usize, SAMPLE_RATE_HZ as usize);
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    let (block_in, block_out) = (a / x, b / x);
    let mut n = MIN_CHUNK_FRAMES.div_ceil(block_in);
    if (n * block_out) % 2 == 1 {
        n += 1;
    }
    n * block_in
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResampleError {
    #[error("sample rate {0} Hz is outside the supported {MIN_RATE_HZ}..={MAX_RATE_HZ} Hz")]
    UnsupportedRate(u32),
    #[error("the resampler could not be built for {0} Hz: {1}")]
    Construction(u32, String),
}

pub struct StreamResampler {
    host_rate_hz: u32,
    /// `None` at 44.1 kHz (pass-through).
    fft: Option<Box<dyn Resampler<f32>>>,
    input: Box<[f32]>,
    input_filled: usize,
    output: Box<[f32]>,
    /// Output samples still to discard: the resampler's startup delay.
    delay_left: usize,
    pushed: u64,
    emitted: u64,
}

impl StreamResampler {
    pub fn new(host_rate_hz: u32) -> Result<Self, ResampleError> {
        if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&host_rate_hz) {
            return Err(ResampleError::UnsupportedRate(host_rate_hz));
        }
        let construction = |e: rubato::ResamplerConstructionError| {
            ResampleError::Construction(host_rate_hz, e.to_string())
        };
        let chunk = chunk_frames(host_rate_hz);
        let fft: Option<Box<dyn Resampler<f32>>> = if host_rate_hz == SAMPLE_RATE_HZ {
            None
        } else if chunk <= MAX_CHUNK_FRAMES {
            Some(Box::new(
                Fft::<f32>::new_custom(
                    host_rate_hz as usize,
                    SAMPLE_RATE_HZ as usize,
                    chunk,
                    1,
                    1,
                    WindowFunction::BlackmanHarris2,
                    FixedSync::Input,
                )
                .map_err(construction)?,
            ))
        } else {
            Some(Box::new(
                Async::<f32>::new_sinc(
                    SAMPLE_RATE_HZ as f64 / host_rate_hz as f64,
                    1.0,
                    &SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2),
                    MIN_CHUNK_FRAMES,
                    1,
                    FixedAsync::Input,
                )
                .map_err(construction)?,
            ))
        };
        let (input_len, output_len, delay) = match &fft {
            Some(f) => (
                f.input_frames_next(),
                f.output_frames_max(),
                f.output_delay(),
            ),
            None => (0, 0, 0),
        };
        Ok(Self {
            host_rate_hz,
            fft,
            input: vec![0.0; input_len].into_boxed_slice(),
            input_filled: 0,
            output: vec![0.0; output_len].into_boxed_slice(),
            delay_left: delay,
            pushed: 0,
            emitted: 0,
        })
    }

    pub fn host_rate_hz(&self) -> u32 {
        self.host_rate_hz
    }

    /// Host-rate samples the resampler gathers before it makes output: the work of one
    /// resampler call, and most of its latency. At most [`MAX_CHUNK_FRAMES`].
    pub fn chunk_frames(&self) -> usize {
        self.input.len()
    }

    /// Forget all history, as if newly built. Audio thread safe.
    pub fn reset(&mut self) {
        if let Some(fft) = &mut self.fft {
            fft.reset();
            self.delay_left = fft.output_delay();
        }
        self.input_filled = 0;
        self.pushed = 0;
        self.emitted = 0;
    }

    /// Push one host-rate sample; `emit` receives the 44.1 kHz samples that became
    /// available. Audio thread safe.
    #[inline]
    pub fn push(&mut self, sample: f32, mut emit: impl FnMut(f32)) {
        self.pushed += 1;
        let Some(fft) = &mut self.fft else {
            self.emitted += 1;
            emit(sample);
            return;
        };
        self.input[self.input_filled] = sample;
        self.input_filled += 1;
        if self.input_filled < self.input.len() {
            return;
        }
        self.input_filled = 0;
        let frames_in = self.input.len();
        let frames_out = self.output.len();
        let (Ok(input), Ok(mut output)) = (
            InterleavedSlice::new(&self.input[..], 1, frames_in),
            InterleavedSlice::new_mut(&mut self.output[..], 1, frames_out),
        ) else {
            return;
        };
        // The buffers are sized from the resampler itself, so this cannot fail; if it
        // ever did, the chunk is lost rather than the audio thread.
        let Ok((_, written)) = fft.process_into_buffer(&input, &mut output, None) else {
            return;
        };
        for &s in &self.output[..written] {
            if self.delay_left > 0 {
                self.delay_left -= 1;
            } else {
                self.emitted += 1;
                emit(s);
            }
        }
    }

    /// Flush the tail: push silence until every pushed sample has come out, so that the
    /// output is `ceil(pushed * 44100 / host_rate)` samples long. Offline use; the
    /// resampler must be [`Self::reset`] before it streams again.
    pub fn finish(&mut self, mut emit: impl FnMut(f32)) {
        let expected = (self.pushed * SAMPLE_RATE_HZ as u64).div_ceil(self.host_rate_hz as u64);
        let mut emitted = self.emitted;
        while emitted < expected {
            self.push(0.0, |s| {
                if emitted < expected {
                    emit(s);
                    emitted += 1;
                }
            });
        }
    }

    /// Resample a whole signal. Offline use.
    pub fn resample_all(host_rate_hz: u32, signal: &[f32]) -> Result<Vec<f32>, ResampleError> {
        let mut resampler = Self::new(host_rate_hz)?;
        let mut out = Vec::with_capacity(
            (signal.len() as u64 * SAMPLE_RATE_HZ as u64 / host_rate_hz as u64) as usize + 1,
        );
        for &s in signal {
            resampler.push(s, |o| out.push(o));
        }
        resampler.finish(|o| out.push(o));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f64, rate_hz: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * freq_hz * i as f64 / rate_hz as f64).sin())
                    as f32
            })
            .collect()
    }

    #[test]
    fn pass_through_at_44k() {
        let x = sine(440.0, 44_100, 1000);
        assert_eq!(StreamResampler::resample_all(44_100, &x).unwrap(), x);
    }

    #[test]
    fn output_length_and_alignment() {
        for rate in [22_050u32, 48_000, 96_000, 192_000] {
            let n = rate as usize; // one second
            let x = sine(1000.0, rate, n);
            let y = StreamResampler::resample_all(rate, &x).unwrap();
            assert_eq!(y.len(), 44_100, "rate {rate}");
            // Delay trimmed: the output lines up with the ideal sine (away from the edges).
            let ideal = sine(1000.0, 44_100, 44_100);
            let err = y[2000..42_000]
                .iter()
                .zip(&ideal[2000..42_000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-3, "rate {rate}: max error {err}");
        }
    }

    /// Rates that share no factor with 44 100 (44 101 Hz), or a small one (8 kHz), keep
    /// a short chunk and still come out aligned with the ideal signal. The sinc path trims
    /// its delay to a whole output sample, so it may sit a fraction of a sample off (at
    /// 96 001 Hz about 0.1 sample: 1.5e-2 on this 1 kHz sine; 8e-4 at 44 101 Hz).
    #[test]
    fn odd_rates_keep_short_chunks_and_alignment() {
        for (rate, tolerance) in [
            (44_101u32, 2e-3),
            (8_000, 1e-3),
            (11_025, 1e-3),
            (96_001, 2e-2),
        ] {
            let r = StreamResampler::new(rate).unwrap();
            assert!(
                r.chunk_frames() <= MAX_CHUNK_FRAMES,
                "{rate} Hz: chunk of {} frames",
                r.chunk_frames()
            );
            let x = sine(1000.0, rate, rate as usize);
            let y = StreamResampler::resample_all(rate, &x).unwrap();
            assert_eq!(y.len(), 44_100, "rate {rate}");
            let ideal = sine(1000.0, 44_100, 44_100);
            let err = y[2000..42_000]
                .iter()
                .zip(&ideal[2000..42_000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < tolerance, "rate {rate}: max error {err}");
        }
        // The exact resampler still serves the common rates.
        assert_eq!(StreamResampler::new(48_000).unwrap().chunk_frames(), 320);
    }

    #[test]
    fn grouping_does_not_change_output_at_an_odd_rate() {
        let x = sine(3000.0, 44_101, 20_000);
        let whole = StreamResampler::resample_all(44_101, &x).unwrap();
        let mut r = StreamResampler::new(44_101).unwrap();
        let mut piecewise = Vec::new();
        for block in x.chunks(77) {
            for &s in block {
                r.push(s, |o| piecewise.push(o));
            }
        }
        assert_eq!(piecewise[..], whole[..piecewise.len()]);
    }

    #[test]
    fn grouping_does_not_change_output() {
        let x = sine(3000.0, 48_000, 20_000);
        let whole = StreamResampler::resample_all(48_000, &x).unwrap();
        let mut r = StreamResampler::new(48_000).unwrap();
        let mut piecewise = Vec::new();
        for block in x.chunks(77) {
            for &s in block {
                r.push(s, |o| piecewise.push(o));
            }
        }
        assert_eq!(piecewise[..], whole[..piecewise.len()]);
    }

    #[test]
    fn rejects_absurd_rates() {
        assert_eq!(
            StreamResampler::new(0).err(),
            Some(ResampleError::UnsupportedRate(0))
        );
        assert!(StreamResampler::new(1_000_000).is_err());
    }
}
