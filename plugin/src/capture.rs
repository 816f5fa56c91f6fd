//! The audio thread's work: analyse the input, find the frames the frame clock puts in
//! each block, hand each one's window to the worker, and follow the host's render mode
//! block by block.
//!
//! **Audio thread only** (and the main thread at deactivation, when the host has stopped
//! processing). Everything is sized in [`Capture::new`]; `process`, `reset` and `finish`
//! never allocate or lock.
//!
//! **Live and bounce.** The host says, per block, whether it renders in real time or
//! offline ([`Pacing`], followed by [`ModeFollower`]). An offline block with the
//! transport rolling (or from a host that reports no transport at all) belongs to a
//! *bounce*: the first such block starts one, and going back to real time, stopping the
//! transport, a jump of the timeline, [`Capture::reset`] or deactivation ends it
//! ([`EndReason`]); a bounce cut by a jump shares its render id with the next. A bounce
//! starts a fresh analysis stream at its first frame (silence before it, as `mvgen render`
//! sees the bounce's audio), keeps the frame rate of its first block, and sends its audio
//! for the export. A block that starts within [`JITTER_SECONDS`] of where the last ended
//! continues it: hosts round positions, and rebuild them from beats in tempo ramps.
//!
//! **Renders that do not say they are.** Audio is *held* (up to [`HOLD_SECONDS`], at
//! every rate) while the plugin cannot yet tell whether it belongs to a bounce, and
//! analysed again from its first sample once it turns out to:
//! - a roll that says real time but arrives [`RENDER_AHEAD`] of the wall clock is a render
//!   (Ardour's "Bounce with processing"): a real-time host stays within its buffers, even
//!   when it processes ahead;
//! - offline audio with the transport stopped is a host's pre-roll when the transport
//!   then rolls (Ardour's export runs 2 s of it), and otherwise a render without a moving
//!   timeline, on a free-running frame clock: pedalboard renders this way. It is taken
//!   for a render once the hold is full, or when it ends without a roll (deactivation, or
//!   a reset followed by more offline audio), if it lasted at least
//!   [`MIN_UNTIMED_SECONDS`] (pedalboard tries every plugin it loads on a few blocks).
//!   Held audio that the host follows with real-time blocks is not bounced (that would
//!   mean analysing seconds of audio in one real-time callback): the worker says so.
//!
//! A render found by its speed ends when the host, not counting the time the plugin made
//! it wait, delivers audio at less than [`REALTIME_RATE`] times real time over
//! [`PACE_WINDOW`]: a live host after all, which the plugin must not hold up.
//!
//! **Pacing.** Live, a frame that finds the pool empty is dropped and counted, never
//! waited for. In an exported bounce the host does not need us in real time, so the audio
//! thread waits for the worker and no frame is lost. A worker that does not answer within
//! [`OFFLINE_WAIT_LIMIT`] has stalled: the audio thread stops waiting, counts it, and
//! waits again only once the worker has caught up with everything sent to it. So a render
//! costs at most one wait limit per stall, never one per frame. Audio the export had no
//! room for is marked as a gap, in order, and padded with silence by the export. A bounce
//! that is not exported is never waited for. Blocks are handled in sub-blocks of at most
//! [`SUB_BLOCK_SAMPLES`], so a block of any size schedules only a few frames at a time
//! and no window leaves the analyser's history before it is sent.

use crate::handoff::{
    AudioSide, BounceCounts, BounceEnd, BounceStart, Detection, EndReason, FramePacket,
    FrameParams, Message,
};
use crate::status::{Mode, Status};
use mvgen_core::resample::{ResampleError, MAX_CHUNK_FRAMES};
use mvgen_core::{Analyser, Fps, FrameClock, SpectrogramWindow, WindowEnd, WindowError};
use std::sync::atomic::AtomicU64;
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
/// buffers (about a second at most, even when they process ahead).
pub const RENDER_AHEAD: Duration = Duration::from_millis(1500);
/// Seconds of audio held while it may still turn out to be a render. A render at 1.6x
/// real time gets [`RENDER_AHEAD`] ahead after 4 s; Ardour's export pre-roll is 2 s.
/// Sized at the host's rate, whatever it is (12 MB at 384 kHz stereo).
pub const HOLD_SECONDS: u32 = 4;
/// Offline audio with the transport stopped that ends without a roll is a render only if
/// it lasted this long: shorter runs are a host trying the plugin out. Runs of at least
/// [`UNTIMED_NOTICE_SECONDS`] that are not exported are reported as such.
pub const MIN_UNTIMED_SECONDS: f64 = 0.5;
/// Shorter than this, a run without a timeline is a host's probe and passes unremarked.
pub const UNTIMED_NOTICE_SECONDS: f64 = 0.1;
/// A block that starts this close to where the previous one ended continues a bounce.
pub const JITTER_SECONDS: f64 = 0.01;
/// A render found by its speed is checked over this much of the host's own time...
pub const PACE_WINDOW: Duration = Duration::from_secs(2);
/// ...and ends if it delivered less than this many seconds of audio per second.
pub const REALTIME_RATE: f64 = 1.25;
/// Owed marks held at most: a gap, an end, a start and the next gap.
const MAX_OWED: usize = 4;

/// How the host processes a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Live playback: never wait; drop frames the worker cannot take.
    #[default]
    Realtime,
    /// Offline render: wait for the worker so that every frame is made.
    Offline,
}

/// Follows what the host says about the render mode, block by block. VST3 hosts say it in
/// `setupProcessing` and may say it again in every block's `processMode`: Ardour states an
/// export only there, JUCE hosts in both, and some hosts leave the block's field at its
/// zero value (real time) whatever they do. So the block's field is followed once the host
/// has been seen to use it (a block marked offline), and `setupProcessing` before that.
/// Lives as long as the plugin instance.
#[derive(Debug, Default)]
pub struct ModeFollower {
    blocks_state_mode: bool,
}

impl ModeFollower {
    /// `stated`: the mode stated out of band (VST3 `setupProcessing`, CLAP's render
    /// extension); `block`: the block's own, where the format has one.
    pub fn pacing(&mut self, stated: Pacing, block: Option<Pacing>) -> Pacing {
        match block {
            Some(Pacing::Offline) => {
                self.blocks_state_mode = true;
                Pacing::Offline
            }
            Some(Pacing::Realtime) if self.blocks_state_mode => Pacing::Realtime,
            _ => stated,
        }
    }
}

/// What the host says about one block.
#[derive(Debug, Clone, Copy)]
pub struct BlockContext {
    pub fps: Fps,
    /// The timeline position of the block's first sample while the transport rolls.
    pub timeline: Option<i64>,
    /// Whether the host reports a transport at all.
    pub host_has_transport: bool,
    pub pacing: Pacing,
    /// The `export` parameter: whether a bounce starting with this block is exported.
    pub export: bool,
    /// The automatable parameters; the input gain applies to the analysed signal only.
    pub params: FrameParams,
}

/// What a block is, to a capture not in a bounce.
enum Kind {
    /// The host says it renders: offline and rolling, or offline with no transport.
    Bounce,
    /// Offline with the transport stopped: a pre-roll, or a render without a timeline.
    Untimed,
    /// A real-time roll at this timeline position.
    Roll(i64),
    /// Real time, stopped.
    Live,
}

impl BlockContext {
    fn kind(&self) -> Kind {
        match (self.pacing, self.timeline) {
            (Pacing::Offline, Some(_)) => Kind::Bounce,
            (Pacing::Offline, None) if !self.host_has_transport => Kind::Bounce,
            (Pacing::Offline, None) => Kind::Untimed,
            (Pacing::Realtime, Some(t)) => Kind::Roll(t),
            (Pacing::Realtime, None) => Kind::Live,
        }
    }

    fn gain(&self) -> f32 {
        10f32.powf(self.params.input_gain_db / 20.0)
    }
}

/// What the hold keeps.
#[derive(Debug, Clone, Copy)]
enum Holding {
    /// A real-time roll: its first timeline sample, when its first block arrived, the
    /// samples delivered since, and where its next block would start.
    Roll {
        start: i64,
        started: Instant,
        delivered: u64,
        next_timeline: i64,
    },
    /// Offline audio with the transport stopped.
    Untimed,
}

/// Audio held while it may still turn out to be a render ([`HOLD_SECONDS`]). Sized at
/// activation.
struct Hold {
    rate_hz: u32,
    jitter_samples: i64,
    /// The held audio, one buffer per channel.
    audio: [Box<[f32]>; 2],
    num_channels: usize,
    /// Samples per channel held.
    len: usize,
    /// More arrived than fits: it can no longer be analysed from its start.
    overflowed: bool,
    holding: Option<Holding>,
}

impl Hold {
    fn new(rate_hz: u32, num_channels: usize) -> Self {
        let capacity = HOLD_SECONDS as usize * rate_hz as usize;
        let buffer = || vec![0.0; capacity].into_boxed_slice();
        Self {
            rate_hz,
            jitter_samples: jitter_samples(rate_hz),
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
            holding: None,
        }
    }

    fn clear(&mut self) {
        self.holding = None;
        self.len = 0;
        self.overflowed = false;
    }

    fn is_untimed(&self) -> bool {
        matches!(self.holding, Some(Holding::Untimed))
    }

    fn seconds(&self) -> f64 {
        self.len as f64 / self.rate_hz as f64
    }

    /// Keep `channels` if they fit; otherwise the hold has overflowed.
    fn keep(&mut self, channels: &[&mut [f32]]) -> bool {
        let n = channels.first().map_or(0, |c| c.len());
        if self.overflowed
            || self.len + n > self.audio[0].len()
            || channels.len() != self.num_channels
        {
            self.overflowed = true;
            return false;
        }
        for (kept, channel) in self.audio.iter_mut().zip(channels) {
            kept[self.len..self.len + n].copy_from_slice(channel);
        }
        self.len += n;
        true
    }

    /// A real-time rolling block outside a bounce. Returns the roll's start when the roll
    /// has turned out to be a render; otherwise holds the block.
    fn observe_roll(&mut self, channels: &[&mut [f32]], position: i64) -> Option<i64> {
        let now = Instant::now();
        let goes_on = matches!(self.holding,
            Some(Holding::Roll { next_timeline, .. })
                if (position - next_timeline).abs() <= self.jitter_samples);
        if !goes_on {
            self.clear();
            self.holding = Some(Holding::Roll {
                start: position,
                started: now,
                delivered: 0,
                next_timeline: position,
            });
        }
        let Some(Holding::Roll {
            start,
            started,
            delivered,
            next_timeline,
        }) = self.holding
        else {
            return None;
        };
        let n = channels.first().map_or(0, |c| c.len());
        // What the host delivered before this block, against the time since the roll's
        // first block arrived.
        let ahead =
            delivered as f64 / self.rate_hz as f64 - now.duration_since(started).as_secs_f64();
        if !self.overflowed && ahead > RENDER_AHEAD.as_secs_f64() {
            return Some(start);
        }
        self.holding = Some(Holding::Roll {
            start,
            started,
            delivered: delivered + n as u64,
            next_timeline: next_timeline + n as i64,
        });
        self.keep(channels);
        None
    }

    /// An offline block with the transport stopped: held. `false` when the hold is full:
    /// far longer than a pre-roll, it is a render.
    fn keep_untimed(&mut self, channels: &[&mut [f32]]) -> bool {
        if !self.is_untimed() {
            self.clear();
            self.holding = Some(Holding::Untimed);
        }
        self.keep(channels)
    }
}

fn jitter_samples(rate_hz: u32) -> i64 {
    (rate_hz as f64 * JITTER_SECONDS).round() as i64
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
    Closing {
        start: BounceStart,
        silence_pushed: usize,
        reason: EndReason,
    },
}

/// A mark the queue had no room for, sent before anything else.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Gap(u64),
    End(BounceEnd),
    Start(BounceStart),
}

/// Marks owed to the worker, oldest first. Fixed size: the audio thread never allocates.
#[derive(Debug, Default)]
struct Owed {
    marks: [Option<Mark>; MAX_OWED],
    len: usize,
}

impl Owed {
    fn push(&mut self, mark: Mark) {
        // Consecutive gaps are one gap.
        if let (Mark::Gap(more), Some(Some(Mark::Gap(gap)))) =
            (mark, self.len.checked_sub(1).map(|i| &mut self.marks[i]))
        {
            *gap += more;
            return;
        }
        if self.len < MAX_OWED {
            self.marks[self.len] = Some(mark);
            self.len += 1;
        }
    }

    fn front(&self) -> Option<Mark> {
        (self.len > 0).then(|| self.marks[0]).flatten()
    }

    fn pop(&mut self) {
        self.marks.rotate_left(1);
        self.marks[MAX_OWED - 1] = None;
        self.len = self.len.saturating_sub(1);
    }

    /// Take back the start of a bounce the worker never saw, with anything owed after it:
    /// whether there was one.
    fn withdraw_start(&mut self) -> bool {
        let Some(i) = self.marks[..self.len]
            .iter()
            .position(|m| matches!(m, Some(Mark::Start(_))))
        else {
            return false;
        };
        self.marks[i..].fill(None);
        self.len = i;
        true
    }
}

/// Which counters a loss goes to (the plugin's and the running bounce's).
#[derive(Clone, Copy)]
enum Loss {
    Dropped,
    Expired,
    Overflowed,
    GaveUp,
    Audio,
}

pub struct Capture {
    analyser: Analyser,
    clock: FrameClock,
    handoff: AudioSide,
    status: Arc<Status>,
    bounce: BounceState,
    /// Where the running bounce's next block starts on its timeline.
    bounce_next_timeline: i64,
    /// Whether the running bounce follows the host's timeline (else it counts its own
    /// samples from 0: no transport, or a stopped one).
    bounce_timed: bool,
    /// In a bounce, the timeline sample where its analysis stream starts: its first frame.
    /// `mvgen render` of the bounce's `audio.wav` starts there too, with silence before.
    stream_origin: Option<i64>,
    hold: Hold,
    /// The context of the last held block without a timeline, for a hold that ends
    /// between blocks.
    untimed_block: Option<BlockContext>,
    /// Whether the current call may wait for the worker: an exported bounce that the host
    /// renders offline, or the host deactivating us.
    may_wait: bool,
    owed: Owed,
    /// The worker did not answer within the wait limit: do not wait again until it has
    /// caught up.
    gave_up: bool,
    /// What the running bounce lost, sent with its end.
    counts: BounceCounts,
    /// Deactivation's one deadline for all its waits.
    wait_deadline: Option<Instant>,
    /// Time spent waiting for the worker, ever: not the host's own time.
    waited: Duration,
    /// For a render found by its speed: since when, how much audio, and how much waiting,
    /// the pace is being measured.
    pace: Option<(Instant, u64, Duration)>,
    /// The host reset us while offline audio without a timeline was held: the next block
    /// (or deactivation) decides what it was.
    hold_reset: bool,
    /// The render the running bounce belongs to (kept across a jump).
    render_id: Option<u64>,
    renders: u64,
    render_seed: u64,
    params: FrameParams,
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
    /// Main thread: builds the analyser and the hold for `rate_hz`.
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
            bounce: BounceState::Off,
            bounce_next_timeline: 0,
            bounce_timed: true,
            stream_origin: None,
            hold: Hold::new(rate_hz, num_channels),
            untimed_block: None,
            may_wait: false,
            owed: Owed::default(),
            gave_up: false,
            counts: BounceCounts::default(),
            wait_deadline: None,
            waited: Duration::ZERO,
            pace: None,
            hold_reset: false,
            render_id: None,
            renders: 0,
            render_seed: render_seed(&status),
            status,
            params: FrameParams::default(),
            pending: [NO_PENDING; MAX_PENDING],
            pending_head: 0,
            pending_len: 0,
            stream_position: 0,
            free_running: 0,
            non_finite_reported: 0,
        })
    }

    /// The host asks for a fresh start: a bounce in progress ends (it closes with the next
    /// block, since a reset may come in real time), and a new stream begins. Held offline
    /// audio without a timeline is decided by the next block: bounced if it is offline,
    /// given up if it is real time. A reset never waits.
    pub fn reset(&mut self) {
        match self.bounce {
            BounceState::Running(start) => self.begin_closing(start, EndReason::Reset),
            BounceState::Closing { .. } => {}
            BounceState::Off if self.hold.is_untimed() => self.hold_reset = true,
            BounceState::Off => {
                self.hold.clear();
                self.reset_stream();
            }
        }
    }

    /// The host stops processing (deactivation, on the main thread): a bounce in progress
    /// ends now, waiting (at most [`OFFLINE_WAIT_LIMIT`], once) for the worker to take its
    /// last frames. Returns the marks the worker could not take, for it to read after
    /// its queue (see `Worker::stop`).
    pub fn finish(&mut self) -> Vec<Message> {
        self.wait_deadline = Some(Instant::now() + OFFLINE_WAIT_LIMIT);
        self.hold_reset = false;
        match self.bounce {
            BounceState::Running(start) => {
                self.may_wait = start.export;
                self.begin_closing(start, EndReason::Deactivated);
            }
            BounceState::Closing { start, .. } => self.may_wait = start.export,
            BounceState::Off => {
                let export = self.untimed_block.is_some_and(|b| b.export);
                self.end_untimed_hold(EndReason::Deactivated, export);
            }
        }
        self.close_bounce(true);
        self.wait_deadline = None;
        let mut tail = Vec::new();
        while let Some(mark) = self.owed.front() {
            tail.push(self.handoff.stamp(mark_message(mark)));
            self.owed.pop();
        }
        tail
    }

    /// Analyse one block.
    pub fn process(&mut self, channels: &[&mut [f32]], block: &BlockContext) {
        let num_samples = channels.first().map_or(0, |c| c.len());
        if num_samples == 0 {
            return;
        }
        self.params = block.params;
        if std::mem::take(&mut self.hold_reset) {
            if block.pacing == Pacing::Offline {
                // Still rendering: what was held before the reset was a render of its own.
                let export = self.untimed_block.is_some_and(|b| b.export);
                self.end_untimed_hold(EndReason::Reset, export);
                self.close_bounce(true);
            } else {
                self.give_up_untimed_hold();
            }
            self.hold.clear();
            self.reset_stream();
        }
        if let BounceState::Running(start) = self.bounce {
            if let Err(reason) = self.continues(&start, block) {
                self.begin_closing(start, reason);
            } else if start.detected == Detection::FasterThanRealTime {
                self.check_pace(start, num_samples);
            }
        }
        self.may_wait = self.waits_for(block);
        // Offline, the last frames go now (or are dropped and counted after a wait that
        // failed), so the next block is never lost with them; live, they may take a few
        // blocks.
        if !self.close_bounce(self.may_wait) {
            return;
        }
        if self.bounce == BounceState::Off && !self.start_if_bounce(channels, block) {
            return;
        }
        // A bounce keeps the frame rate of its first block.
        if self.bounce == BounceState::Off && self.clock.fps() != block.fps.per_second() {
            self.clock = FrameClock::new(block.fps, self.clock.rate_hz());
        }
        let timeline_start = match self.bounce {
            BounceState::Running(_) => self.bounce_next_timeline,
            _ => block.timeline.unwrap_or(self.free_running),
        };
        self.analyse(channels, block.gain(), timeline_start);
        self.bounce_next_timeline = timeline_start + num_samples as i64;

        let non_finite = self.analyser.num_non_finite();
        Status::add(
            &self.status.non_finite_samples,
            non_finite - self.non_finite_reported,
        );
        self.non_finite_reported = non_finite;
    }

    /// Whether a running bounce goes on with `block`: the host still renders, along the
    /// bounce's timeline (or still without one).
    fn continues(&self, start: &BounceStart, block: &BlockContext) -> Result<(), EndReason> {
        if start.detected != Detection::FasterThanRealTime && block.pacing != Pacing::Offline {
            return Err(EndReason::Realtime);
        }
        let expected = self.bounce_next_timeline;
        match (self.bounce_timed, block.timeline) {
            (true, Some(found)) if (found - expected).abs() <= self.hold.jitter_samples => Ok(()),
            (true, Some(found)) => Err(EndReason::Jump { expected, found }),
            (true, None) => Err(EndReason::Stopped),
            (false, None) => Ok(()),
            (false, Some(_)) => Err(EndReason::TimelineStarted),
        }
    }

    /// Whether this block may wait for the worker: only for an exported bounce, and only
    /// when the host does not need us in real time.
    fn waits_for(&self, block: &BlockContext) -> bool {
        // A render found by its speed says real time all along; once it has ended, its
        // blocks are live ones.
        let (export, found_by_speed) = match self.bounce {
            BounceState::Running(b) => (b.export, b.detected == Detection::FasterThanRealTime),
            BounceState::Closing { start, .. } => (start.export, false),
            BounceState::Off => (block.export, false),
        };
        export && (block.pacing == Pacing::Offline || found_by_speed)
    }

    /// Outside a bounce: start one if this block begins or reveals one. Returns whether
    /// the block is analysed (held audio is not, yet).
    fn start_if_bounce(&mut self, channels: &[&mut [f32]], block: &BlockContext) -> bool {
        match block.kind() {
            Kind::Bounce => {
                // Offline audio held until now was the host's pre-roll.
                self.hold.clear();
                let timeline = block.timeline.unwrap_or(0);
                let may_wait = self.waits_for(block);
                self.start_bounce(
                    block,
                    timeline,
                    block.timeline.is_some(),
                    Detection::HostMode,
                    may_wait,
                );
                true
            }
            Kind::Untimed => {
                self.untimed_block = Some(*block);
                if self.hold.keep_untimed(channels) {
                    return false;
                }
                // Far longer than a pre-roll: a render. It starts with the held audio, and
                // this block follows it.
                let may_wait = self.waits_for(block);
                self.start_bounce(block, 0, false, Detection::Untimed, may_wait);
                self.replay_hold(block.gain(), 0);
                true
            }
            Kind::Roll(position) => {
                self.give_up_untimed_hold();
                if let Some(roll_start) = self.hold.observe_roll(channels, position) {
                    self.start_bounce(
                        block,
                        roll_start,
                        true,
                        Detection::FasterThanRealTime,
                        block.export,
                    );
                    self.replay_hold(block.gain(), roll_start);
                }
                true
            }
            Kind::Live => {
                self.give_up_untimed_hold();
                self.hold.clear();
                true
            }
        }
    }

    /// Held offline audio without a timeline ended without the transport rolling: no
    /// pre-roll. Long enough, it was a render: bounce it, ended by `reason`, waiting for
    /// the worker only if `may_wait`.
    fn end_untimed_hold(&mut self, reason: EndReason, may_wait: bool) {
        let Some(block) = self.untimed_block else {
            return;
        };
        if !self.hold.is_untimed() || self.bounce != BounceState::Off {
            return;
        }
        let seconds = self.hold.seconds();
        if seconds >= MIN_UNTIMED_SECONDS {
            self.start_bounce(
                &block,
                0,
                false,
                Detection::Untimed,
                may_wait && block.export,
            );
            self.replay_hold(block.gain(), 0);
            if let BounceState::Running(start) = self.bounce {
                self.begin_closing(start, reason);
            }
        } else if seconds >= UNTIMED_NOTICE_SECONDS {
            // Said by the worker: the audio thread cannot.
            self.status
                .short_render_ms
                .store((seconds * 1e3) as u64, std::sync::atomic::Ordering::Relaxed);
        }
        self.hold.clear();
    }

    /// Held offline audio without a timeline that the host follows in real time: it cannot
    /// be analysed now (seconds of it, in one real-time callback), so it is given up, and
    /// the worker says so.
    fn give_up_untimed_hold(&mut self) {
        if !self.hold.is_untimed() {
            return;
        }
        if self.hold.seconds() >= UNTIMED_NOTICE_SECONDS {
            self.status.cut_render_ms.store(
                (self.hold.seconds() * 1e3) as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        self.hold.clear();
    }

    /// A render found by its speed is checked against real time, over the host's own time
    /// (waits for the worker left out): one delivered at a real-time pace was a live host
    /// all along, and the bounce ends before the plugin holds it up again.
    fn check_pace(&mut self, start: BounceStart, num_samples: usize) {
        let now = Instant::now();
        let (since, delivered, waited_then) = *self.pace.get_or_insert((now, 0, self.waited));
        let delivered = delivered + num_samples as u64;
        let own = now
            .duration_since(since)
            .saturating_sub(self.waited.saturating_sub(waited_then));
        if own < PACE_WINDOW {
            self.pace = Some((since, delivered, waited_then));
            return;
        }
        let rate = delivered as f64 / self.clock.rate_hz() as f64 / own.as_secs_f64();
        self.pace = None;
        if rate < REALTIME_RATE {
            self.begin_closing(start, EndReason::Realtime);
        }
    }

    /// Analyse the held audio again as the bounce's first blocks, from `timeline_start`.
    /// The buffers are moved out and back, so nothing allocates.
    fn replay_hold(&mut self, gain: f32, timeline_start: i64) {
        let len = self.hold.len;
        let [mut first, mut second] = std::mem::take(&mut self.hold.audio);
        if self.hold.num_channels == 2 {
            self.analyse(
                &[&mut first[..len], &mut second[..len]],
                gain,
                timeline_start,
            );
        } else {
            self.analyse(&[&mut first[..len]], gain, timeline_start);
        }
        self.hold.audio = [first, second];
        self.hold.clear();
        self.bounce_next_timeline = timeline_start + len as i64;
    }

    /// Silence before the next sample, nothing pending.
    fn reset_stream(&mut self) {
        self.analyser.reset();
        self.pending_len = 0;
        self.stream_position = 0;
        self.free_running = 0;
        self.non_finite_reported = 0;
    }

    /// Start a bounce at `timeline_sample`; `may_wait`: whether this call may wait for
    /// the worker to take the start.
    fn start_bounce(
        &mut self,
        block: &BlockContext,
        timeline_sample: i64,
        timed: bool,
        detected: Detection,
        may_wait: bool,
    ) {
        self.reset_stream();
        self.clock = FrameClock::new(block.fps, self.clock.rate_hz());
        let first_frame = self.clock.first_frame_at_or_after(timeline_sample.max(0));
        let render_id = match self.render_id {
            Some(id) => id,
            None => {
                self.renders += 1;
                let id = self.render_seed.wrapping_add(self.renders);
                self.render_id = Some(id);
                id
            }
        };
        let start = BounceStart {
            timeline_sample,
            first_frame,
            fps: block.fps,
            export: block.export,
            detected,
            render_id,
        };
        self.bounce = BounceState::Running(start);
        self.bounce_timed = timed;
        self.bounce_next_timeline = timeline_sample;
        self.stream_origin = Some(self.clock.frame_position(first_frame));
        self.counts = BounceCounts::default();
        self.pace = None;
        self.may_wait = may_wait;
        self.owed.push(Mark::Start(start));
        self.wait_offline(Self::send_marks);
        self.status.set_mode(Mode::Offline);
    }

    fn begin_closing(&mut self, start: BounceStart, reason: EndReason) {
        self.bounce = BounceState::Closing {
            start,
            silence_pushed: 0,
            reason,
        };
    }

    /// Work on a closing bounce: analyse its last windows over silence (as `mvgen render`
    /// pads the end of a song) and send them, then mark its end and start a new stream.
    /// Returns whether no bounce is closing any more. Unless `force`, frames that cannot
    /// be sent without waiting stay for the next call; with `force` they are dropped and
    /// counted.
    fn close_bounce(&mut self, force: bool) -> bool {
        let BounceState::Closing {
            start,
            mut silence_pushed,
            reason,
        } = self.bounce
        else {
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
                self.bounce = BounceState::Closing {
                    start,
                    silence_pushed,
                    reason,
                };
                return false;
            }
            if silence_pushed >= END_FLUSH_SAMPLES {
                self.lose(Loss::Expired, self.pending_len as u64);
                self.pending_len = 0;
                break;
            }
            for _ in 0..64 {
                self.analyser.push(0.0);
            }
            silence_pushed += 64;
        }
        // What is owed goes first, so a give-up on it is this bounce's.
        self.wait_offline(Self::send_marks);
        if self.owed.withdraw_start() {
            // The worker never heard of this bounce: nothing of it reached the worker.
            if start.export {
                Status::add(&self.status.bounces_lost, 1);
            }
        } else {
            self.owed.push(Mark::End(BounceEnd {
                audio_mark: 0,
                counts: self.counts,
                reason,
            }));
        }
        self.wait_offline(Self::send_marks);
        self.bounce = BounceState::Off;
        self.stream_origin = None;
        self.counts = BounceCounts::default();
        if !matches!(reason, EndReason::Jump { .. } | EndReason::TimelineStarted) {
            self.render_id = None;
        }
        self.reset_stream();
        self.status.set_mode(Mode::Live);
        true
    }

    /// Send owed marks, in order; `false` while the queue has no room.
    fn send_marks(&mut self) -> bool {
        while let Some(mark) = self.owed.front() {
            if !self.handoff.mark(mark_message(mark)) {
                return false;
            }
            self.owed.pop();
        }
        true
    }

    /// Try `ready` until it succeeds. It waits (polling, up to the wait limit) only when
    /// this call may wait; past the limit it gives up (counted) and does not wait again
    /// until the worker has caught up with everything sent to it.
    fn wait_offline(&mut self, mut ready: impl FnMut(&mut Self) -> bool) -> bool {
        if ready(self) {
            return true;
        }
        if !self.may_wait {
            return false;
        }
        if self.gave_up {
            if !self.handoff.worker_caught_up() {
                return false;
            }
            self.gave_up = false;
        }
        let started = Instant::now();
        let limit = started + OFFLINE_WAIT_LIMIT;
        let until = self.wait_deadline.map_or(limit, |d| d.min(limit));
        if started >= until {
            return false;
        }
        Status::add(&self.status.offline_waits, 1);
        while Instant::now() < until {
            std::thread::sleep(OFFLINE_POLL);
            if ready(self) {
                self.waited += started.elapsed();
                return true;
            }
        }
        self.waited += started.elapsed();
        self.gave_up = true;
        self.lose(Loss::GaveUp, 1);
        false
    }

    /// Count a loss for the plugin and for the running bounce.
    fn lose(&mut self, what: Loss, n: u64) {
        let (counter, count): (&AtomicU64, &mut u64) = match what {
            Loss::Dropped => (&self.status.windows_dropped, &mut self.counts.dropped),
            Loss::Expired => (&self.status.windows_expired, &mut self.counts.expired),
            Loss::Overflowed => (&self.status.frames_overflowed, &mut self.counts.overflowed),
            Loss::GaveUp => (
                &self.status.offline_waits_given_up,
                &mut self.counts.gave_up,
            ),
            Loss::Audio => (
                &self.status.export_samples_dropped,
                &mut self.counts.audio_lost,
            ),
        };
        Status::add(counter, n);
        *count += n;
    }

    /// In an exported bounce, pass `range` of the block's audio to the worker, interleaved.
    /// Audio it has no room for (after waiting as long as this call may) is lost, and a gap
    /// mark says where and how much, in order.
    fn export_audio(&mut self, channels: &[&mut [f32]], range: std::ops::Range<usize>) {
        if !matches!(self.bounce, BounceState::Running(b) if b.export) {
            return;
        }
        let num_channels = channels.len();
        let mut written = range.start;
        while written < range.end {
            let ready =
                self.wait_offline(|c| c.send_marks() && c.handoff.audio_room(num_channels) > 0);
            if !ready {
                let lost = (range.end - written) as u64;
                self.lose(Loss::Audio, lost);
                self.owed.push(Mark::Gap(lost));
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
                self.lose(Loss::Overflowed, 1);
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
                self.lose(Loss::Dropped, 1);
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
                    self.lose(Loss::Expired, 1);
                }
                Ok(()) => {
                    let sent = self.handoff.send(FramePacket {
                        frame,
                        timeline_sample,
                        next_timeline_sample,
                        window_end: end,
                        window,
                        audio_mark: 0,
                        // clock_gettime through the vDSO: no system call, no lock.
                        sound_at_ns: mvgen_feed::now_ns(),
                        params: self.params,
                    });
                    if sent {
                        Status::add(&self.status.windows_sent, 1);
                    } else {
                        self.lose(Loss::Dropped, 1);
                    }
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

fn mark_message(mark: Mark) -> Message {
    match mark {
        Mark::Gap(samples) => Message::AudioGap {
            audio_mark: 0,
            samples,
        },
        Mark::End(end) => Message::BounceEnd(end),
        Mark::Start(start) => Message::BounceStart(start),
    }
}

/// A render id base unique to this capture: the clock, the process and the instance.
fn render_seed(status: &Arc<Status>) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let instance = Arc::as_ptr(status) as u64;
    (nanos ^ (u64::from(std::process::id()) << 32) ^ instance.rotate_left(17))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block's own mode is followed once the host has been seen to use it; before
    /// that, the out-of-band one (`setupProcessing`).
    #[test]
    fn the_block_mode_is_followed_once_the_host_uses_it() {
        use Pacing::{Offline, Realtime};
        // A host that leaves the block's field at real time: setupProcessing decides.
        let mut quiet = ModeFollower::default();
        assert_eq!(quiet.pacing(Offline, Some(Realtime)), Offline);
        assert_eq!(quiet.pacing(Realtime, Some(Realtime)), Realtime);
        // Ardour: set up in real time, exports by marking blocks offline.
        let mut ardour = ModeFollower::default();
        assert_eq!(ardour.pacing(Realtime, Some(Realtime)), Realtime);
        assert_eq!(ardour.pacing(Realtime, Some(Offline)), Offline);
        assert_eq!(ardour.pacing(Realtime, Some(Realtime)), Realtime);
        // A host that set up offline once and then marks blocks real time is followed.
        let mut juce = ModeFollower::default();
        assert_eq!(juce.pacing(Offline, Some(Offline)), Offline);
        assert_eq!(juce.pacing(Offline, Some(Realtime)), Realtime);
        // CLAP states the mode only out of band.
        let mut clap = ModeFollower::default();
        assert_eq!(clap.pacing(Offline, None), Offline);
        assert_eq!(clap.pacing(Realtime, None), Realtime);
    }

    #[test]
    fn owed_marks_keep_their_order_and_merge_gaps() {
        let end = BounceEnd {
            audio_mark: 0,
            counts: BounceCounts::default(),
            reason: EndReason::Stopped,
        };
        let mut owed = Owed::default();
        owed.push(Mark::Gap(10));
        owed.push(Mark::Gap(5));
        owed.push(Mark::End(end));
        assert!(matches!(owed.front(), Some(Mark::Gap(15))));
        owed.pop();
        assert!(matches!(owed.front(), Some(Mark::End(_))));
        assert!(!owed.withdraw_start());
        owed.pop();
        assert!(owed.front().is_none());
    }

    #[test]
    fn the_hold_covers_every_supported_rate() {
        for rate in [8_000, 44_100, 192_000, 384_000] {
            let hold = Hold::new(rate, 2);
            assert_eq!(hold.audio[0].len(), HOLD_SECONDS as usize * rate as usize);
            assert_eq!(hold.audio[1].len(), hold.audio[0].len());
        }
    }
}
