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
//! - `bounce.mp4` when `ffmpeg` is on `PATH`: the frames and the audio in the session's
//!   video format (the editor's Video row: size, aspect, fill), enlarged by the look's
//!   enhancer where there is one, through `mvgen_video`, the same module `mvgen render`
//!   and `mvgen video` use. The folder's manifest is `mvgen_video::bounce::Manifest`.
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
//! runs on a thread of its own ([`Finishers`]) at a low priority (nice 10, ffmpeg too),
//! after the render, so neither the worker nor the host's main thread waits for an encode
//! and the host's render is not slowed by it. The plugin waits for unfinished encodes
//! only when it is destroyed (within [`FINISH_LIMIT`]), so that quitting a host right
//! after a bounce still leaves a whole video.

use crate::engine::Installed;
use crate::handoff::{BounceCounts, BounceEnd, BounceStart, FramePacket, FrameParams};
use crate::params::MvGenParams;
use crate::status::Status;
use mvgen_core::frame::smooth_into;
use mvgen_core::{Frame, FrameClock};
use mvgen_video::bounce::{
    AudioGap, BounceParams, FrameEntry, Manifest, MissingFrame, ModelChange, ModelEntry,
    ParamChange, VideoEntry,
};
pub use mvgen_video::bounce::{AUDIO, MANIFEST, VIDEO};
use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where bounces go when the session sets no folder.
pub const EXPORT_DIR_ENV: &str = "MVGEN_EXPORT_DIR";

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
    /// What `manifest.json` says, kept as it grows.
    manifest: Manifest,
    /// The automatable parameters of the last frame.
    last_params: Option<FrameParams>,
    status: Arc<Status>,
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
        let clock = FrameClock::new(start.fps, setup.rate_hz);
        let manifest = Manifest {
            mvgen_version: env!("CARGO_PKG_VERSION").into(),
            instance,
            render_id: format!("{:016x}", start.render_id),
            ended_by: None,
            complete: false,
            finished: false,
            error: None,
            problems: Vec::new(),
            render_detected_by: start.detected.describe().into(),
            fps: start.fps.per_second(),
            sample_rate_hz: setup.rate_hz,
            channels: setup.channels,
            start_sample: clock.frame_position(start.first_frame),
            audio_samples: 0,
            audio: AUDIO.into(),
            video: None,
            model: None,
            model_changes: Vec::new(),
            provider: None,
            params: BounceParams {
                fps: start.fps.per_second(),
                input_gain_db: p.input_gain_db.value(),
                smoothing: p.smoothing.value(),
                execution: format!("{:?}", p.execution.value()).to_lowercase(),
            },
            param_changes: Vec::new(),
            missing_frames: Vec::new(),
            audio_gaps: Vec::new(),
            frames: Vec::new(),
        };
        Self {
            root: p.export_folder(),
            next_frame: start.first_frame,
            received: 0,
            unwritten: Vec::new(),
            manifest,
            last_params: None,
            end: None,
            clock,
            setup,
            start,
            status,
            started: None,
            error: None,
            shown: Frame::default(),
            smoothing_primed: false,
            held: VecDeque::new(),
            last_png: None,
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
        let m = &mut self.manifest;
        let current = m
            .model_changes
            .last()
            .map(|c| &c.model)
            .or(m.model.as_ref());
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
        if m.model.is_none() {
            m.model = Some(entry);
            m.provider = Some(installed.provider.to_string());
        } else {
            m.model_changes.push(ModelChange {
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
        self.manifest.audio_gaps.push(AudioGap { sample, samples });
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
        self.write_manifest(false, false);
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
                self.manifest.params.input_gain_db = now.input_gain_db;
                self.manifest.params.smoothing = now.smoothing;
            }
            Some(before) if before != now => self.manifest.param_changes.push(ParamChange {
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
        let file = format!("frame-{:06}.png", self.manifest.frames.len());
        let missing = shown.is_err();
        let png = match shown {
            Ok(frame) => frame.to_png(),
            Err(why) => {
                self.manifest.missing_frames.push(MissingFrame {
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
        self.manifest.frames.push(FrameEntry {
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
                self.write_manifest(false, true);
            }
            return None;
        }
        // The frames and the audio are all there now: say so before the encode.
        self.write_manifest(false, false);
        self.encode(&dir);
        let complete = self.manifest.problems.is_empty();
        self.write_manifest(complete, true);
        Some(dir)
    }

    /// `bounce.mp4` in the session's video format, enlarged by the look's enhancer where
    /// there is one. Without ffmpeg there is no video, and the manifest says why; an encode
    /// that fails makes the bounce incomplete.
    fn encode(&mut self, dir: &Path) {
        if self.manifest.frames.is_empty() {
            return;
        }
        let params = &self.setup.params;
        let format = params.video_format();
        let config = params.runtime_config();
        let upscaler = self
            .manifest
            .model
            .as_ref()
            .and_then(|m| mvgen_video::enhancer_for(&m.path))
            .filter(|_| format.picture_side() > mvgen_core::spectrogram::SIZE as u32)
            .map(|path| mvgen_runtime::Enhancer::load(&path, &config).map_err(|e| (path, e)));
        let upscaler = match upscaler {
            Some(Ok(e)) => mvgen_video::Upscaler::Enhancer(Box::new(e)),
            Some(Err((path, e))) => {
                report(
                    &self.status,
                    &self.setup,
                    format!(
                        "bounce export: the enhancer {} did not load ({e}): enlarged with \
                         a Lanczos filter instead",
                        path.display()
                    ),
                );
                mvgen_video::Upscaler::Lanczos
            }
            None => mvgen_video::Upscaler::Lanczos,
        };
        let video = dir.join(VIDEO);
        match mvgen_video::encode_bounce(dir, &self.manifest, &video, format, upscaler, true) {
            Ok(made) => {
                self.manifest.video = Some(VideoEntry {
                    file: VIDEO.into(),
                    width: made.format.width(),
                    height: made.format.height(),
                    fill: made.format.fill().to_string(),
                    upscaled_by: made.upscaled_by,
                });
            }
            Err(mvgen_video::VideoError::NoFfmpeg) => {
                nice_plug::nice_log!("bounce export: no {VIDEO}: ffmpeg is not installed");
            }
            Err(e) => {
                let message = format!("{VIDEO} could not be encoded: {e}");
                report(
                    &self.status,
                    &self.setup,
                    format!("bounce export: {message}"),
                );
                self.manifest.problems.push(message);
            }
        }
    }

    /// Say in plain words why the bounce is incomplete, if it is.
    fn explain(&mut self) {
        let counts = self.end.map_or(BounceCounts::default(), |e| e.counts);
        let never_arrived = self
            .manifest
            .missing_frames
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
            self.manifest.problems.push(format!(
                "{never_arrived} frame(s) never reached the worker: {}",
                causes.join("; ")
            ));
        }
        let m = &mut self.manifest;
        let failed: Vec<&MissingFrame> = m
            .missing_frames
            .iter()
            .filter(|f| f.why != NEVER_ARRIVED)
            .collect();
        if let Some(first) = failed.first() {
            let said = format!(
                "{} frame(s) were not generated (frame {}: {})",
                failed.len(),
                first.frame,
                first.why
            );
            m.problems.push(said);
        }
        let gap_samples: u64 = m.audio_gaps.iter().map(|g| g.samples).sum();
        if gap_samples > 0 {
            let said = format!(
                "{gap_samples} samples of audio never reached the worker (it stalled): \
                 {AUDIO} has silence in their place ({} gap(s), listed in audio_gaps)",
                m.audio_gaps.len()
            );
            m.problems.push(said);
        }
        if !m.model_changes.is_empty() {
            // Every frame was made, but not by one model: said, not a failure.
            nice_plug::nice_log!("the model changed during the bounce (listed in model_changes)");
        }
        if m.frames.is_empty() {
            let said = format!(
                "the render ({} samples) was shorter than one frame: no frames",
                self.received
            );
            m.problems.push(said);
        }
        if !self.manifest.problems.is_empty() {
            let dir = self
                .dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            report(
                &self.status,
                &self.setup,
                format!(
                    "bounce {dir} is incomplete: {}",
                    self.manifest.problems.join("; ")
                ),
            );
        }
    }

    fn write_manifest(&mut self, complete: bool, finished: bool) {
        let Some(started) = &self.started else {
            return;
        };
        let m = &mut self.manifest;
        m.complete = complete && self.error.is_none();
        m.finished = finished;
        m.error = self.error.clone();
        m.ended_by = self.end.map(|e| e.reason.to_string());
        m.audio_samples = started.wav_samples;
        let path = started.dir.join(MANIFEST);
        let written = serde_json::to_vec_pretty(&*m)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&path, &bytes));
        if let Err(e) = written {
            self.fail(format!("writing {}: {e}", path.display()));
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
                mvgen_video::lower_this_threads_priority();
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

    /// A model swapped in during a bounce is recorded from the first frame it made, by
    /// the hash of the bytes loaded: the same file re-exported under the same path counts
    /// as a change, the same model reported again does not.
    #[test]
    fn a_model_that_changes_during_a_bounce_is_recorded_from_its_first_frame() {
        let setup = ExportSetup {
            rate_hz: 48_000,
            channels: 2,
            params: Arc::new(MvGenParams::default()),
            errors_file: None,
        };
        let start = BounceStart {
            timeline_sample: 0,
            first_frame: 0,
            fps: mvgen_core::Fps::F30,
            export: true,
            detected: crate::handoff::Detection::HostMode,
            render_id: 7,
        };
        let mut bounce = Bounce::new(setup, start, Arc::new(Status::default()), "t".into());
        let model = |path: &str, sha256: &str| Installed {
            info: mvgen_core::model::ModelInfo {
                path: path.into(),
                sha256: sha256.into(),
                ..Default::default()
            },
            provider: Default::default(),
            config: Default::default(),
            asked: (path.into(), None),
        };
        let (a, b, a_again) = (
            model("/a.onnx", "aa"),
            model("/b.onnx", "bb"),
            model("/a.onnx", "cc"),
        );
        for (installed, frame) in [(&a, 0), (&a, 1), (&b, 7), (&b, 8), (&a_again, 12)] {
            bounce.set_model(installed, frame);
        }
        let m = &bounce.manifest;
        assert_eq!(m.model.as_ref().map(|m| m.sha256.as_str()), Some("aa"));
        let changes: Vec<(i64, &str)> = m
            .model_changes
            .iter()
            .map(|c| (c.from_frame, c.model.sha256.as_str()))
            .collect();
        assert_eq!(changes, [(7, "bb"), (12, "cc")]);
    }

    #[test]
    fn paths_under_home_read_from_tilde() {
        let home = home().expect("HOME is set");
        assert_eq!(show_path(&home.join("mvgen/bounces")), "~/mvgen/bounces");
        assert_eq!(show_path(&home), home.display().to_string());
        assert_eq!(show_path(Path::new("/elsewhere/x")), "/elsewhere/x");
    }
}
