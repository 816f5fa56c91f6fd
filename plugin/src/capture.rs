//! The audio thread's work: analyse the input, find the frames the frame clock puts in
//! this block, and hand each one's window to the worker.
//!
//! **Audio thread only.** Everything is sized in [`Capture::new`]; `process` and `reset`
//! never allocate or lock. A frame whose window is not analysed yet (the resampler runs a
//! few milliseconds behind) waits in a fixed-size pending list. In real time, a frame that
//! finds the pool empty is dropped and counted, never waited for. In an offline render
//! (a bounce) the host does not need us in real time, so the audio thread waits for the
//! worker to free a window, and no frame is lost (up to [`OFFLINE_WAIT_LIMIT`]).

use crate::handoff::{AudioSide, FramePacket};
use crate::status::Status;
use mvgen_core::resample::ResampleError;
use mvgen_core::{Analyser, Fps, FrameClock, WindowEnd, WindowError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames that may wait for their window at once. The resampler's delay is under 20 ms,
/// so at 60 fps two frames wait at most; 32 leaves room for hosts that send huge blocks.
pub const MAX_PENDING: usize = 32;

/// The longest an offline render waits for the worker before it drops a frame: a worker
/// that takes longer than this per frame has stalled.
pub const OFFLINE_WAIT_LIMIT: Duration = Duration::from_secs(10);
/// How long the audio thread sleeps between looks at the pool while it waits offline.
const OFFLINE_POLL: Duration = Duration::from_micros(200);

/// Whether the audio thread may wait for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Live playback: never wait; drop frames the worker cannot take.
    #[default]
    Realtime,
    /// Offline render: wait for the worker so that every frame is made.
    Offline,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    frame: i64,
    timeline_sample: i64,
    next_timeline_sample: i64,
    end: WindowEnd,
}

const NO_PENDING: Pending = Pending {
    frame: 0,
    timeline_sample: 0,
    next_timeline_sample: 0,
    end: WindowEnd::from_first_column(0),
};

pub struct Capture {
    analyser: Analyser,
    clock: FrameClock,
    handoff: AudioSide,
    status: Arc<Status>,
    pacing: Pacing,
    /// FIFO ring of frames waiting for their window.
    pending: [Pending; MAX_PENDING],
    pending_head: usize,
    pending_len: usize,
    /// Host-rate samples pushed into the analyser since the last reset.
    stream_position: i64,
    /// The timeline while the transport is stopped: a free-running sample count.
    free_running: i64,
    non_finite_reported: u64,
    /// Whether this stream exports its audio (decided at its first block).
    exporting: Option<bool>,
}

impl Capture {
    /// Main thread: builds the analyser for `rate_hz`.
    pub fn new(
        rate_hz: u32,
        pacing: Pacing,
        handoff: AudioSide,
        status: Arc<Status>,
    ) -> Result<Self, ResampleError> {
        Ok(Self {
            analyser: Analyser::new(rate_hz)?,
            clock: FrameClock::new(Fps::default(), rate_hz),
            handoff,
            status,
            pacing,
            pending: [NO_PENDING; MAX_PENDING],
            pending_head: 0,
            pending_len: 0,
            stream_position: 0,
            free_running: 0,
            non_finite_reported: 0,
            exporting: None,
        })
    }

    /// Start a new stream: silence before it, nothing pending.
    pub fn reset(&mut self) {
        self.analyser.reset();
        self.pending_len = 0;
        self.stream_position = 0;
        self.free_running = 0;
        self.non_finite_reported = 0;
        self.exporting = None;
    }

    /// Analyse one block. `timeline` is the host's position of the block's first sample
    /// while it plays, or `None` while it is stopped. `export`: whether an offline stream
    /// that starts with this block is exported.
    pub fn process(
        &mut self,
        channels: &[&mut [f32]],
        gain: f32,
        fps: Fps,
        timeline: Option<i64>,
        export: bool,
    ) {
        let num_samples = channels.first().map_or(0, |c| c.len());
        if num_samples == 0 {
            return;
        }
        if self.clock.fps() != fps.per_second() {
            self.clock = FrameClock::new(fps, self.clock.rate_hz());
        }
        let timeline_start = timeline.unwrap_or(self.free_running);
        self.export_audio(channels, timeline_start, export);
        self.schedule_frames(timeline_start, num_samples as i64);

        let scale = gain / channels.len() as f32;
        for i in 0..num_samples {
            let sum: f32 = channels.iter().map(|c| c[i]).sum();
            self.analyser.push(sum * scale);
        }
        self.stream_position += num_samples as i64;
        self.free_running += num_samples as i64;

        let non_finite = self.analyser.num_non_finite();
        Status::add(
            &self.status.non_finite_samples,
            non_finite - self.non_finite_reported,
        );
        self.non_finite_reported = non_finite;

        self.send_ready_frames();
    }

    /// Offline with export on: pass the block's audio to the worker, interleaved, waiting
    /// for room (a bounce may wait; only up to [`OFFLINE_WAIT_LIMIT`]).
    fn export_audio(&mut self, channels: &[&mut [f32]], timeline_start: i64, export: bool) {
        let Some(ring) = &mut self.handoff.audio else {
            return;
        };
        if self.exporting.is_none() {
            if export {
                self.status
                    .bounce_start
                    .store(timeline_start, std::sync::atomic::Ordering::SeqCst);
            }
            self.exporting = Some(export);
        }
        if self.exporting != Some(true) {
            return;
        }
        let num_samples = channels[0].len();
        let mut written = 0;
        let started = Instant::now();
        while written < num_samples {
            let room = ring.slots() / channels.len();
            if room == 0 {
                if started.elapsed() > OFFLINE_WAIT_LIMIT {
                    Status::add(
                        &self.status.export_samples_dropped,
                        (num_samples - written) as u64,
                    );
                    return;
                }
                std::thread::sleep(OFFLINE_POLL);
                continue;
            }
            let n = room.min(num_samples - written);
            let Ok(chunk) = ring.write_chunk_uninit(n * channels.len()) else {
                continue;
            };
            let samples = (written..written + n).flat_map(|i| channels.iter().map(move |c| c[i]));
            chunk.fill_from_iter(samples);
            written += n;
        }
    }

    /// Queue every frame that falls in `[timeline_start, timeline_start + len)`.
    fn schedule_frames(&mut self, timeline_start: i64, len: i64) {
        let mut k = self.clock.first_frame_at_or_after(timeline_start);
        loop {
            let timeline_sample = self.clock.frame_position(k);
            if timeline_sample >= timeline_start + len {
                break;
            }
            let stream_sample = self.stream_position + (timeline_sample - timeline_start);
            let end = self.clock.window_end(stream_sample);
            if self.pending_len == MAX_PENDING {
                Status::add(&self.status.frames_overflowed, 1);
            } else {
                let slot = (self.pending_head + self.pending_len) % MAX_PENDING;
                self.pending[slot] = Pending {
                    frame: k,
                    timeline_sample,
                    next_timeline_sample: self.clock.frame_position(k + 1),
                    end,
                };
                self.pending_len += 1;
            }
            k += 1;
        }
    }

    /// Send pending frames, oldest first, until one's window is not analysed yet.
    fn send_ready_frames(&mut self) {
        while self.pending_len > 0 {
            let Pending {
                frame,
                timeline_sample,
                next_timeline_sample,
                end,
            } = self.pending[self.pending_head];
            let Some(mut window) = self.free_window() else {
                // The worker holds every window: drop this frame, keep the rest waiting.
                Status::add(&self.status.windows_dropped, 1);
                self.pop_pending();
                continue;
            };
            match self.analyser.copy_window(end, &mut window) {
                Err(WindowError::NotReady) => {
                    self.handoff.give_back(window);
                    break;
                }
                Err(WindowError::Expired) => {
                    self.handoff.give_back(window);
                    Status::add(&self.status.windows_expired, 1);
                }
                Ok(()) => {
                    let sent = self.handoff.send(FramePacket {
                        frame,
                        timeline_sample,
                        next_timeline_sample,
                        window_end: end,
                        window,
                    });
                    Status::add(
                        if sent {
                            &self.status.windows_sent
                        } else {
                            &self.status.windows_dropped
                        },
                        1,
                    );
                }
            }
            self.pop_pending();
        }
    }

    /// A window from the pool. Offline, waits for the worker to return one.
    fn free_window(&mut self) -> Option<Box<mvgen_core::SpectrogramWindow>> {
        if let Some(window) = self.handoff.take_window() {
            return Some(window);
        }
        if self.pacing == Pacing::Realtime {
            return None;
        }
        let started = Instant::now();
        while started.elapsed() < OFFLINE_WAIT_LIMIT {
            std::thread::sleep(OFFLINE_POLL);
            if let Some(window) = self.handoff.take_window() {
                return Some(window);
            }
        }
        None
    }

    fn pop_pending(&mut self) {
        self.pending_head = (self.pending_head + 1) % MAX_PENDING;
        self.pending_len -= 1;
    }
}
