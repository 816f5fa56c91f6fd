//! The audio thread's work: analyse the input, find the frames the frame clock puts in
//! each block, hand each one's window to the worker, and follow the host's render mode
//! block by block.
//!
//! **Audio thread only** (and the main thread at deactivation, when the host has stopped
//! processing). Everything is sized in [`Capture::new`]; `process`, `reset` and `finish`
//! never allocate or lock.
//!
//! **Live and bounce.** The host says, per block, whether it renders in real time or
//! offline ([`Pacing`]). An offline block with the transport rolling (or from a host that
//! reports no transport at all) belongs to a *bounce*: the first such block starts one,
//! and going back to real time, stopping the transport, a jump of the timeline,
//! [`Capture::reset`] or deactivation ends it. A bounce starts a fresh analysis stream at
//! its first frame (silence before it, as `mvgen render` sees the bounce's audio), keeps
//! the frame rate of its first block, and sends its audio for the export. Offline blocks with
//! the transport stopped (a host's pre-roll) are not part of it, and not analysed at all.
//!
//! **Renders that say nothing.** Some hosts render offline while every block says real
//! time: Ardour's track bounce ("Bounce with processing") is one. A real-time host cannot
//! deliver a roll's audio much ahead of the wall clock, so a roll that gets
//! [`RENDER_AHEAD`] ahead is a render. The audio thread keeps the start of each roll
//! ([`ROLL_SECONDS`]) for this, and when it finds a render it starts the bounce where the
//! roll started and analyses the kept audio again, so such a bounce equals one the host
//! announced.
//!
//! **Pacing.** Live, a frame that finds the pool empty is dropped and counted, never
//! waited for. In a bounce the host does not need us in real time, so the audio thread
//! waits for the worker and no frame is lost; a worker that does not answer within
//! [`OFFLINE_WAIT_LIMIT`] has stalled, and then the audio thread stops waiting (it gives
//! up once, counts it, and waits again only after the worker answers). Blocks are handled
//! in sub-blocks of at most [`SUB_BLOCK_SAMPLES`], so a block of any size schedules only
//! a few frames at a time and no window leaves the analyser's history before it is sent.

use crate::handoff::{AudioSide, BounceStart, Detection, FramePacket, Message};
use crate::status::{Mode, Status};
use mvgen_core::resample::{ResampleError, MAX_CHUNK_FRAMES};
use mvgen_core::{Analyser, Fps, FrameClock, SpectrogramWindow, WindowEnd, WindowError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames that may wait for their window at once. The resampler's delay is under 100 ms
/// at every rate and a sub-block is at most 1 024 samples, so a few wait at most.
pub const MAX_PENDING: usize = 32;
/// Samples of a block handled at a time: at most a few frames' worth at any rate.
pub const SUB_BLOCK_SAMPLES: usize = 1024;
/// The longest a bounce waits for the worker before it gives up: a worker that takes
/// longer than this for one frame has stalled.
pub const OFFLINE_WAIT_LIMIT: Duration = Duration::from_secs(10);
/// How long the audio thread sleeps between looks while it waits offline.
const OFFLINE_POLL: Duration = Duration::from_micros(200);
/// Silence pushed at most when a bounce ends, so that its last windows are analysed:
/// more than the resampler's chunk and delay at every rate.
const END_FLUSH_SAMPLES: usize = 4 * MAX_CHUNK_FRAMES;
/// How far ahead of the wall clock a rolling host must deliver audio before the plugin
/// takes the roll for a render that does not say so. Real-time hosts stay within their
/// buffers (hundreds of milliseconds at most, even when they process ahead).
pub const RENDER_AHEAD: Duration = Duration::from_millis(1500);
/// Seconds of each roll's audio kept for a render found late. A render twice as fast as
/// real time is found after 3 s, so every render faster than 1.6x real time is caught
/// from its first sample (above 96 kHz the buffer stays at 4 s of 96 kHz: 1.5 MiB a
/// channel).
pub const ROLL_SECONDS: u32 = 4;
const ROLL_MAX_SAMPLES: usize = ROLL_SECONDS as usize * 96_000;

/// How the host processes a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Live playback: never wait; drop frames the worker cannot take.
    #[default]
    Realtime,
    /// Offline render: wait for the worker so that every frame is made.
    Offline,
}

/// What the host says about one block.
#[derive(Debug, Clone, Copy)]
pub struct BlockContext {
    /// Gain on the analysed signal (never on the audio).
    pub gain: f32,
    pub fps: Fps,
    /// The timeline position of the block's first sample while the transport rolls.
    pub timeline: Option<i64>,
    /// Whether the host reports a transport at all.
    pub host_has_transport: bool,
    pub pacing: Pacing,
    /// The `export` parameter: whether a bounce starting with this block is exported.
    pub export: bool,
}

impl BlockContext {
    /// Whether the host says this block belongs to a bounce: offline, and rolling (or no
    /// transport at all).
    fn says_bounce(&self) -> bool {
        self.pacing == Pacing::Offline && (self.timeline.is_some() || !self.host_has_transport)
    }
}

/// Watches each roll of the transport for a render that says it is real time, and keeps
/// the roll's first [`ROLL_SECONDS`] of audio for it. Sized at activation.
struct RollWatch {
    rate_hz: u32,
    /// The roll's audio, one buffer per channel.
    audio: [Box<[f32]>; 2],
    num_channels: usize,
    /// Samples per channel kept.
    len: usize,
    /// The roll outgrew the buffer: it cannot be bounced from its start any more.
    overflowed: bool,
    /// The roll's first timeline sample and when its first block arrived.
    start: Option<(i64, Instant)>,
    /// Samples per channel delivered since the roll started.
    delivered: u64,
    /// Where the next block of this roll would start on the timeline.
    next_timeline: i64,
}

impl RollWatch {
    fn new(rate_hz: u32, num_channels: usize) -> Self {
        let capacity = (ROLL_SECONDS as usize * rate_hz as usize).min(ROLL_MAX_SAMPLES);
        let buffer = || vec![0.0; capacity].into_boxed_slice();
        Self {
            rate_hz,
            audio: [
                buffer(),
                if num_channels > 1 {
                    buffer()
                } else {
                    Box::default()
                },
            ],
            num_channels: num_channels.clamp(1, 2),
            len: 0,
            overflowed: false,
            start: None,
            delivered: 0,
            next_timeline: 0,
        }
    }

    /// Forget the roll (the transport stopped, or a bounce took over).
    fn clear(&mut self) {
        self.start = None;
    }

    /// A block that is not part of a bounce. Returns the roll's start when the roll has
    /// turned out to be a render; otherwise keeps the block.
    fn observe(&mut self, channels: &[&mut [f32]], timeline: Option<i64>) -> Option<i64> {
        let Some(position) = timeline else {
            self.clear();
            return None;
        };
        let now = Instant::now();
        if self.start.is_none() || position != self.next_timeline {
            self.start = Some((position, now));
            self.delivered = 0;
            self.len = 0;
            self.overflowed = false;
        }
        let (roll_start, started) = self.start?;
        let num_samples = channels.first().map_or(0, |c| c.len());
        self.next_timeline = position + num_samples as i64;
        // What the host delivered before this block, against the time since the roll's
        // first block arrived.
        let ahead =
            self.delivered as f64 / self.rate_hz as f64 - now.duration_since(started).as_secs_f64();
        if !self.overflowed && ahead > RENDER_AHEAD.as_secs_f64() {
            return Some(roll_start);
        }
        self.delivered += num_samples as u64;
        if self.len + num_samples > self.audio[0].len() || channels.len() != self.num_channels {
            self.overflowed = true;
        } else {
            for (kept, channel) in self.audio.iter_mut().zip(channels) {
                kept[self.len..self.len + num_samples].copy_from_slice(channel);
            }
            self.len += num_samples;
        }
        None
    }
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

/// Where the capture stands with bounces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BounceState {
    /// Live (or offline pre-roll): no bounce.
    Off,
    /// A bounce is running.
    Running(BounceStart),
    /// The bounce's audio is over; its last frames are still being analysed (over
    /// silence) and sent. Live blocks never wait, so this may take a few blocks, during
    /// which nothing else is analysed.
    Closing { silence_pushed: usize },
}

pub struct Capture {
    analyser: Analyser,
    clock: FrameClock,
    handoff: AudioSide,
    status: Arc<Status>,
    bounce: BounceState,
    /// Where the running bounce's next block starts on the timeline (a jump ends it).
    bounce_next_timeline: i64,
    /// In a bounce, the timeline sample where its analysis stream starts: its first frame.
    /// `mvgen render` of the bounce's `audio.wav` starts there too, with silence before.
    stream_origin: Option<i64>,
    roll: RollWatch,
    /// Whether the current call may wait for the worker: the host renders offline, or it
    /// is deactivating us.
    may_wait: bool,
    /// Marks the queue had no room for, sent before anything else: the end of the previous
    /// bounce, then the start of the current one.
    owed_end: bool,
    owed_start: Option<BounceStart>,
    /// The worker did not answer within the wait limit: do not wait again until it does.
    gave_up: bool,
    /// FIFO ring of frames waiting for their window.
    pending: [Pending; MAX_PENDING],
    pending_head: usize,
    pending_len: usize,
    /// Host-rate samples pushed into the analyser since the stream started.
    stream_position: i64,
    /// The timeline while the transport is stopped: a free-running sample count.
    free_running: i64,
    non_finite_reported: u64,
}

impl Capture {
    /// Main thread: builds the analyser for `rate_hz`.
    pub fn new(
        rate_hz: u32,
        num_channels: usize,
        handoff: AudioSide,
        status: Arc<Status>,
    ) -> Result<Self, ResampleError> {
        Ok(Self {
            analyser: Analyser::new(rate_hz)?,
            clock: FrameClock::new(Fps::default(), rate_hz),
            handoff,
            status,
            bounce: BounceState::Off,
            bounce_next_timeline: 0,
            stream_origin: None,
            roll: RollWatch::new(rate_hz, num_channels),
            may_wait: false,
            owed_end: false,
            owed_start: None,
            gave_up: false,
            pending: [NO_PENDING; MAX_PENDING],
            pending_head: 0,
            pending_len: 0,
            stream_position: 0,
            free_running: 0,
            non_finite_reported: 0,
        })
    }

    /// The host asks for a fresh start: a bounce in progress ends (it closes with the next
    /// block, since a reset may come in real time), and a new stream begins.
    pub fn reset(&mut self) {
        self.roll.clear();
        match self.bounce {
            BounceState::Running(_) => {
                self.bounce = BounceState::Closing { silence_pushed: 0 };
            }
            BounceState::Closing { .. } => {}
            BounceState::Off => self.reset_stream(),
        }
    }

    /// The host stops processing (deactivation, on the main thread): a bounce in progress
    /// ends now, waiting for the worker to take its last frames.
    pub fn finish(&mut self) {
        if let BounceState::Running(_) = self.bounce {
            self.bounce = BounceState::Closing { silence_pushed: 0 };
        }
        self.may_wait = true;
        self.close_bounce(true);
    }

    /// Analyse one block.
    pub fn process(&mut self, channels: &[&mut [f32]], block: &BlockContext) {
        let num_samples = channels.first().map_or(0, |c| c.len());
        if num_samples == 0 {
            return;
        }
        // A running bounce goes on while the host renders along the timeline: still
        // offline, or (for one found by its speed) still rolling on.
        if let BounceState::Running(start) = self.bounce {
            let continues = block
                .timeline
                .is_none_or(|t| t == self.bounce_next_timeline)
                && (block.says_bounce()
                    || (start.detected == Detection::FasterThanRealTime
                        && block.timeline.is_some()));
            if !continues {
                self.bounce = BounceState::Closing { silence_pushed: 0 };
            }
        }
        self.may_wait = block.pacing == Pacing::Offline
            || matches!(self.bounce, BounceState::Running(b) if b.detected == Detection::FasterThanRealTime);
        if !self.close_bounce(false) {
            return;
        }
        if self.bounce == BounceState::Off {
            if block.says_bounce() {
                self.roll.clear();
                self.start_bounce(block, block.timeline.unwrap_or(0), Detection::HostMode);
            } else if let Some(roll_start) = self.roll.observe(channels, block.timeline) {
                self.start_bounce(block, roll_start, Detection::FasterThanRealTime);
                self.may_wait = true;
                self.replay_roll(block.gain, roll_start);
            }
        }
        if self.bounce == BounceState::Off && block.pacing == Pacing::Offline {
            // An offline block outside a bounce (a host's pre-roll with the transport
            // stopped): nobody sees its frames, and a bounce starts its own stream.
            return;
        }
        // A bounce keeps the frame rate of its first block.
        if self.bounce == BounceState::Off && self.clock.fps() != block.fps.per_second() {
            self.clock = FrameClock::new(block.fps, self.clock.rate_hz());
        }
        let timeline_start = block.timeline.unwrap_or(self.free_running);
        self.analyse(channels, block.gain, timeline_start);
        self.bounce_next_timeline = timeline_start + num_samples as i64;

        let non_finite = self.analyser.num_non_finite();
        Status::add(
            &self.status.non_finite_samples,
            non_finite - self.non_finite_reported,
        );
        self.non_finite_reported = non_finite;
    }

    /// Analyse audio that starts at `timeline_start`, a sub-block at a time: export its
    /// audio, schedule its frames, push it into the analyser and send what is ready. In a
    /// bounce, audio before its first frame (a host's pre-roll) is skipped.
    fn analyse(&mut self, channels: &[&mut [f32]], gain: f32, timeline_start: i64) {
        let num_samples = channels.first().map_or(0, |c| c.len());
        let scale = gain / channels.len() as f32;
        let skip = self.stream_origin.map_or(0, |origin| {
            (origin - timeline_start).clamp(0, num_samples as i64) as usize
        });
        let mut done = skip;
        while done < num_samples {
            let n = SUB_BLOCK_SAMPLES.min(num_samples - done);
            self.export_audio(channels, done..done + n);
            self.schedule_frames(timeline_start + done as i64, n as i64);
            for i in done..done + n {
                let sum: f32 = channels.iter().map(|c| c[i]).sum();
                self.analyser.push(sum * scale);
            }
            self.stream_position += n as i64;
            self.free_running += n as i64;
            self.send_ready_frames(false);
            done += n;
        }
    }

    /// A render found by its speed: analyse the roll's kept audio again as the bounce's
    /// first blocks. The buffers are moved out and back, so nothing allocates.
    fn replay_roll(&mut self, gain: f32, roll_start: i64) {
        let len = self.roll.len;
        let [mut first, mut second] = std::mem::take(&mut self.roll.audio);
        if self.roll.num_channels == 2 {
            self.analyse(&[&mut first[..len], &mut second[..len]], gain, roll_start);
        } else {
            self.analyse(&[&mut first[..len]], gain, roll_start);
        }
        self.roll.audio = [first, second];
        self.roll.clear();
    }

    /// Silence before the next sample, nothing pending.
    fn reset_stream(&mut self) {
        self.analyser.reset();
        self.pending_len = 0;
        self.stream_position = 0;
        self.free_running = 0;
        self.non_finite_reported = 0;
    }

    fn start_bounce(&mut self, block: &BlockContext, timeline_sample: i64, detected: Detection) {
        self.reset_stream();
        self.clock = FrameClock::new(block.fps, self.clock.rate_hz());
        let first_frame = self.clock.first_frame_at_or_after(timeline_sample.max(0));
        let start = BounceStart {
            timeline_sample,
            first_frame,
            fps: block.fps,
            export: block.export,
            detected,
        };
        self.bounce = BounceState::Running(start);
        self.stream_origin = Some(self.clock.frame_position(first_frame));
        self.owed_start = Some(start);
        self.gave_up = false;
        self.wait_offline(Self::send_marks);
        self.status.set_mode(Mode::Offline);
    }

    /// Work on a closing bounce: analyse its last windows over silence (as `mvgen render`
    /// pads the end of a song) and send them, then mark its end and start a new stream.
    /// Returns whether no bounce is closing any more. Unless `force`, frames that cannot
    /// be sent without waiting stay for the next call; with `force` they are dropped and
    /// counted.
    fn close_bounce(&mut self, force: bool) -> bool {
        let BounceState::Closing { mut silence_pushed } = self.bounce else {
            return true;
        };
        loop {
            self.send_ready_frames(!force);
            if self.pending_len == 0 {
                break;
            }
            let front = self.pending[self.pending_head];
            if front.end.samples() <= self.analyser.latest_window_end().samples() {
                // Analysed, but the worker has no room: try again with the next block.
                self.bounce = BounceState::Closing { silence_pushed };
                return false;
            }
            if silence_pushed >= END_FLUSH_SAMPLES {
                Status::add(&self.status.windows_expired, self.pending_len as u64);
                self.pending_len = 0;
                break;
            }
            for _ in 0..64 {
                self.analyser.push(0.0);
            }
            silence_pushed += 64;
        }
        // A start the worker never saw needs no end.
        if self.owed_start.take().is_none() {
            self.owed_end = true;
        }
        self.wait_offline(Self::send_marks);
        self.bounce = BounceState::Off;
        self.stream_origin = None;
        self.reset_stream();
        self.status.set_mode(Mode::Live);
        true
    }

    /// Send owed marks, in order; `false` while the queue has no room.
    fn send_marks(&mut self) -> bool {
        if self.owed_end {
            if !self.handoff.mark(Message::BounceEnd { audio_mark: 0 }) {
                return false;
            }
            self.owed_end = false;
        }
        if let Some(start) = self.owed_start {
            if !self.handoff.mark(Message::BounceStart(start)) {
                return false;
            }
            self.owed_start = None;
        }
        true
    }

    /// Try `ready` until it succeeds. It waits (polling, up to the wait limit) only when
    /// this call may wait; past the limit it gives up (counted) and does not wait again
    /// until `ready` succeeds at once, which means the worker answers again.
    fn wait_offline(&mut self, mut ready: impl FnMut(&mut Self) -> bool) -> bool {
        if ready(self) {
            self.gave_up = false;
            return true;
        }
        if !self.may_wait || self.gave_up {
            return false;
        }
        let started = Instant::now();
        while started.elapsed() < OFFLINE_WAIT_LIMIT {
            std::thread::sleep(OFFLINE_POLL);
            if ready(self) {
                return true;
            }
        }
        self.gave_up = true;
        Status::add(&self.status.offline_waits_given_up, 1);
        false
    }

    /// In an exported bounce, pass `range` of the block's audio to the worker, interleaved.
    fn export_audio(&mut self, channels: &[&mut [f32]], range: std::ops::Range<usize>) {
        if !matches!(self.bounce, BounceState::Running(b) if b.export) {
            return;
        }
        let mut written = range.start;
        while written < range.end {
            let num_channels = channels.len();
            if !self.wait_offline(|c| c.handoff.audio_room(num_channels) > 0) {
                Status::add(
                    &self.status.export_samples_dropped,
                    (range.end - written) as u64,
                );
                return;
            }
            let n = self
                .handoff
                .audio_room(num_channels)
                .min(range.end - written);
            self.handoff.write_audio(channels, written..written + n);
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

    /// Send pending frames, oldest first, until one's window is not analysed yet. A frame
    /// the worker has no room for is dropped and counted, or with `keep_unsent` left
    /// pending (and sending stops).
    fn send_ready_frames(&mut self, keep_unsent: bool) {
        while self.pending_len > 0 {
            let Pending {
                frame,
                timeline_sample,
                next_timeline_sample,
                end,
            } = self.pending[self.pending_head];
            // Marks go first; a frame cannot overtake them.
            let window = if self.wait_offline(Self::send_marks) {
                self.free_window()
            } else {
                None
            };
            let Some(mut window) = window else {
                if keep_unsent {
                    break;
                }
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
                        audio_mark: 0,
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

    /// A window from the pool; in a bounce, waits for the worker to return one.
    fn free_window(&mut self) -> Option<Box<SpectrogramWindow>> {
        let mut window = None;
        self.wait_offline(|c| {
            window = c.handoff.take_window();
            window.is_some()
        });
        window
    }

    fn pop_pending(&mut self) {
        self.pending_head = (self.pending_head + 1) % MAX_PENDING;
        self.pending_len -= 1;
    }
}
