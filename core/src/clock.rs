//! The frame clock: where video frames fall and which spectrogram window each one sees.
//!
//! Frame `k` falls at host sample `round(k * rate / fps)` of its timeline. Its window is
//! the latest one on the hop grid that ends at or before that moment, measured in 44.1 kHz
//! samples of the analysed stream (see [`WindowEnd`]). The plugin, the exporter and the
//! renderer all ask this type, so a frame means the same audio everywhere.

use crate::spectrogram::{WindowEnd, SAMPLE_RATE_HZ};

/// The frame rates we offer: those of film, PAL, NTSC-ish video and high-rate screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fps {
    F24,
    F25,
    #[default]
    F30,
    F50,
    F60,
}

impl Fps {
    pub const ALL: [Fps; 5] = [Fps::F24, Fps::F25, Fps::F30, Fps::F50, Fps::F60];

    pub fn per_second(self) -> u32 {
        match self {
            Fps::F24 => 24,
            Fps::F25 => 25,
            Fps::F30 => 30,
            Fps::F50 => 50,
            Fps::F60 => 60,
        }
    }

    pub fn from_per_second(fps: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.per_second() == fps)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameClock {
    fps: u32,
    rate_hz: u32,
}

impl FrameClock {
    pub fn new(fps: Fps, rate_hz: u32) -> Self {
        Self {
            fps: fps.per_second(),
            rate_hz: rate_hz.max(1),
        }
    }

    pub fn fps(&self) -> u32 {
        self.fps
    }

    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// The sample at which frame `k` falls: `round(k * rate / fps)`, halves rounded up.
    pub fn frame_position(&self, k: i64) -> i64 {
        let (rate, fps) = (self.rate_hz as i64, self.fps as i64);
        (2 * k * rate + fps).div_euclid(2 * fps)
    }

    /// The first frame that falls at or after sample `position`.
    pub fn first_frame_at_or_after(&self, position: i64) -> i64 {
        let (rate, fps) = (self.rate_hz as i64, self.fps as i64);
        let mut k = (position * fps).div_euclid(rate);
        while self.frame_position(k) < position {
            k += 1;
        }
        while self.frame_position(k - 1) >= position {
            k -= 1;
        }
        k
    }

    /// The 44.1 kHz stream position of a host-rate stream position (rounded down).
    pub fn to_44k(&self, stream_position: i64) -> i64 {
        (stream_position * SAMPLE_RATE_HZ as i64).div_euclid(self.rate_hz as i64)
    }

    /// The window a frame sees when it falls at host-rate stream position `stream_position`
    /// (samples since the analyser's stream started).
    pub fn window_end(&self, stream_position: i64) -> WindowEnd {
        WindowEnd::at_or_before(self.to_44k(stream_position))
    }

    /// The window a moment `seconds` into a stream at `rate_hz` sees: the moment is
    /// rounded to the nearest host sample, then mapped as a frame would be.
    pub fn window_end_at_seconds(seconds: f64, rate_hz: u32) -> WindowEnd {
        let clock = Self {
            fps: 1,
            rate_hz: rate_hz.max(1),
        };
        clock.window_end((seconds * rate_hz as f64).round() as i64)
    }

    /// Number of frames that fall in `[0, samples)`.
    pub fn num_frames(&self, samples: i64) -> i64 {
        self.first_frame_at_or_after(samples)
    }

    /// Number of frames whose whole display time `[t_k, t_k+1)` lies in `[0, samples)`: the
    /// frames a video of that audio shows. A bounce and `mvgen render` both make exactly
    /// these, so 10 s at 30 fps is 300 frames and a partial last frame is never made.
    pub fn num_whole_frames(&self, samples: i64) -> i64 {
        (self.first_frame_at_or_after(samples + 1) - 1).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_positions_round() {
        let clock = FrameClock::new(Fps::F24, 44_100);
        // 44100 / 24 = 1837.5: halves round up.
        assert_eq!(clock.frame_position(1), 1838);
        assert_eq!(clock.frame_position(2), 3675);
        assert_eq!(FrameClock::new(Fps::F30, 48_000).frame_position(30), 48_000);
    }

    #[test]
    fn first_frame_inverts_position() {
        for fps in Fps::ALL {
            for rate in [22_050u32, 44_100, 48_000, 96_000, 192_000] {
                let clock = FrameClock::new(fps, rate);
                for k in 0..200 {
                    let p = clock.frame_position(k);
                    assert_eq!(clock.first_frame_at_or_after(p), k);
                    assert_eq!(clock.first_frame_at_or_after(p + 1), k + 1);
                }
            }
        }
    }

    #[test]
    fn ten_seconds_hold_fps_times_ten_frames() {
        for fps in Fps::ALL {
            let clock = FrameClock::new(fps, 48_000);
            assert_eq!(clock.num_frames(480_000), 10 * fps.per_second() as i64);
            assert_eq!(
                clock.num_whole_frames(480_000),
                10 * fps.per_second() as i64
            );
        }
    }

    /// Whole frames are those whose next frame's position is within the audio, at any length.
    #[test]
    fn whole_frames_end_where_the_audio_ends() {
        for fps in Fps::ALL {
            for rate in [8_000u32, 44_100, 48_000, 96_000] {
                let clock = FrameClock::new(fps, rate);
                for samples in (0..3 * rate as i64).step_by(97) {
                    let n = clock.num_whole_frames(samples);
                    assert!(
                        clock.frame_position(n) <= samples,
                        "{fps:?} {rate} {samples}"
                    );
                    assert!(
                        clock.frame_position(n + 1) > samples,
                        "{fps:?} {rate} {samples}"
                    );
                }
            }
        }
        assert_eq!(FrameClock::new(Fps::F30, 48_000).num_whole_frames(1_599), 0);
        assert_eq!(FrameClock::new(Fps::F30, 48_000).num_whole_frames(1_600), 1);
    }
}
