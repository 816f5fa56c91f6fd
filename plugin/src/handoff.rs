//! The lock-free hand-off of spectrogram windows from the audio thread to the worker.
//!
//! Two single-producer single-consumer queues (rtrb): windows travel to the worker in
//! [`FramePacket`]s, and their boxes travel back to the audio thread for reuse. The pool
//! of boxes is allocated once in [`handoff`], so neither side allocates or frees while
//! streaming, and neither side ever waits: a full queue or an empty pool drops the frame
//! and the caller counts it.

use mvgen_core::{SpectrogramWindow, WindowEnd};
use rtrb::{Consumer, Producer, RingBuffer};

/// Windows in flight at once. Eight frames is over 100 ms at 60 fps: more than the worker
/// should ever lag before dropping is the right answer.
pub const POOL_WINDOWS: usize = 8;

/// One video frame's input, on its way to the worker.
pub struct FramePacket {
    /// Frame index on the timeline the frame clock counted (host timeline while playing).
    pub frame: i64,
    /// The timeline sample at which the frame falls.
    pub timeline_sample: i64,
    /// Where the next frame falls: this frame is shown until then.
    pub next_timeline_sample: i64,
    /// The window's end in the analysed 44.1 kHz stream.
    pub window_end: WindowEnd,
    pub window: Box<SpectrogramWindow>,
}

/// Audio thread half. **Audio thread only.**
pub struct AudioSide {
    /// The audio itself, interleaved, for a bounce export; `None` unless exporting.
    pub audio: Option<Producer<f32>>,
    to_worker: Producer<FramePacket>,
    returned: Consumer<Box<SpectrogramWindow>>,
    spare: Option<Box<SpectrogramWindow>>,
}

/// Worker half.
pub struct WorkerSide {
    pub audio: Option<Consumer<f32>>,
    pub from_audio: Consumer<FramePacket>,
    pub to_audio: Producer<Box<SpectrogramWindow>>,
}

/// Audio samples the export ring holds: 2^20 floats (4 MiB), several seconds of stereo
/// even at 192 kHz, against the pool's few frames of lead.
pub const EXPORT_AUDIO_SAMPLES: usize = 1 << 20;

/// A connected pair of halves with `POOL_WINDOWS` preallocated windows, and an audio ring
/// when `export_audio`.
pub fn handoff(export_audio: bool) -> (AudioSide, WorkerSide) {
    let (audio_in, audio_out) = if export_audio {
        let (p, c) = RingBuffer::new(EXPORT_AUDIO_SAMPLES);
        (Some(p), Some(c))
    } else {
        (None, None)
    };
    let (to_worker, from_audio) = RingBuffer::new(POOL_WINDOWS);
    let (mut to_audio, returned) = RingBuffer::new(POOL_WINDOWS);
    for _ in 0..POOL_WINDOWS {
        // Cannot fail: the queue holds exactly the pool.
        let _ = to_audio.push(Box::default());
    }
    (
        AudioSide {
            audio: audio_in,
            to_worker,
            returned,
            spare: None,
        },
        WorkerSide {
            audio: audio_out,
            from_audio,
            to_audio,
        },
    )
}

impl AudioSide {
    /// A free window to fill, if the pool has one. Never allocates.
    pub fn take_window(&mut self) -> Option<Box<SpectrogramWindow>> {
        self.spare.take().or_else(|| self.returned.pop().ok())
    }

    /// Give a window taken with [`Self::take_window`] back unused.
    pub fn give_back(&mut self, window: Box<SpectrogramWindow>) {
        self.spare = Some(window);
    }

    /// Send a filled packet. On a full queue the packet's window is kept for reuse and
    /// `false` is returned: the frame is dropped, never waited for.
    pub fn send(&mut self, packet: FramePacket) -> bool {
        match self.to_worker.push(packet) {
            Ok(()) => true,
            Err(rtrb::PushError::Full(packet)) => {
                self.spare = Some(packet.window);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(frame: i64, window: Box<SpectrogramWindow>) -> FramePacket {
        FramePacket {
            frame,
            timeline_sample: 0,
            next_timeline_sample: 0,
            window_end: WindowEnd::from_first_column(frame),
            window,
        }
    }

    #[test]
    fn pool_runs_dry_then_refills() {
        let (mut audio, mut worker) = handoff(false);
        for frame in 0..POOL_WINDOWS as i64 {
            let w = audio.take_window().expect("pool has a window");
            assert!(audio.send(packet(frame, w)));
        }
        assert!(
            audio.take_window().is_none(),
            "every window is with the worker"
        );
        let p = worker.from_audio.pop().unwrap();
        assert_eq!(p.frame, 0);
        worker.to_audio.push(p.window).unwrap();
        assert!(audio.take_window().is_some());
    }
}
