//! Bounce export: while the host renders offline, the worker writes every frame of the
//! bounced range beside the audio, into a folder of its own.
//!
//! `<export folder>/bounce-NNNN/` (created with `create_dir`, so two bounces never share
//! one) holds:
//! - `frame-NNNNNN.png`, numbered from 0 in time order, one per frame of the range;
//! - `audio.wav`: the audio under those frames as the plugin passed it on (32-bit float,
//!   host rate);
//! - `manifest.json`: fps, rate, start sample, each frame's timeline frame index and
//!   sample, the instance and the render it belongs to, why it ended, the model (the SHA-256
//!   of the bytes that were loaded) and any change of model, the parameters and their
//!   changes, missing frames and audio gaps and why, whether the bounce is complete, and
//!   whether writing it has finished;
//! - `bounce.mp4` (frames + audio) when `ffmpeg` is on `PATH`.
//!
//! **Which frames, which audio.** Frame k sits at timeline sample round(k·rate/fps) and is
//! shown until frame k+1. A bounce holds every frame whose whole display interval its audio
//! covers (`FrameClock::num_whole_frames`), never before timeline 0, and `audio.wav` spans
//! exactly those frames. Hosts process a little more than the range they render: Ardour
//! pre-rolls a route's latency before the range and finishes its last cycle past the end,
//! dawdreamer runs a block or two past. So 10 s at 30 fps is exactly 300 frames and 10 s
//! of audio, video and audio end together, and `mvgen render` makes the same frames from
//! the bounced file.
//!
//! **No frame is lost silently.** Frames arrive in timeline order. A frame that never
//! reached the worker (the audio thread gave up on a stalled worker) or that the generator
//! could not make is still written, as a copy of the frame before it (black at the start),
//! so the video keeps its timing; the manifest lists it with the reason, `complete` is
//! false, and the report and the log say why. Audio that never reached the worker is
//! padded with silence where it was missing (the audio thread marks the gap in order), so
//! what follows keeps its time, and is listed too. What the audio thread lost is charged
//! to the bounce it lost it in (counted there, sent with the end mark).
//!
//! **`complete: true`** means: every frame of the range was generated, every sample of its
//! audio arrived, and everything was written.
//!
//! **Failures** (an unwritable folder, a full disk) never reach the audio: the worker keeps
//! draining, the report carries the error for the editor, and `manifest.json` (written at
//! the start, rewritten at the end) says the bounce is incomplete.
//!
//! **Finishing** (the last frames, closing the WAV, the MP4 encode, the final manifest)
//! runs on a thread of its own ([`Finishers`]), so neither the worker nor the host's main
//! thread waits for an encode. The plugin waits for unfinished encodes only when it is
//! destroyed, so that quitting a host right after a bounce still leaves a whole video.

use crate::engine::Installed;
use crate::handoff::{BounceCounts, BounceEnd, BounceStart, FramePacket, FrameParams};
use crate::params::MvGenParams;
use crate::status::Status;
use mvgen_core::frame::smooth_into;
use mvgen_core::{Frame, FrameClock};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where bounces go when the session sets no folder.
pub const EXPORT_DIR_ENV: &str = "MVGEN_EXPORT_DIR";
pub const MANIFEST: &str = "manifest.json";
pub const AUDIO: &str = "audio.wav";
pub const VIDEO: &str = "bounce.mp4";
const VIDEO_PART: &str = "bounce.mp4.part";

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
}

/// `$MVGEN_EXPORT_DIR`, else `~/mvgen/bounces` (`%USERPROFILE%` on Windows).
pub fn default_export_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(EXPORT_DIR_ENV) {
        return PathBuf::from(dir);
    }
    home()
        .unwrap_or_else(std::env::temp_dir)
        .join("mvgen")
        .join("bounces")
}

/// `path` for people: under the home folder it reads `~/...`.
pub fn show_path(path: &Path) -> String {
    match home().and_then(|h| path.strip_prefix(h).ok().map(Path::to_path_buf)) {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

/// How long the plugin's destruction waits for bounces still being finished (encoded):
/// past it, the frames and the audio are on disk and the manifest says the video is not.
pub const FINISH_LIMIT: Duration = Duration::from_secs(60);

/// The parameters a bounce records (those of its first frame; changes are listed apart).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BounceParams {
    pub fps: u32,
    pub input_gain_db: f32,
    pub smoothing: f32,
    pub execution: String,
}

/// An automated parameter changed at this frame.
#[derive(Debug, Clone, Serialize)]
struct ParamChange {
    frame: i64,
    input_gain_db: f32,
    smoothing: f32,
}

/// Audio that never reached the worker, padded with silence.
#[derive(Debug, Clone, Serialize)]
struct AudioGap {
    /// The timeline sample where it starts.
    sample: i64,
    /// Its length in samples (per channel).
    samples: u64,
}

/// The model changed during the bounce: from this frame on, this model made the frames.
#[derive(Debug, Clone, Serialize)]
struct ModelChange {
    from_frame: i64,
    model: ModelEntry,
}

/// What the worker needs to export bounces; made on the main thread at activation. The
/// folder and the parameters are read when each bounce starts.
#[derive(Clone)]
pub struct ExportSetup {
    pub rate_hz: u32,
    pub channels: u16,
    pub params: Arc<MvGenParams>,
    /// Where errors are also appended (the test tap's `errors.txt`), if anywhere.
    pub errors_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
struct FrameEntry {
    file: String,
    /// Frame index on the host timeline (frame 0 is at sample 0).
    frame: i64,
    /// The timeline sample the frame is at.
    sample: i64,
    /// The frame could not be made; the file repeats the frame before it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    missing: bool,
}

#[derive(Debug, Clone, Serialize)]
struct MissingFrame {
    frame: i64,
    sample: i64,
    why: String,
}

#[derive(Debug, Clone, Serialize)]
struct ModelEntry {
    name: String,
    path: PathBuf,
    sha256: String,
    ngf: Option<u32>,
    epochs: Option<u32>,
    dataset: Option<String>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    mvgen_version: &'static str,
    /// The instance that bounced: the host's track name, or "MVGen N".
    instance: &'a str,
    /// The host's render this bounce is part of: bounces cut from one render (by a jump
    /// on its timeline) share it.
    render_id: String,
    /// Why the bounce ended.
    ended_by: Option<String>,
    /// Every frame of the range was made and everything was written.
    complete: bool,
    /// Writing the bounce is over (false while it is still being written or encoded).
    finished: bool,
    error: Option<&'a str>,
    /// Why the bounce is incomplete, in plain words.
    problems: &'a [String],
    /// How the plugin knew the host was rendering.
    render_detected_by: &'static str,
    fps: u32,
    sample_rate_hz: u32,
    channels: u16,
    /// The timeline sample of `audio.wav`'s first sample: the first frame's.
    start_sample: i64,
    /// Audio samples per channel in `audio.wav`.
    audio_samples: u64,
    audio: &'static str,
    video: Option<&'static str>,
    model: Option<&'a ModelEntry>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    model_changes: &'a [ModelChange],
    provider: Option<String>,
    params: &'a BounceParams,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    param_changes: &'a [ParamChange],
    missing_frames: &'a [MissingFrame],
    audio_gaps: &'a [AudioGap],
    frames: &'a [FrameEntry],
}

/// A frame that reached the worker, waiting until the audio covers it.
struct Held {
    frame: i64,
    /// What to show (smoothed), or why there is nothing.
    shown: Result<Frame, String>,
}

pub struct Bounce {
    setup: ExportSetup,
    start: BounceStart,
    clock: FrameClock,
    root: PathBuf,
    params: BounceParams,
    /// The automatable parameters of the last frame, and their changes.
    last_params: Option<FrameParams>,
    param_changes: Vec<ParamChange>,
    status: Arc<Status>,
    instance: String,
    /// The end mark: why it ended and what the audio thread lost in it.
    end: Option<BounceEnd>,
    /// Set once the first audio arrives.
    started: Option<Started>,
    error: Option<String>,
    /// The smoothed frame, as the editor shows it.
    shown: Frame,
    smoothing_primed: bool,
    held: VecDeque<Held>,
    /// The next timeline frame to write.
    next_frame: i64,
    /// Audio per channel received: the audio thread sends it from the first frame on.
    received: u64,
    /// Received audio not yet in `audio.wav` (interleaved): it is written as far as the
    /// frames are, so the WAV ends where the last frame does.
    unwritten: Vec<f32>,
    /// The last frame written, repeated for a missing one.
    last_png: Option<Vec<u8>>,
    frames: Vec<FrameEntry>,
    missing: Vec<MissingFrame>,
    gaps: Vec<AudioGap>,
    problems: Vec<String>,
    model: Option<ModelEntry>,
    model_changes: Vec<ModelChange>,
    provider: Option<String>,
}

struct Started {
    dir: PathBuf,
    /// Samples per channel in `audio.wav`.
    wav_samples: u64,
    wav: Option<hound::WavWriter<BufWriter<std::fs::File>>>,
}

impl Bounce {
    /// A bounce that starts at `start`, by `instance`; its folder is made when its first
    /// audio arrives.
    pub fn new(
        setup: ExportSetup,
        start: BounceStart,
        status: Arc<Status>,
        instance: String,
    ) -> Self {
        let p = &setup.params;
        let params = BounceParams {
            fps: start.fps.per_second(),
            input_gain_db: p.input_gain_db.value(),
            smoothing: p.smoothing.value(),
            execution: format!("{:?}", p.execution.value()).to_lowercase(),
        };
        Self {
            root: p.export_folder(),
            next_frame: start.first_frame,
            received: 0,
            unwritten: Vec::new(),
            params,
            last_params: None,
            param_changes: Vec::new(),
            instance,
            end: None,
            clock: FrameClock::new(start.fps, setup.rate_hz),
            setup,
            start,
            status,
            started: None,
            error: None,
            shown: Frame::default(),
            smoothing_primed: false,
            held: VecDeque::new(),
            last_png: None,
            frames: Vec::new(),
            missing: Vec::new(),
            gaps: Vec::new(),
            problems: Vec::new(),
            model: None,
            model_changes: Vec::new(),
            provider: None,
        }
    }

    /// The bounce folder, once it exists.
    pub fn dir(&self) -> Option<&Path> {
        self.started.as_ref().map(|s| s.dir.as_path())
    }

    /// Report a failure (once): the log, the editor's report and the tap hear of it, and
    /// nothing more is written.
    fn fail(&mut self, what: String) {
        if self.error.is_none() {
            report(&self.status, &self.setup, format!("bounce export: {what}"));
            self.error = Some(what);
        }
    }

    /// The generator that makes `frame` (by the hash of the bytes it was loaded from). A
    /// model swapped in during the bounce is recorded from the frame it first made.
    pub fn set_model(&mut self, installed: &Installed, frame: i64) {
        let info = &installed.info;
        let current = self
            .model_changes
            .last()
            .map(|c| &c.model)
            .or(self.model.as_ref());
        if current.is_some_and(|m| m.sha256 == info.sha256 && m.path == info.path) {
            return;
        }
        let entry = ModelEntry {
            name: info.display_name(),
            path: info.path.clone(),
            sha256: info.sha256.clone(),
            ngf: info.ngf,
            epochs: info.epochs,
            dataset: info.dataset.clone(),
        };
        if self.model.is_none() {
            self.model = Some(entry);
            self.provider = Some(installed.provider.to_string());
        } else {
            self.model_changes.push(ModelChange {
                from_frame: frame,
                model: entry,
            });
        }
    }

    /// `samples` per channel of audio never reached the worker here: silence takes their
    /// place, so what follows keeps its time.
    pub fn gap(&mut self, samples: u64) {
        if samples == 0 {
            return;
        }
        if self.started.is_none() {
            self.begin();
        }
        let sample = self.clock.frame_position(self.start.first_frame) + self.received as i64;
        self.gaps.push(AudioGap { sample, samples });
        let channels = self.setup.channels.max(1) as usize;
        self.received += samples;
        self.unwritten
            .resize(self.unwritten.len() + samples as usize * channels, 0.0);
        self.write_ready(false);
    }

    /// The end mark arrived (`None`: the worker stopped without one).
    pub fn ended(&mut self, end: Option<BounceEnd>) {
        self.end = end;
    }

    /// Audio as the plugin passed it on, interleaved. The first call makes the folder.
    pub fn audio(&mut self, interleaved: &[f32]) {
        if interleaved.is_empty() {
            return;
        }
        if self.started.is_none() {
            self.begin();
        }
        let channels = self.setup.channels.max(1) as usize;
        self.received += (interleaved.len() / channels) as u64;
        self.unwritten.extend_from_slice(interleaved);
        self.write_ready(false);
    }

    /// Write the received audio up to timeline sample `to` into `audio.wav`.
    fn write_audio_to(&mut self, to: i64) {
        let channels = self.setup.channels.max(1) as usize;
        let Some(started) = &mut self.started else {
            return;
        };
        let written_to =
            self.clock.frame_position(self.start.first_frame) + started.wav_samples as i64;
        let n = ((to - written_to).max(0) as usize).min(self.unwritten.len() / channels);
        if n == 0 {
            return;
        }
        started.wav_samples += n as u64;
        let mut failed = None;
        if let Some(wav) = &mut started.wav {
            for &s in &self.unwritten[..n * channels] {
                if let Err(e) = wav.write_sample(s) {
                    failed = Some(format!("writing {AUDIO}: {e}"));
                    break;
                }
            }
        }
        self.unwritten.drain(..n * channels);
        if let Some(e) = failed {
            started.wav = None;
            self.fail(e);
        }
    }

    fn begin(&mut self) {
        let dir = match new_bounce_dir(&self.root) {
            Ok(dir) => dir,
            Err(e) => {
                // Keep counting audio so the frame rule still holds; write nothing.
                self.started = Some(Started {
                    dir: PathBuf::new(),
                    wav_samples: 0,
                    wav: None,
                });
                let root = self.root.display().to_string();
                self.fail(format!("cannot create a folder in {root}: {e}"));
                return;
            }
        };
        let spec = hound::WavSpec {
            channels: self.setup.channels,
            sample_rate: self.setup.rate_hz,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let wav = hound::WavWriter::create(dir.join(AUDIO), spec);
        self.started = Some(Started {
            dir,
            wav_samples: 0,
            wav: None,
        });
        match wav {
            Ok(w) => {
                if let Some(s) = &mut self.started {
                    s.wav = Some(w);
                }
            }
            Err(e) => self.fail(format!("creating {AUDIO}: {e}")),
        }
        self.write_manifest(false, false, None);
    }

    /// The frame the worker made for `packet`, or why it could not.
    pub fn frame(&mut self, packet: &FramePacket, generated: Result<&Frame, String>) {
        self.note_params(packet.frame, packet.params);
        let smoothing = packet.params.smoothing;
        let shown = generated.map(|image| {
            let amount = if self.smoothing_primed {
                smoothing
            } else {
                0.0
            };
            smooth_into(&mut self.shown, image, amount);
            self.smoothing_primed = true;
            self.shown.clone()
        });
        self.held.push_back(Held {
            frame: packet.frame,
            shown,
        });
        self.write_ready(false);
    }

    /// Record the automatable parameters as they change: those of the first frame are the
    /// bounce's `params`.
    fn note_params(&mut self, frame: i64, now: FrameParams) {
        match self.last_params {
            None => {
                self.params.input_gain_db = now.input_gain_db;
                self.params.smoothing = now.smoothing;
            }
            Some(before) if before != now => self.param_changes.push(ParamChange {
                frame,
                input_gain_db: now.input_gain_db,
                smoothing: now.smoothing,
            }),
            Some(_) => {}
        }
        self.last_params = Some(now);
    }

    /// Write the frames whose display interval the bounced audio covers. A frame that has
    /// not arrived is missing once a later one has, or once the bounce has `ended`.
    fn write_ready(&mut self, ended: bool) {
        if self.started.is_none() {
            return;
        }
        let bounced_to = self.clock.frame_position(self.start.first_frame) + self.received as i64;
        while self.clock.frame_position(self.next_frame + 1) <= bounced_to {
            let k = self.next_frame;
            // A frame from before this one (the host's timeline went back) is stale.
            while self.held.front().is_some_and(|h| h.frame < k) {
                self.held.pop_front();
            }
            let shown = match self.held.front() {
                Some(h) if h.frame == k => self.held.pop_front().map(|h| h.shown),
                Some(_) => Some(Err(NEVER_ARRIVED.to_string())),
                None if ended => Some(Err(NEVER_ARRIVED.to_string())),
                None => None,
            };
            let Some(shown) = shown else {
                break;
            };
            self.write_frame(k, shown);
            self.next_frame += 1;
        }
        self.write_audio_to(self.clock.frame_position(self.next_frame));
    }

    fn write_frame(&mut self, k: i64, shown: Result<Frame, String>) {
        let sample = self.clock.frame_position(k);
        let file = format!("frame-{:06}.png", self.frames.len());
        let missing = shown.is_err();
        let png = match shown {
            Ok(frame) => frame.to_png(),
            Err(why) => {
                self.missing.push(MissingFrame {
                    frame: k,
                    sample,
                    why,
                });
                self.last_png.take().unwrap_or_else(black_png)
            }
        };
        if self.error.is_none() {
            let dir = self.dir().map(Path::to_path_buf).unwrap_or_default();
            if let Err(e) = std::fs::write(dir.join(&file), &png) {
                self.fail(format!("writing {}: {e}", dir.join(&file).display()));
            }
        }
        self.last_png = Some(png);
        self.frames.push(FrameEntry {
            file,
            frame: k,
            sample,
            missing,
        });
    }

    /// The bounce ended: write its last frames, close the audio, mux the video and write
    /// the final manifest. Returns the folder when the export has no error.
    pub fn finish(&mut self) -> Option<PathBuf> {
        if self.started.is_none() {
            nice_plug::nice_log!("bounce ended without audio: nothing exported");
            return None;
        }
        self.write_ready(true);
        self.held.clear();
        self.explain();
        let started = self.started.as_mut()?;
        let (wav, dir) = (started.wav.take(), started.dir.clone());
        if let Some(Err(e)) = wav.map(hound::WavWriter::finalize) {
            self.fail(format!("finishing {AUDIO}: {e}"));
        }
        if self.error.is_some() {
            if !dir.as_os_str().is_empty() {
                self.write_manifest(false, true, None);
            }
            return None;
        }
        let video = match self.mux(&dir) {
            Ok(v) => v,
            Err(e) => {
                report(
                    &self.status,
                    &self.setup,
                    format!("bounce export: no video: {e}"),
                );
                None
            }
        };
        let complete = self.problems.is_empty();
        self.write_manifest(complete, true, video);
        Some(dir)
    }

    /// Say in plain words why the bounce is incomplete, if it is.
    fn explain(&mut self) {
        let counts = self.end.map_or(BounceCounts::default(), |e| e.counts);
        let never_arrived = self
            .missing
            .iter()
            .filter(|m| m.why == NEVER_ARRIVED)
            .count();
        if never_arrived > 0 {
            let mut causes = Vec::new();
            if counts.gave_up > 0 {
                causes.push(format!(
                    "the worker did not answer within {} s (it stalled), so the audio \
                     thread stopped waiting for it {} time(s)",
                    crate::capture::OFFLINE_WAIT_LIMIT.as_secs(),
                    counts.gave_up
                ));
            }
            for (n, what) in [
                (counts.dropped, "dropped for want of a free window"),
                (counts.expired, "analysed too late (the window had expired)"),
                (counts.overflowed, "over the pending limit"),
            ] {
                if n > 0 {
                    causes.push(format!("{n} {what}"));
                }
            }
            if causes.is_empty() {
                causes.push("the host skipped part of the timeline".into());
            }
            self.problems.push(format!(
                "{never_arrived} frame(s) never reached the worker: {}",
                causes.join("; ")
            ));
        }
        let failed: Vec<&MissingFrame> = self
            .missing
            .iter()
            .filter(|m| m.why != NEVER_ARRIVED)
            .collect();
        if let Some(first) = failed.first() {
            self.problems.push(format!(
                "{} frame(s) were not generated (frame {}: {})",
                failed.len(),
                first.frame,
                first.why
            ));
        }
        let gap_samples: u64 = self.gaps.iter().map(|g| g.samples).sum();
        if gap_samples > 0 {
            self.problems.push(format!(
                "{gap_samples} samples of audio never reached the worker (it stalled): \
                 {AUDIO} has silence in their place ({} gap(s), listed in audio_gaps)",
                self.gaps.len()
            ));
        }
        if !self.model_changes.is_empty() {
            // Every frame was made, but not by one model: said, not a failure.
            nice_plug::nice_log!("the model changed during the bounce (listed in model_changes)");
        }
        if self.frames.is_empty() {
            self.problems.push(format!(
                "the render ({} samples) was shorter than one frame: no frames",
                self.received
            ));
        }
        if !self.problems.is_empty() {
            let dir = self
                .dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            report(
                &self.status,
                &self.setup,
                format!("bounce {dir} is incomplete: {}", self.problems.join("; ")),
            );
        }
    }

    fn write_manifest(&mut self, complete: bool, finished: bool, video: Option<&'static str>) {
        let Some(started) = &self.started else {
            return;
        };
        let manifest = Manifest {
            mvgen_version: env!("CARGO_PKG_VERSION"),
            instance: &self.instance,
            render_id: format!("{:016x}", self.start.render_id),
            ended_by: self.end.map(|e| e.reason.to_string()),
            complete: complete && self.error.is_none(),
            finished,
            error: self.error.as_deref(),
            problems: &self.problems,
            render_detected_by: self.start.detected.describe(),
            fps: self.params.fps,
            sample_rate_hz: self.setup.rate_hz,
            channels: self.setup.channels,
            start_sample: self.clock.frame_position(self.start.first_frame),
            audio_samples: started.wav_samples,
            audio: AUDIO,
            video,
            model: self.model.as_ref(),
            model_changes: &self.model_changes,
            provider: self.provider.clone(),
            params: &self.params,
            param_changes: &self.param_changes,
            missing_frames: &self.missing,
            audio_gaps: &self.gaps,
            frames: &self.frames,
        };
        let path = started.dir.join(MANIFEST);
        let written = serde_json::to_vec_pretty(&manifest)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&path, &bytes));
        if let Err(e) = written {
            self.fail(format!("writing {}: {e}", path.display()));
        }
    }

    /// `bounce.mp4` from the frames and the audio, when ffmpeg is on PATH.
    fn mux(&self, dir: &Path) -> std::io::Result<Option<&'static str>> {
        if self.frames.is_empty() {
            return Ok(None);
        }
        if std::process::Command::new("ffmpeg")
            .arg("-version")
            .output()
            .is_err()
        {
            return Ok(None);
        }
        // The frames and the audio start and end together.
        let out = std::process::Command::new("ffmpeg")
            .current_dir(dir)
            .args(["-y", "-loglevel", "error", "-framerate"])
            .arg(self.params.fps.to_string())
            .args(["-i", "frame-%06d.png", "-i", AUDIO])
            .args([
                "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "256k"])
            // AAC stops at 96 kHz.
            .args(if self.setup.rate_hz > 96_000 {
                &["-ar", "48000"][..]
            } else {
                &[]
            })
            // Written under another name and renamed when whole: a host that quits while
            // it encodes leaves no broken video behind.
            .args(["-f", "mp4"])
            .arg(VIDEO_PART)
            .output()?;
        if out.status.success() {
            std::fs::rename(dir.join(VIDEO_PART), dir.join(VIDEO))?;
            Ok(Some(VIDEO))
        } else {
            Err(std::io::Error::other(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    }
}

/// Why a frame that never reached the worker is missing (the details go in `problems`).
const NEVER_ARRIVED: &str = "never reached the worker";

/// A black 256x256 frame, for a gap at the very start of a bounce.
fn black_png() -> Vec<u8> {
    let mut black = Frame::default();
    black.planes_mut().fill(-1.0);
    black.to_png()
}

/// An error for the log, the editor's report and the test tap.
fn report(status: &Status, setup: &ExportSetup, message: String) {
    nice_plug::nice_log!("{message}");
    if let Some(path) = &setup.errors_file {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{message}"));
    }
    status.report(|r| r.error = Some(message));
}

/// Bounces being finished on threads of their own.
#[derive(Default)]
pub struct Finishers(Mutex<Vec<JoinHandle<()>>>);

impl Finishers {
    /// Finish `bounce` on a thread of its own.
    pub fn finish(&self, mut bounce: Bounce) {
        let status = bounce.status.clone();
        let spawned = std::thread::Builder::new()
            .name("mvgen-bounce-finish".into())
            .spawn(move || {
                if let Some(dir) = bounce.finish() {
                    nice_plug::nice_log!("bounce exported to {}", dir.display());
                    bounce.status.report(|r| r.last_bounce = Some(dir));
                }
            });
        let mut handles = self.0.lock().unwrap_or_else(|e| e.into_inner());
        handles.retain(|h| !h.is_finished());
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                let message = format!("bounce export: could not start its last step: {e}");
                nice_plug::nice_log!("{message}");
                status.report(|r| r.error = Some(message));
            }
        }
    }

    /// Wait until every bounce is finished, all within `limit`: an encode still running
    /// past it is left behind (its manifest says the bounce is not finished).
    pub fn wait(&self, limit: Duration) {
        let handles = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = Instant::now() + limit;
        for h in handles {
            crate::engine::join_within(
                h,
                deadline.saturating_duration_since(Instant::now()),
                "finishing a bounce",
            );
        }
    }
}

/// `root/bounce-NNNN`, the first number not taken. `create_dir` fails if another bounce
/// (in this process or another) took the name first, and then we try the next one.
fn new_bounce_dir(root: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    for n in 1..100_000 {
        let dir = root.join(format!("bounce-{n:04}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free bounce-NNNN name"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_home_read_from_tilde() {
        let home = home().expect("HOME is set");
        assert_eq!(show_path(&home.join("mvgen/bounces")), "~/mvgen/bounces");
        assert_eq!(show_path(&home), home.display().to_string());
        assert_eq!(show_path(Path::new("/elsewhere/x")), "/elsewhere/x");
    }
}
