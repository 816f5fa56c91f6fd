//! Video and audio through the ffmpeg and ffprobe programs.
//!
//! We run the binaries rather than link libav: they are on every machine that has ffmpeg,
//! their command lines are stable across the versions Debian and others ship, no -dev
//! packages or bindgen are needed to build, and a corrupt file crashes a child process,
//! never mvgen. Seeking is done by ffmpeg (`-ss` before `-i`), so only the needed part of
//! a video is decoded.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::Path;
use std::process::{Command, Stdio};

/// What ffprobe says about a file.
#[derive(Debug, Clone)]
pub struct Probe {
    pub duration_s: f64,
    pub video: Option<VideoStream>,
    pub audio: Option<AudioStream>,
}

#[derive(Debug, Clone)]
pub struct VideoStream {
    pub width: u32,
    pub height: u32,
    /// The average frame rate.
    pub fps: f64,
    /// ffprobe's `r_frame_rate`: the lowest rate that represents every timestamp. It
    /// differs from the average for variable-frame-rate video.
    pub r_fps: f64,
}

#[derive(Debug, Clone)]
pub struct AudioStream {
    pub rate_hz: u32,
    pub channels: u32,
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<StreamJson>,
    format: Option<FormatJson>,
}

#[derive(Deserialize)]
struct StreamJson {
    codec_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    disposition: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FormatJson {
    duration: Option<String>,
}

fn ratio(s: &Option<String>) -> f64 {
    let Some(s) = s else { return 0.0 };
    match s.split_once('/') {
        Some((a, b)) => a.parse::<f64>().unwrap_or(0.0) / b.parse::<f64>().unwrap_or(1.0).max(1e-9),
        None => s.parse().unwrap_or(0.0),
    }
}

pub fn probe(path: &Path) -> anyhow::Result<Probe> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .context("running ffprobe (install ffmpeg)")?;
    if !out.status.success() {
        bail!(
            "not a media file ffmpeg can read: {}",
            first_line(&out.stderr)
        );
    }
    let json: ProbeJson =
        serde_json::from_slice(&out.stdout).context("parsing ffprobe's output")?;
    let is_picture = |s: &StreamJson| {
        s.disposition
            .as_ref()
            .and_then(|d| d.get("attached_pic"))
            .and_then(|v| v.as_i64())
            == Some(1)
    };
    let video = json
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && !is_picture(s))
        .map(|s| VideoStream {
            width: s.width.unwrap_or(0),
            height: s.height.unwrap_or(0),
            fps: ratio(&s.avg_frame_rate),
            r_fps: ratio(&s.r_frame_rate),
        });
    let audio = json
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| AudioStream {
            rate_hz: s
                .sample_rate
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            channels: s.channels.unwrap_or(0),
        });
    let duration_s = json
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    Ok(Probe {
        duration_s,
        video,
        audio,
    })
}

/// The first audio stream from the start to `end_s`, mixed down to mono (the mean of the
/// channels) at its own rate.
pub fn decode_audio_mono(path: &Path, audio: &AudioStream, end_s: f64) -> anyhow::Result<Vec<f32>> {
    let end = format!("{end_s}");
    let stdout = ffmpeg_stdout(
        "audio",
        &[
            "-i".as_ref(),
            path.as_os_str(),
            "-t".as_ref(),
            end.as_ref(),
            "-map".as_ref(),
            "0:a:0".as_ref(),
            "-f".as_ref(),
            "f32le".as_ref(),
            "-acodec".as_ref(),
            "pcm_f32le".as_ref(),
            "-".as_ref(),
        ],
    )?;
    let channels = audio.channels.max(1) as usize;
    let samples: Vec<f32> = stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let scale = 1.0 / channels as f32;
    Ok(samples
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() * scale)
        .collect())
}

/// How a frame becomes 256x256.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum Fit {
    /// Squash the whole frame, as the paper did.
    Squash,
    /// Scale to cover, then crop the centre.
    Crop,
}

/// Decode `count` frames, every `every`-th one starting at `start_s` (the first frame at
/// or after it), scaled to `size`x`size`, as RGB24.
pub fn decode_frames(
    path: &Path,
    start_s: f64,
    count: usize,
    every: usize,
    size: u32,
    fit: Fit,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let scale = match fit {
        Fit::Squash => format!("scale={size}:{size}:flags=area"),
        Fit::Crop => format!("scale={size}:{size}:force_original_aspect_ratio=increase:flags=area,crop={size}:{size}"),
    };
    let filter = format!("select='not(mod(n\\,{every}))',{scale}");
    let (start, count) = (format!("{start_s}"), count.to_string());
    let args: [&std::ffi::OsStr; 16] = [
        "-ss".as_ref(),
        start.as_ref(),
        "-i".as_ref(),
        path.as_os_str(),
        "-an".as_ref(),
        "-vf".as_ref(),
        filter.as_ref(),
        "-frames:v".as_ref(),
        count.as_ref(),
        "-fps_mode".as_ref(),
        "passthrough".as_ref(),
        "-f".as_ref(),
        "rawvideo".as_ref(),
        "-pix_fmt".as_ref(),
        "rgb24".as_ref(),
        "-".as_ref(),
    ];
    let stdout = ffmpeg_stdout("video", &args)?;
    let frame_bytes = (size * size * 3) as usize;
    Ok(stdout
        .chunks_exact(frame_bytes)
        .map(<[u8]>::to_vec)
        .collect())
}

/// Run ffmpeg quietly and return what it wrote to stdout; on failure, its first error
/// line, saying which part (`what`) could not be decoded.
fn ffmpeg_stdout(what: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .context("running ffmpeg (install ffmpeg)")?;
    if !out.status.success() {
        bail!("{what} could not be decoded: {}", first_line(&out.stderr));
    }
    Ok(out.stdout)
}

/// The first line a tool wrote to stderr: what ffmpeg and ffprobe say went wrong.
fn first_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}
