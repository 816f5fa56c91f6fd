//! The lock-free hand-off from the audio thread to the worker.
//!
//! Single-producer single-consumer queues (rtrb), all allocated in [`handoff`]:
//! - **messages**, in order: each frame's window ([`FramePacket`]), and the marks where a
//!   bounce starts and ends, so the worker sees a bounce's frames between its marks;
//! - **windows back** to the audio thread for reuse: a fixed pool of boxes, so neither side
//!   allocates or frees while streaming;
//! - **audio**, interleaved, for a bounce's `audio.wav`. Every message carries how much
//!   audio had been written when it was sent, so the worker never gives one bounce's audio
//!   to another. Audio the ring had no room for is never silently skipped: an
//!   [`Message::AudioGap`] says, in order, how much is missing there.
//!
//! Neither side ever waits inside these types: a full queue or an empty pool hands the
//! value back and the caller decides (the audio thread drops and counts in real time, and
//! waits a bounded time in an offline render).

use mvgen_core::{Fps, SpectrogramWindow, WindowEnd};
use rtrb::{Consumer, Producer, RingBuffer};

/// Windows in flight at once. Eight frames is over 100 ms at 60 fps: more than the worker
/// should ever lag before dropping is the right answer.
pub const POOL_WINDOWS: usize = 8;
/// Bounce marks that may wait in the queue besides the pool's frames. A mark the queue has
/// no room for is held by the audio thread and sent first thing later.
pub const MAX_MARKS: usize = 8;
/// Audio samples the export ring holds: 2^18 floats (1 MiB). The audio thread writes a
/// block's audio in short chunks between its frames, and the worker takes it with each
/// frame, so the ring holds at most the pool's lead: 8 frames of 24 fps stereo at 192 kHz
/// is 128 000 floats.
pub const EXPORT_AUDIO_SAMPLES: usize = 1 << 18;

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
    /// Export audio samples written before this packet was sent.
    pub audio_mark: u64,
    /// When the audio that completes the window reached the plugin, on the clock every
    /// process shares ([`mvgen_feed::now_ns`]): a stage measures its latency from it.
    pub sound_at_ns: u64,
    /// The parameters at the block that sent it, recorded by a bounce as they change.
    pub params: FrameParams,
}

/// Automatable parameters a frame was made with.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameParams {
    pub input_gain_db: f32,
    pub smoothing: f32,
}

/// Where a bounce starts: the host renders offline with the transport rolling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BounceStart {
    /// The timeline sample of the bounce's first audio sample.
    pub timeline_sample: i64,
    /// Its first frame: the first at or after its first sample, never before timeline 0
    /// (a song's timeline starts at 0; a host's pre-roll before it is not part of one).
    /// The bounce's analysis, its `audio.wav` and its video all start at this frame.
    pub first_frame: i64,
    /// The frame rate, fixed for the whole bounce at its first block.
    pub fps: Fps,
    /// Whether it is exported (the `export` parameter at its first block).
    pub export: bool,
    pub detected: Detection,
    /// Which render of the host it belongs to: the bounces one render is cut into (by a
    /// jump on its timeline) share it.
    pub render_id: u64,
}

/// Why a bounce ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The host went back to real-time processing.
    Realtime,
    /// The transport stopped.
    Stopped,
    /// The timeline jumped: the next block did not start where the last one ended.
    Jump { expected: i64, found: i64 },
    /// The host started moving its timeline in a render that had none.
    TimelineStarted,
    /// The host reset the plugin.
    Reset,
    /// The host deactivated the plugin.
    Deactivated,
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Realtime => write!(f, "the host went back to real time"),
            Self::Stopped => write!(f, "the transport stopped"),
            Self::Jump { expected, found } => write!(
                f,
                "the timeline jumped from sample {expected} to sample {found}"
            ),
            Self::TimelineStarted => write!(f, "the host's timeline started moving"),
            Self::Reset => write!(f, "the host reset the plugin"),
            Self::Deactivated => write!(f, "the host deactivated the plugin"),
        }
    }
}

/// What the audio thread counted during one bounce: why frames or audio never reached
/// the worker. Sent with the bounce's end, so each bounce is charged with its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BounceCounts {
    /// Frames dropped for want of a free window.
    pub dropped: u64,
    /// Frames whose window had left the analyser's history.
    pub expired: u64,
    /// Frames over the pending limit.
    pub overflowed: u64,
    /// Times the audio thread stopped waiting for a worker that did not answer.
    pub gave_up: u64,
    /// Audio samples (per channel) the export ring had no room for.
    pub audio_lost: u64,
}

/// A bounce's end mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BounceEnd {
    /// The bounce's audio is the export audio written before this.
    pub audio_mark: u64,
    pub counts: BounceCounts,
    pub reason: EndReason,
}

/// How the plugin knew that the host renders offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// The host said so (VST3 `processMode`, CLAP render mode).
    HostMode,
    /// The host said real time but delivered the roll's audio far faster than that, as
    /// Ardour's track bounce does.
    FasterThanRealTime,
    /// The host said offline, with a transport that never rolled, for longer than a
    /// pre-roll (pedalboard): a render on the plugin's own frame clock from its first
    /// sample.
    Untimed,
}

impl Detection {
    /// For the manifest.
    pub fn describe(self) -> &'static str {
        match self {
            Self::HostMode => "the host's offline mode",
            Self::FasterThanRealTime => "the host rendering faster than real time",
            Self::Untimed => "the host's offline mode, without a moving timeline",
        }
    }
}

/// What the audio thread tells the worker, in order.
pub enum Message {
    Frame(FramePacket),
    BounceStart(BounceStart),
    BounceEnd(BounceEnd),
    /// `samples` per channel of the bounce's audio are missing after the export audio
    /// written before `audio_mark` (the ring had no room): the export pads them with
    /// silence, so what follows keeps its time.
    AudioGap {
        audio_mark: u64,
        samples: u64,
    },
}

/// Audio thread half. **Audio thread only** (or the main thread while the host does not
/// process, as at deactivation).
pub struct AudioSide {
    to_worker: Producer<Message>,
    returned: Consumer<Box<SpectrogramWindow>>,
    spare: Option<Box<SpectrogramWindow>>,
    audio: Producer<f32>,
    /// Export audio samples written so far.
    audio_written: u64,
}

/// Worker half.
pub struct WorkerSide {
    pub from_audio: Consumer<Message>,
    pub to_audio: Producer<Box<SpectrogramWindow>>,
    audio: Consumer<f32>,
    /// Export audio samples read so far.
    audio_read: u64,
}

/// A connected pair of halves with `POOL_WINDOWS` preallocated windows and the export ring.
pub fn handoff() -> (AudioSide, WorkerSide) {
    let (audio_in, audio_out) = RingBuffer::new(EXPORT_AUDIO_SAMPLES);
    let (to_worker, from_audio) = RingBuffer::new(POOL_WINDOWS + MAX_MARKS);
    let (mut to_audio, returned) = RingBuffer::new(POOL_WINDOWS);
    for _ in 0..POOL_WINDOWS {
        // Cannot fail: the queue holds exactly the pool.
        let _ = to_audio.push(Box::default());
    }
    (
        AudioSide {
            to_worker,
            returned,
            spare: None,
            audio: audio_in,
            audio_written: 0,
        },
        WorkerSide {
            from_audio,
            to_audio,
            audio: audio_out,
            audio_read: 0,
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

    /// Send a filled packet, stamped with the audio written so far. On a full queue the
    /// packet's window is kept for reuse and `false` is returned: the frame is dropped,
    /// never waited for.
    pub fn send(&mut self, mut packet: FramePacket) -> bool {
        packet.audio_mark = self.audio_written;
        match self.to_worker.push(Message::Frame(packet)) {
            Ok(()) => true,
            Err(rtrb::PushError::Full(Message::Frame(packet))) => {
                self.spare = Some(packet.window);
                false
            }
            Err(rtrb::PushError::Full(_)) => false,
        }
    }

    /// Send a bounce mark, [stamped](Self::stamp). `false` when the queue is full: the
    /// caller keeps it and tries again.
    pub fn mark(&mut self, mark: Message) -> bool {
        let mark = self.stamp(mark);
        self.to_worker.push(mark).is_ok()
    }

    /// An end or a gap stamped with the export audio written so far.
    pub fn stamp(&self, mark: Message) -> Message {
        match mark {
            Message::BounceEnd(end) => Message::BounceEnd(BounceEnd {
                audio_mark: self.audio_written,
                ..end
            }),
            Message::AudioGap { samples, .. } => Message::AudioGap {
                audio_mark: self.audio_written,
                samples,
            },
            other => other,
        }
    }

    /// Whether the worker holds nothing of ours: every message taken, every window back.
    /// After the audio thread stopped waiting for a stalled worker, this is how it knows
    /// the worker is answering again.
    pub fn worker_caught_up(&self) -> bool {
        self.to_worker.slots() == self.to_worker.buffer().capacity()
            && self.returned.slots() + usize::from(self.spare.is_some()) == POOL_WINDOWS
    }

    /// Interleaved samples the export ring can take now, in whole frames of `channels`.
    pub fn audio_room(&self, channels: usize) -> usize {
        self.audio.slots() / channels.max(1)
    }

    /// Write frames `range` of `channels`, interleaved. The caller checked the room.
    pub fn write_audio(&mut self, channels: &[&mut [f32]], range: std::ops::Range<usize>) {
        let n = range.len() * channels.len();
        let Ok(chunk) = self.audio.write_chunk_uninit(n) else {
            return;
        };
        let samples = range.flat_map(|i| channels.iter().map(move |c| c[i]));
        let written = chunk.fill_from_iter(samples);
        self.audio_written += written as u64;
    }
}

impl WorkerSide {
    /// Pass the export audio written before `mark` to `take`, in one or two slices.
    pub fn read_audio_to(&mut self, mark: u64, mut take: impl FnMut(&[f32])) {
        let wanted = mark.saturating_sub(self.audio_read) as usize;
        let n = wanted.min(self.audio.slots());
        if n == 0 {
            return;
        }
        let Ok(chunk) = self.audio.read_chunk(n) else {
            return;
        };
        let (first, second) = chunk.as_slices();
        take(first);
        take(second);
        chunk.commit_all();
        self.audio_read += n as u64;
    }

    /// Drop the export audio written before `mark` (audio of a bounce nobody exports).
    pub fn skip_audio_to(&mut self, mark: u64) {
        self.read_audio_to(mark, |_| {});
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
            audio_mark: 0,
            sound_at_ns: 0,
            params: FrameParams::default(),
        }
    }

    fn frame_of(message: Message) -> FramePacket {
        match message {
            Message::Frame(p) => p,
            _ => panic!("expected a frame"),
        }
    }

    #[test]
    fn pool_runs_dry_then_refills() {
        let (mut audio, mut worker) = handoff();
        for frame in 0..POOL_WINDOWS as i64 {
            let w = audio.take_window().expect("pool has a window");
            assert!(audio.send(packet(frame, w)));
        }
        assert!(
            audio.take_window().is_none(),
            "every window is with the worker"
        );
        let p = frame_of(worker.from_audio.pop().unwrap());
        assert_eq!(p.frame, 0);
        worker.to_audio.push(p.window).unwrap();
        assert!(audio.take_window().is_some());
    }

    /// Each message knows how much audio preceded it, so the worker splits the ring
    /// exactly at a bounce's end even when the next bounce's audio already follows.
    #[test]
    fn audio_is_split_at_the_marks() {
        let (mut audio, mut worker) = handoff();
        let mut left = [1.0f32, 2.0, 3.0];
        let mut right = [-1.0f32, -2.0, -3.0];
        let channels: [&mut [f32]; 2] = [&mut left, &mut right];
        audio.write_audio(&channels, 0..2);
        assert!(audio.mark(Message::BounceEnd(BounceEnd {
            audio_mark: 0,
            counts: BounceCounts::default(),
            reason: EndReason::Stopped,
        })));
        audio.write_audio(&channels, 2..3);
        let w = audio.take_window().unwrap();
        assert!(audio.send(packet(7, w)));

        let Message::BounceEnd(BounceEnd { audio_mark, .. }) = worker.from_audio.pop().unwrap()
        else {
            panic!("expected the end mark");
        };
        assert_eq!(audio_mark, 4);
        let mut first = Vec::new();
        worker.read_audio_to(audio_mark, |s| first.extend_from_slice(s));
        assert_eq!(first, [1.0, -1.0, 2.0, -2.0]);
        let p = frame_of(worker.from_audio.pop().unwrap());
        assert_eq!(p.audio_mark, 6);
        let mut second = Vec::new();
        worker.read_audio_to(p.audio_mark, |s| second.extend_from_slice(s));
        assert_eq!(second, [3.0, -3.0]);
    }
}
