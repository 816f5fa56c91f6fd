//! A bounce folder, as the plugin writes it and `mvgen video` reads it: the one definition
//! of `manifest.json`.
//!
//! `<export folder>/bounce-NNNN/` holds `frame-NNNNNN.png` (256x256, one per frame of the
//! range, in time order; a frame that could not be made repeats the one before and is
//! listed as missing), `audio.wav` (the audio under exactly those frames), `manifest.json`
//! ([`Manifest`]) and, once encoded, `bounce.mp4`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";
pub const AUDIO: &str = "audio.wav";
pub const VIDEO: &str = "bounce.mp4";

/// One frame of the bounce.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrameEntry {
    pub file: String,
    /// Frame index on the host timeline (frame 0 is at sample 0).
    pub frame: i64,
    /// The timeline sample the frame is at.
    pub sample: i64,
    /// The frame could not be made; the file repeats the frame before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// A frame that could not be made, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MissingFrame {
    pub frame: i64,
    pub sample: i64,
    pub why: String,
}

/// Audio that never reached the worker, padded with silence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AudioGap {
    /// The timeline sample where it starts.
    pub sample: i64,
    /// Its length in samples (per channel).
    pub samples: u64,
}

/// The model that made frames.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    pub name: String,
    pub path: PathBuf,
    /// SHA-256 of the bytes that were loaded.
    pub sha256: String,
    pub ngf: Option<u32>,
    pub epochs: Option<u32>,
    pub dataset: Option<String>,
}

/// The model changed during the bounce: from this frame on, this model made the frames.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelChange {
    pub from_frame: i64,
    pub model: ModelEntry,
}

/// The parameters of the bounce's first frame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BounceParams {
    pub fps: u32,
    pub input_gain_db: f32,
    pub smoothing: f32,
    pub execution: String,
}

/// An automated parameter changed at this frame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParamChange {
    pub frame: i64,
    pub input_gain_db: f32,
    pub smoothing: f32,
}

/// How the bounce's video was made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VideoEntry {
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub fill: String,
    /// How the frames were enlarged: the enhancer (named), or a classical filter.
    pub upscaled_by: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub mvgen_version: String,
    /// The instance that bounced: the host's track name, or "MVGen N".
    pub instance: String,
    /// The host's render this bounce is part of: bounces cut from one render (by a jump
    /// on its timeline) share it.
    pub render_id: String,
    /// Why the bounce ended.
    pub ended_by: Option<String>,
    /// Every frame of the range was generated, all its audio arrived, everything was
    /// written.
    pub complete: bool,
    /// Writing the bounce is over (false while it is still being written or encoded).
    pub finished: bool,
    pub error: Option<String>,
    /// Why the bounce is incomplete, in plain words.
    pub problems: Vec<String>,
    /// How the plugin knew the host was rendering.
    pub render_detected_by: String,
    pub fps: u32,
    pub sample_rate_hz: u32,
    pub channels: u16,
    /// The timeline sample of `audio.wav`'s first sample: the first frame's.
    pub start_sample: i64,
    /// Audio samples per channel in `audio.wav`.
    pub audio_samples: u64,
    pub audio: String,
    pub video: Option<VideoEntry>,
    pub model: Option<ModelEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_changes: Vec<ModelChange>,
    pub provider: Option<String>,
    pub params: BounceParams,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_changes: Vec<ParamChange>,
    pub missing_frames: Vec<MissingFrame>,
    #[serde(default)]
    pub audio_gaps: Vec<AudioGap>,
    pub frames: Vec<FrameEntry>,
}

/// Why a folder cannot be read as a bounce.
#[derive(Debug, thiserror::Error)]
pub enum BounceError {
    #[error("{0} is not a bounce folder: it has no {MANIFEST}")]
    NotABounce(PathBuf),
    #[error("{path}: {why}")]
    Unreadable { path: PathBuf, why: String },
    #[error("{0} has no frames")]
    NoFrames(PathBuf),
}

impl Manifest {
    /// Read `dir/manifest.json` and check that its frames and audio are there.
    pub fn read(dir: &Path) -> Result<Self, BounceError> {
        let path = dir.join(MANIFEST);
        if !dir.is_dir() || !path.is_file() {
            return Err(BounceError::NotABounce(dir.to_path_buf()));
        }
        let unreadable = |why: String| BounceError::Unreadable {
            path: path.clone(),
            why,
        };
        let text = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| unreadable(format!("not a bounce manifest: {e}")))?;
        if manifest.frames.is_empty() {
            return Err(BounceError::NoFrames(dir.to_path_buf()));
        }
        for file in manifest
            .frames
            .iter()
            .map(|f| f.file.as_str())
            .chain([manifest.audio.as_str()])
        {
            if !dir.join(file).is_file() {
                return Err(BounceError::Unreadable {
                    path: dir.join(file),
                    why: "listed in the manifest but missing".into(),
                });
            }
        }
        Ok(manifest)
    }

    /// The frames the generator could not make, as ranges for people: "12-40, 57".
    pub fn missing_ranges(&self) -> String {
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for f in &self.missing_frames {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == f.frame => *end = f.frame,
                _ => ranges.push((f.frame, f.frame)),
            }
        }
        ranges
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
