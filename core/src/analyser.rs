//! The streaming spectrogram: host-rate samples in, 256x256 windows out.
//!
//! **Audio thread only** after construction: [`Analyser::push`], [`Analyser::copy_window`]
//! and [`Analyser::reset`] never allocate, lock or wait. Everything is sized in
//! [`Analyser::new`], and the FFT is planned there.
//!
//! Samples are resampled to 44.1 kHz by [`StreamResampler`], and every `HOP_SAMPLES`
//! a new column is computed on the stream's hop grid (see [`crate::spectrogram`]). The
//! last [`RING_COLUMNS`] columns are kept, so a window can be copied out a little after
//! its end has passed (the resampler delays the stream by a few milliseconds).

use crate::resample::{ResampleError, StreamResampler};
use crate::spectrogram::{
    ColumnAnalyser, SpectrogramWindow, WindowEnd, HOP_SAMPLES, SEGMENT_SAMPLES, SILENCE, SIZE,
};

/// Columns kept: one window plus about 1.5 s of slack for frames that wait on the
/// resampler or on a busy worker pool.
pub const RING_COLUMNS: usize = 2 * SIZE;
/// 44.1 kHz samples kept for the segment in progress (a power of two >= 510).
const HISTORY_SAMPLES: usize = 1024;
/// Inputs beyond this magnitude are clamped: +40 dBFS is 100, so this leaves room and
/// still keeps the power finite in f32.
const MAX_INPUT: f32 = 1.0e4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the window's newest column has not been analysed yet")]
    NotReady,
    #[error("the window's oldest column has already left the analyser's history")]
    Expired,
}

pub struct Analyser {
    resampler: StreamResampler,
    columns: ColumnAnalyser,
    /// 44.1 kHz samples, indexed by stream position modulo `HISTORY_SAMPLES`.
    history: Box<[f32]>,
    /// The stream position of the next 44.1 kHz sample.
    received: i64,
    /// The index of the next column to compute.
    next_column: i64,
    /// Columns stored bin-major (`bin * RING_COLUMNS + slot`, slot = column index modulo
    /// `RING_COLUMNS`), so that a window's row is one or two contiguous copies.
    ring: Box<[f32]>,
    segment: Box<[f32]>,
    column: [f32; SIZE],
    /// Non-finite input samples replaced by silence since the last reset.
    num_non_finite: u64,
}

impl Analyser {
    pub fn new(host_rate_hz: u32) -> Result<Self, ResampleError> {
        let mut analyser = Self {
            resampler: StreamResampler::new(host_rate_hz)?,
            columns: ColumnAnalyser::new(),
            history: vec![0.0; HISTORY_SAMPLES].into_boxed_slice(),
            received: 0,
            next_column: 0,
            ring: vec![SILENCE; SIZE * RING_COLUMNS].into_boxed_slice(),
            segment: vec![0.0; SEGMENT_SAMPLES].into_boxed_slice(),
            column: [SILENCE; SIZE],
            num_non_finite: 0,
        };
        analyser.reset();
        Ok(analyser)
    }

    pub fn host_rate_hz(&self) -> u32 {
        self.resampler.host_rate_hz()
    }

    /// Start a new stream at position 0, with silence before it. Audio thread safe.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.history.fill(0.0);
        self.ring.fill(SILENCE);
        self.received = 0;
        // Column -1 covers [-257, 253): the first one that holds real samples. All
        // earlier ones are silence, which the ring already holds.
        self.next_column = -1;
        self.num_non_finite = 0;
    }

    /// Push one host-rate mono sample. NaN and infinities become silence and are counted;
    /// huge values are clamped. Audio thread safe.
    #[inline]
    pub fn push(&mut self, sample: f32) {
        let sample = if sample.is_finite() {
            sample.clamp(-MAX_INPUT, MAX_INPUT)
        } else {
            self.num_non_finite += 1;
            0.0
        };
        let Self {
            resampler,
            columns,
            history,
            received,
            next_column,
            ring,
            segment,
            column,
            ..
        } = self;
        resampler.push(sample, |s| {
            history[(*received as usize) % HISTORY_SAMPLES] = s;
            *received += 1;
            let column_end = *next_column * HOP_SAMPLES as i64 + SEGMENT_SAMPLES as i64;
            if *received == column_end {
                let start = column_end - SEGMENT_SAMPLES as i64;
                for (i, v) in segment.iter_mut().enumerate() {
                    let at = start + i as i64;
                    *v = if at >= 0 {
                        history[(at as usize) % HISTORY_SAMPLES]
                    } else {
                        0.0
                    };
                }
                columns.column(segment, column);
                let slot = next_column.rem_euclid(RING_COLUMNS as i64) as usize;
                for (bin, &v) in column.iter().enumerate() {
                    ring[bin * RING_COLUMNS + slot] = v;
                }
                *next_column += 1;
            }
        });
    }

    /// The number of 44.1 kHz samples analysed so far: the stream position of the next one.
    pub fn received_44k(&self) -> i64 {
        self.received
    }

    /// Samples that were NaN or infinite since the last reset.
    pub fn num_non_finite(&self) -> u64 {
        self.num_non_finite
    }

    /// The newest window whose every column is analysed.
    pub fn latest_window_end(&self) -> WindowEnd {
        WindowEnd::from_last_column(self.next_column - 1)
    }

    /// Copy the window ending at `end` into `out`. Audio thread safe.
    pub fn copy_window(
        &self,
        end: WindowEnd,
        out: &mut SpectrogramWindow,
    ) -> Result<(), WindowError> {
        if end.last_column() >= self.next_column {
            return Err(WindowError::NotReady);
        }
        if end.first_column() < self.next_column - RING_COLUMNS as i64 {
            return Err(WindowError::Expired);
        }
        let first_slot = end.first_column().rem_euclid(RING_COLUMNS as i64) as usize;
        let head = SIZE.min(RING_COLUMNS - first_slot);
        for row in 0..SIZE {
            let bin = SIZE - 1 - row;
            let src = &self.ring[bin * RING_COLUMNS..(bin + 1) * RING_COLUMNS];
            let dst = out.row_mut(row);
            dst[..head].copy_from_slice(&src[first_slot..first_slot + head]);
            dst[head..].copy_from_slice(&src[..SIZE - head]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The streaming analyser must give exactly the offline image for the same audio,
    //! whatever the block size; inputs come from a fixed-seed generator.
    use super::*;
    use crate::spectrogram::{window_from_signal, SAMPLE_RATE_HZ};

    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn streaming_equals_offline_at_44k() {
        let x = noise(1, 200_000);
        let mut analyser = Analyser::new(SAMPLE_RATE_HZ).unwrap();
        let mut offline = ColumnAnalyser::new();
        let mut live = SpectrogramWindow::default();
        let mut checked = 0;
        for (i, &s) in x.iter().enumerate() {
            analyser.push(s);
            if i % 10_007 == 0 {
                let end = analyser.latest_window_end();
                analyser.copy_window(end, &mut live).unwrap();
                assert_eq!(
                    live,
                    window_from_signal(&x, end, &mut offline),
                    "at sample {i}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 20);
    }

    #[test]
    fn windows_are_ready_105_samples_before_their_end() {
        let mut analyser = Analyser::new(SAMPLE_RATE_HZ).unwrap();
        let end = WindowEnd::from_first_column(0);
        let mut out = SpectrogramWindow::default();
        for _ in 0..end.samples() - 105 - 1 {
            analyser.push(0.1);
        }
        assert_eq!(
            analyser.copy_window(end, &mut out),
            Err(WindowError::NotReady)
        );
        analyser.push(0.1);
        assert_eq!(analyser.copy_window(end, &mut out), Ok(()));
    }

    #[test]
    fn old_windows_expire() {
        let mut analyser = Analyser::new(SAMPLE_RATE_HZ).unwrap();
        for s in noise(2, 44_100 * 5) {
            analyser.push(s);
        }
        let mut out = SpectrogramWindow::default();
        assert_eq!(
            analyser.copy_window(WindowEnd::from_first_column(0), &mut out),
            Err(WindowError::Expired)
        );
    }

    #[test]
    fn non_finite_input_is_silence() {
        let mut analyser = Analyser::new(48_000).unwrap();
        for i in 0..100_000 {
            analyser.push(match i % 4 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                _ => 1e-40,
            });
        }
        assert_eq!(analyser.num_non_finite(), 75_000);
        let mut out = SpectrogramWindow::default();
        analyser
            .copy_window(analyser.latest_window_end(), &mut out)
            .unwrap();
        assert!(out.pixels().iter().all(|v| v.is_finite()));
    }
}
