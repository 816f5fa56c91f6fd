//! Bounce export: while the host renders offline, the worker writes every frame of the
//! bounced range beside the audio, into a folder of its own.
//!
//! `<export folder>/bounce-NNNN/` (created with `create_dir`, so two bounces never share
//! one) holds:
//! - `frame-NNNNNN.png`, numbered from 0 in time order;
//! - `audio.wav`: the audio as the plugin passed it on (32-bit float, host rate);
//! - `manifest.json`: fps, rate, start sample, each frame's timeline frame index and
//!   sample, the model and its SHA-256, the parameters, and whether the bounce completed;
//! - `bounce.mp4` (frames + audio) when `ffmpeg` is on `PATH`.
//!
//! **Which frames.** Frame k sits at timeline sample round(k·rate/fps) and is shown until
//! frame k+1. A frame is exported when the bounce covers its whole display interval, so a
//! bounce of exactly 10 s at 30 fps gives exactly 300 frames even when the host processes
//! a block or two past the range (hosts do).
//!
//! **Failures** (an unwritable folder, a full disk) never reach the audio: the worker keeps
//! draining, the report carries the error for the editor, and `manifest.json` (written
//! `complete: false` at the start and rewritten only on success) says the bounce is
//! incomplete.

use crate::handoff::FramePacket;
use crate::params::MvGenParams;
use crate::status::Status;
use mvgen_core::frame::smooth_into;
use mvgen_core::{Frame, ModelInfo};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where bounces go when the session sets no folder.
pub const EXPORT_DIR_ENV: &str = "MVGEN_EXPORT_DIR";
pub const MANIFEST: &str = "manifest.json";
pub const AUDIO: &str = "audio.wav";
pub const VIDEO: &str = "bounce.mp4";

/// `$MVGEN_EXPORT_DIR`, else `~/mvgen/bounces` (`%USERPROFILE%` on Windows).
pub fn default_export_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(EXPORT_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map_or_else(std::env::temp_dir, PathBuf::from);
    home.join("mvgen").join("bounces")
}

/// The parameters a bounce records.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BounceParams {
    pub fps: u32,
    pub input_gain_db: f32,
    pub smoothing: f32,
    pub execution: String,
}

impl BounceParams {
    /// The parameters as they stand (read when the bounce's first audio arrives: by then
    /// the host has delivered any change it made before the bounce).
    pub fn read(p: &MvGenParams) -> Self {
        Self {
            fps: mvgen_core::Fps::from(p.fps.value()).per_second(),
            input_gain_db: p.input_gain_db.value(),
            smoothing: p.smoothing.value(),
            execution: format!("{:?}", p.execution.value()).to_lowercase(),
        }
    }
}

/// What the worker needs to export a bounce; made on the main thread at activation.
#[derive(Clone)]
pub struct ExportSetup {
    pub root: PathBuf,
    pub rate_hz: u32,
    pub channels: u16,
    pub params: Arc<MvGenParams>,
}

#[derive(Debug, Clone, Serialize)]
struct FrameEntry {
    file: String,
    /// Frame index on the host timeline (frame 0 is at sample 0).
    frame: i64,
    /// The timeline sample the frame is at.
    sample: i64,
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
    complete: bool,
    error: Option<&'a str>,
    fps: u32,
    sample_rate_hz: u32,
    channels: u16,
    /// The timeline sample of the bounce's first audio sample.
    start_sample: i64,
    /// Audio samples per channel in `audio.wav`.
    audio_samples: u64,
    audio: &'static str,
    video: Option<&'static str>,
    model: Option<&'a ModelEntry>,
    provider: Option<String>,
    params: &'a BounceParams,
    /// Frames whose window reached the worker without a generated image.
    missing_frames: u64,
    frames: &'a [FrameEntry],
}

struct Held {
    frame: i64,
    sample: i64,
    next_sample: i64,
    shown: Frame,
}

pub struct Bounce {
    setup: ExportSetup,
    params: BounceParams,
    status: Arc<Status>,
    /// Set once the first audio arrives.
    started: Option<Started>,
    error: Option<String>,
    shown: Frame,
    smoothing_primed: bool,
    held: VecDeque<Held>,
    frames: Vec<FrameEntry>,
    missing_frames: u64,
    model: Option<ModelEntry>,
    provider: Option<String>,
    /// Errors not yet collected by [`Bounce::take_errors`].
    unreported: Vec<String>,
}

struct Started {
    dir: PathBuf,
    start_sample: i64,
    audio_samples: u64,
    wav: Option<hound::WavWriter<BufWriter<std::fs::File>>>,
}

impl Bounce {
    pub fn new(setup: ExportSetup, status: Arc<Status>) -> Self {
        Self {
            params: BounceParams::read(&setup.params),
            setup,
            status,
            started: None,
            error: None,
            shown: Frame::default(),
            smoothing_primed: false,
            held: VecDeque::new(),
            frames: Vec::new(),
            missing_frames: 0,
            model: None,
            provider: None,
            unreported: Vec::new(),
        }
    }

    /// Errors since the last call, for the worker's tap.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unreported)
    }

    /// The bounce folder, once it exists.
    pub fn dir(&self) -> Option<&Path> {
        self.started.as_ref().map(|s| s.dir.as_path())
    }

    fn fail(&mut self, what: String) {
        if self.error.is_none() {
            let message = format!("bounce export: {what}");
            nice_plug::nice_log!("{message}");
            self.status.report(|r| r.error = Some(message.clone()));
            self.unreported.push(message);
            self.error = Some(what);
        }
    }

    /// Note the generator the frames come from (hashing its file once).
    pub fn set_model(&mut self, info: &ModelInfo, provider: &impl std::fmt::Display) {
        if self.model.as_ref().is_some_and(|m| m.path == info.path) {
            return;
        }
        let sha256 = match std::fs::read(&info.path) {
            Ok(bytes) => format!("{:x}", Sha256::digest(&bytes)),
            Err(e) => format!("unreadable: {e}"),
        };
        self.model = Some(ModelEntry {
            name: info.display_name(),
            path: info.path.clone(),
            sha256,
            ngf: info.ngf,
            epochs: info.epochs,
            dataset: info.dataset.clone(),
        });
        self.provider = Some(provider.to_string());
    }

    /// Audio as the plugin passed it on, interleaved. The first call starts the bounce at
    /// `start_sample` on the timeline.
    pub fn audio(&mut self, start_sample: i64, interleaved: &[f32]) {
        if self.started.is_none() {
            self.begin(start_sample);
        }
        let channels = self.setup.channels.max(1) as usize;
        let Some(started) = &mut self.started else {
            return;
        };
        started.audio_samples += (interleaved.len() / channels) as u64;
        let mut failed = None;
        if let Some(wav) = &mut started.wav {
            for &s in interleaved {
                if let Err(e) = wav.write_sample(s) {
                    failed = Some(format!("writing {AUDIO}: {e}"));
                    break;
                }
            }
        }
        if let Some(e) = failed {
            started.wav = None;
            self.fail(e);
        }
        self.write_ready();
    }

    fn begin(&mut self, start_sample: i64) {
        let root = self.setup.root.clone();
        let dir = match new_bounce_dir(&root) {
            Ok(dir) => dir,
            Err(e) => {
                // Keep counting audio so the frame rule still holds; write nothing.
                self.started = Some(Started {
                    dir: PathBuf::new(),
                    start_sample,
                    audio_samples: 0,
                    wav: None,
                });
                self.fail(format!("cannot create a folder in {}: {e}", root.display()));
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
            start_sample,
            audio_samples: 0,
            wav: None,
        });
        match wav {
            Ok(w) => self.started.as_mut().unwrap().wav = Some(w),
            Err(e) => self.fail(format!("creating {AUDIO}: {e}")),
        }
        self.write_manifest(false, None);
    }

    /// A frame the worker made (or failed to make) for `packet`.
    pub fn frame(&mut self, packet: &FramePacket, generated: Option<&Frame>) {
        let Some(image) = generated else {
            self.missing_frames += 1;
            return;
        };
        let amount = if self.smoothing_primed {
            self.params.smoothing
        } else {
            0.0
        };
        smooth_into(&mut self.shown, image, amount);
        self.smoothing_primed = true;
        self.held.push_back(Held {
            frame: packet.frame,
            sample: packet.timeline_sample,
            next_sample: packet.next_timeline_sample,
            shown: self.shown.clone(),
        });
        self.write_ready();
    }

    /// Write the held frames whose display interval the bounced audio covers.
    fn write_ready(&mut self) {
        let Some(started) = &self.started else {
            return;
        };
        let (dir, start) = (started.dir.clone(), started.start_sample);
        let bounced_to = start + started.audio_samples as i64;
        while self
            .held
            .front()
            .is_some_and(|h| h.next_sample <= bounced_to)
        {
            let held = self.held.pop_front().unwrap();
            if held.sample < start {
                continue;
            }
            let file = format!("frame-{:06}.png", self.frames.len());
            if self.error.is_none() {
                let path = dir.join(&file);
                if let Err(e) = std::fs::write(&path, held.shown.to_png()) {
                    self.fail(format!("writing {}: {e}", path.display()));
                }
            }
            self.frames.push(FrameEntry {
                file,
                frame: held.frame,
                sample: held.sample,
            });
        }
    }

    /// The bounce ended: close the audio, drop frames past its end, mux the video and
    /// mark the manifest complete (or say why it is not).
    pub fn finish(&mut self) -> Option<PathBuf> {
        self.write_ready();
        self.held.clear();
        let started = self.started.as_mut()?;
        let (wav, dir) = (started.wav.take(), started.dir.clone());
        if let Some(Err(e)) = wav.map(hound::WavWriter::finalize) {
            self.fail(format!("finishing {AUDIO}: {e}"));
        }
        if self.error.is_some() {
            if !dir.as_os_str().is_empty() {
                self.write_manifest(false, None);
            }
            return None;
        }
        let video = match self.mux(&dir) {
            Ok(v) => v,
            Err(e) => {
                nice_plug::nice_log!("bounce export: no video: {e}");
                None
            }
        };
        let complete = self.missing_frames == 0;
        self.write_manifest(complete, video);
        Some(dir)
    }

    fn write_manifest(&mut self, complete: bool, video: Option<&'static str>) {
        let Some(started) = &self.started else {
            return;
        };
        let manifest = Manifest {
            mvgen_version: env!("CARGO_PKG_VERSION"),
            complete,
            error: self.error.as_deref(),
            fps: self.params.fps,
            sample_rate_hz: self.setup.rate_hz,
            channels: self.setup.channels,
            start_sample: started.start_sample,
            audio_samples: started.audio_samples,
            audio: AUDIO,
            video,
            model: self.model.as_ref(),
            provider: self.provider.clone(),
            params: &self.params,
            missing_frames: self.missing_frames,
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
        let (Some(first), Some(started)) = (self.frames.first(), &self.started) else {
            return Ok(None);
        };
        if std::process::Command::new("ffmpeg")
            .arg("-version")
            .output()
            .is_err()
        {
            return Ok(None);
        }
        // The first frame may sit after the bounce's first sample (a mid-song start).
        let offset = (first.sample - started.start_sample) as f64 / self.setup.rate_hz as f64;
        let out = std::process::Command::new("ffmpeg")
            .current_dir(dir)
            .args(["-y", "-loglevel", "error", "-framerate"])
            .arg(self.params.fps.to_string())
            .args(["-itsoffset", &format!("{offset:.6}")])
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
            .arg(VIDEO)
            .output()?;
        if out.status.success() {
            Ok(Some(VIDEO))
        } else {
            Err(std::io::Error::other(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
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
