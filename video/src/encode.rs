//! Square frames in, a video file out: ffmpeg composes each square picture into the
//! [`Format`]'s frame (scaled with a Lanczos filter, filled as asked), encodes H.264
//! yuv420p at the format's bitrate with the audio as AAC, and moves the `moov` atom to the
//! front (`+faststart`) so a player or a platform starts it before it has all of it.
//!
//! ffmpeg runs as a child process, fed raw RGB through a pipe while the frames are being
//! made: no libav to link, the same command lines on every ffmpeg since 5, and a crash
//! in a codec is a child's, not ours. The file is written under a temporary name and
//! renamed when whole, so a killed encode never leaves a broken video behind.

use crate::format::{Fill, Format, AUDIO_KBPS};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A bounce's `audio.wav` is what the host played, NaN and infinities included (the
/// plugin passes them through untouched). AAC refuses them, so they are silence in the
/// video.
const AUDIO_FILTER: &str = "aeval=exprs='if(isnan(val(ch))+isinf(val(ch)),0,val(ch))':c=same";

/// Why a video could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("ffmpeg is not installed (or not on PATH): mvgen makes videos with it")]
    NoFfmpeg,
    #[error("could not run ffmpeg: {0}")]
    Spawn(std::io::Error),
    #[error("ffmpeg could not write {path}: {why}")]
    Ffmpeg { path: PathBuf, why: String },
    #[error("{0}")]
    Other(String),
}

/// ffmpeg can be run: check before work that needs it.
pub fn ffmpeg_is_there() -> Result<(), VideoError> {
    match Command::new("ffmpeg").arg("-version").output() {
        Ok(_) => Ok(()),
        Err(_) => Err(VideoError::NoFfmpeg),
    }
}

/// How the encode runs.
#[derive(Debug, Clone)]
pub struct EncodeSettings {
    pub format: Format,
    /// Frames per second, as the frames were made (24 to 60).
    pub fps: u32,
    /// The side of the square frames pushed: 256 as generated, 1024 enhanced.
    pub input_side: u32,
    /// The audio to mux, if any; the video ends with its frames.
    pub audio: Option<PathBuf>,
    /// Run ffmpeg at a low priority (`nice` 10): a plugin encoding beside a DAW.
    pub low_priority: bool,
}

/// An encode in progress.
pub struct VideoWriter {
    child: Child,
    stdin: Option<ChildStdin>,
    output: PathBuf,
    part: PathBuf,
    frame_bytes: usize,
}

impl VideoWriter {
    /// Start ffmpeg writing `output` (under a temporary name until [`Self::finish`]).
    pub fn create(output: &Path, settings: &EncodeSettings) -> Result<Self, VideoError> {
        ffmpeg_is_there()?;
        let part = part_name(output);
        let format = settings.format;
        let side = settings.input_side;
        let kbps = format.video_kbps(settings.fps);
        let mut command = Command::new("ffmpeg");
        command
            .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{side}x{side}")])
            .args(["-framerate", &settings.fps.to_string(), "-i", "-"]);
        if let Some(audio) = &settings.audio {
            command.arg("-i").arg(audio);
        }
        command
            .args(["-filter_complex", &compose(&format, side)])
            .args(["-map", "[v]"]);
        if settings.audio.is_some() {
            command
                .args(["-map", "1:a", "-af", AUDIO_FILTER])
                .args(["-c:a", "aac", "-b:a", &format!("{AUDIO_KBPS}k")])
                // Stereo at 48 kHz, every platform's: mono is spread to both sides,
                // more channels are mixed down, and AAC stops at 96 kHz anyway.
                .args(["-ac", "2", "-ar", "48000", "-shortest"]);
        }
        command
            .args([
                "-c:v",
                "libx264",
                "-preset",
                X264_PRESET,
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-b:v", &format!("{kbps}k")])
            .args(["-maxrate", &format!("{}k", kbps * 3 / 2)])
            .args(["-bufsize", &format!("{}k", kbps * 2)])
            .args(["-g", &(2 * settings.fps).to_string()])
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(&part)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if settings.low_priority {
            low_priority(&mut command);
        }
        let mut child = command.spawn().map_err(VideoError::Spawn)?;
        let stdin = child.stdin.take();
        Ok(Self {
            child,
            stdin,
            output: output.to_path_buf(),
            part,
            frame_bytes: (side * side * 3) as usize,
        })
    }

    /// One square frame, interleaved RGB at the input side.
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), VideoError> {
        if rgb.len() != self.frame_bytes {
            return Err(VideoError::Other(format!(
                "a frame of {} bytes where {} were expected",
                rgb.len(),
                self.frame_bytes
            )));
        }
        let written = self.stdin.as_mut().map_or(Ok(()), |s| s.write_all(rgb));
        if written.is_err() {
            // ffmpeg stopped reading: it failed, and says why when it is waited for.
            return Err(self.failure());
        }
        Ok(())
    }

    /// Finish the encode and put the file in place.
    pub fn finish(mut self) -> Result<PathBuf, VideoError> {
        drop(self.stdin.take());
        let why = self.stderr();
        let status = self
            .child
            .wait()
            .map_err(|e| VideoError::Other(format!("waiting for ffmpeg: {e}")))?;
        if !status.success() {
            let _ = std::fs::remove_file(&self.part);
            return Err(VideoError::Ffmpeg {
                path: self.output.clone(),
                why,
            });
        }
        std::fs::rename(&self.part, &self.output).map_err(|e| VideoError::Ffmpeg {
            path: self.output.clone(),
            why: e.to_string(),
        })?;
        Ok(self.output.clone())
    }

    /// ffmpeg's own account of why it stopped.
    fn failure(&mut self) -> VideoError {
        drop(self.stdin.take());
        let why = self.stderr();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.part);
        VideoError::Ffmpeg {
            path: self.output.clone(),
            why,
        }
    }

    /// What ffmpeg said, once its input is closed.
    fn stderr(&mut self) -> String {
        let mut why = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut why);
        }
        why.trim().to_string()
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // Abandoned: stop ffmpeg and leave no partial file.
        if self.stdin.take().is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

/// `out.mp4` is written as `out.part.mp4`.
fn part_name(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}.part.mp4"))
}

#[cfg(unix)]
fn low_priority(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setpriority is async-signal-safe; it only lowers the child's own priority.
    unsafe {
        command.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn low_priority(_command: &mut Command) {}

/// The filter graph that puts a `side`x`side` picture into `format`'s frame, as `[v]`.
///
/// The picture is scaled and converted to yuv420p first, in one swscale pass, and
/// everything after works on planar YUV: half the bytes of packed RGB, and the fastest
/// paths in ffmpeg's filters (this halved the filter's time at 1080p, BENCHMARKS.md).
pub fn compose(format: &Format, side: u32) -> String {
    let (w, h) = (format.width(), format.height());
    let q = format.picture_side();
    let fit = |to: u32, pix: &str| {
        if to == side {
            format!("format={pix}")
        } else {
            format!("scale={to}:{to}:flags=lanczos,format={pix}")
        }
    };
    if w == h {
        return format!("[0:v]{},setsar=1[v]", fit(w, "yuv420p"));
    }
    // Where the picture sits, for the fills that show all of it (crop's is bigger).
    let at = || ((w - q) / 2, (h - q) / 2);
    match format.fill() {
        Fill::Black => {
            let (x, y) = at();
            format!(
                "[0:v]{},pad={w}:{h}:{x}:{y}:color=black,setsar=1[v]",
                fit(q, "yuv420p")
            )
        }
        Fill::Crop => format!("[0:v]{},crop={w}:{h},setsar=1[v]", fit(q, "yuv420p")),
        Fill::Blur => {
            // The background from the fitted picture at an eighth of the frame's size:
            // zoomed, blurred and darkened there (darkening in YUV: luma towards black,
            // chroma towards grey), then scaled up, which keeps it cheap at any size.
            let (x, y) = at();
            let long = w.max(h);
            let (bw, bh, bl) = (even(w / 8), even(h / 8), even(long / 8));
            let dim = |base: u32| format!("{base}+(val-{base})*{BACKGROUND_LEVEL}");
            format!(
                "[0:v]{},split=2[front][bg];\
                 [bg]scale={bl}:{bl}:flags=bilinear,crop={bw}:{bh},boxblur=6:2,\
                 lutyuv=y={}:u={}:v={},scale={w}:{h}:flags=bilinear[back];\
                 [back][front]overlay={x}:{y}:format=yuv420,setsar=1[v]",
                fit(q, "yuv420p"),
                dim(16),
                dim(128),
                dim(128),
            )
        }
        Fill::Mirror => {
            // Stacked in yuv444p: the bands can be an odd number of pixels (4:5 at
            // 1080p has 135), which 4:2:0 chroma cannot cut. The square loses `inset`
            // pixels at the two edges it is reflected about, and each band gains them.
            let inset = (q as f32 * crate::format::MIRROR_INSET).ceil() as u32;
            let band = (w.max(h) - q) / 2 + inset;
            let middle = q - 2 * inset;
            // Width:height:x:y of a cut along the stacking axis, at `from`.
            let along = |length: u32, from: u32| {
                if w > h {
                    format!("{length}:{q}:{from}:0")
                } else {
                    format!("{q}:{length}:0:{from}")
                }
            };
            let (flip, stack) = if w > h {
                ("hflip", "hstack")
            } else {
                ("vflip", "vstack")
            };
            format!(
                "[0:v]{},split=3[c][a][b];[c]crop={}[cc];[a]crop={},{flip}[af];\
                 [b]crop={},{flip}[bf];[af][cc][bf]{stack}=inputs=3,format=yuv420p,setsar=1[v]",
                fit(q, "yuv444p"),
                along(middle, inset),
                along(band, inset),
                along(band, q - inset - band),
            )
        }
    }
}

/// x264's speed. At the bitrates the formats give (8 Mb/s for 1080p30), `ultrafast`
/// keeps 48 dB PSNR against the unencoded frames (`veryfast` 52 dB) at a fifth of
/// `veryfast`'s CPU time, which is what lets `mvgen render` keep up with the song at
/// 1080p on 2 cores (BENCHMARKS.md).
const X264_PRESET: &str = "ultrafast";

/// How bright the blurred background is, against the picture.
pub const BACKGROUND_LEVEL: f32 = 0.55;

fn even(n: u32) -> u32 {
    (n / 2 * 2).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the host played, mono or many channels, NaN or infinite samples, the
    /// video gets its audio: stereo, finite, and as loud as the finite samples.
    #[test]
    fn any_channel_count_and_bad_samples_make_stereo_audio() {
        let dir = std::env::temp_dir().join(format!("mvgen-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for channels in [1u16, 2, 6] {
            let wav = dir.join(format!("{channels}.wav"));
            let spec = hound::WavSpec {
                channels,
                sample_rate: 44100,
                bits_per_sample: 32,
                sample_format: hound::SampleFormat::Float,
            };
            let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
            for i in 0..44100 {
                for c in 0..channels {
                    let s = match i % 7 {
                        0 if c == 0 => f32::NAN,
                        1 => f32::INFINITY,
                        _ => 0.5 * (i as f32 * 0.06).sin(),
                    };
                    writer.write_sample(s).unwrap();
                }
            }
            writer.finalize().unwrap();
            let output = dir.join(format!("{channels}.mp4"));
            let settings = EncodeSettings {
                format: Format::parse("256", "1:1", "black").unwrap(),
                fps: 30,
                input_side: 256,
                audio: Some(wav),
                low_priority: false,
            };
            let mut writer = VideoWriter::create(&output, &settings).unwrap();
            for _ in 0..30 {
                writer.push(&vec![90u8; 256 * 256 * 3]).unwrap();
            }
            writer
                .finish()
                .unwrap_or_else(|e| panic!("{channels} channels: {e}"));
            let decoded = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&output)
                .args(["-map", "0:a", "-f", "f32le", "-"])
                .output()
                .unwrap();
            assert!(
                decoded.status.success(),
                "{channels} channels: not decodable"
            );
            let samples: Vec<f32> = decoded
                .stdout
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert!(samples.iter().all(|s| s.is_finite()), "{channels} channels");
            let (left, right): (Vec<f32>, Vec<f32>) =
                samples.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
            let rms = |x: &[f32]| (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt();
            for (side, rms) in [("left", rms(&left)), ("right", rms(&right))] {
                assert!(
                    rms > 0.1,
                    "{channels} channels: the {side} side is silent ({rms})"
                );
            }
            let probe = Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "a"])
                .args(["-show_entries", "stream=channels", "-of", "csv=p=0"])
                .arg(&output)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "2");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The mirror fill reflects the square about lines two generator pixels inside the
    /// edges it meets the bands at (6 pixels at 720), and leaves those pixels out: a
    /// picture whose neighbouring rows all differ shows where each row landed.
    #[test]
    fn the_mirror_fill_reflects_inside_the_edges() {
        let format = Format::parse("720p", "9:16", "mirror").unwrap();
        let (w, h, q) = (720usize, 1280usize, 720usize);
        let level = |row: usize| (row * 37 % 256) as u8;
        let picture: Vec<u8> = (0..q * q).flat_map(|i| [level(i / q); 3]).collect();
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{q}x{q}"), "-i", "-"])
            .args([
                "-filter_complex",
                &compose(&format, q as u32),
                "-map",
                "[v]",
            ])
            .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg (a test dependency)");
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || stdin.write_all(&picture));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), w * h);
        let row = |y: usize| out.stdout[y * w + w / 2];
        // The top band is 280 + 6 rows; the square shows its rows 6..714 below it.
        let (band, inset) = (286, 6);
        // The band's last row and the square's first shown row are both row 6.
        assert_eq!(row(band - 1), row(band));
        // The band's first row is the picture's row 291, shown in the square too.
        assert_eq!(row(0), row(band + 291 - inset));
        // Reflected: the band's row above it is row 7, as the square's second row.
        assert_eq!(row(band - 2), row(band + 1));
        assert_ne!(row(band - 2), row(band - 1));
        // The bottom band mirrors row 713 first.
        let bottom = h - band;
        assert_eq!(row(bottom - 1), row(bottom));
        assert_eq!(row(h - 1), row(band + (q - inset - band) - inset));
    }

    /// Every aspect with every fill, at 1080p (4:5 has odd bands there), from the
    /// generator's side and from the enhancer's: ffmpeg takes the graph and makes frames
    /// of the format's size.
    #[test]
    fn every_shape_and_fill_composes_to_its_size() {
        for aspect in ["16:9", "9:16", "1:1", "4:5"] {
            for fill in ["blur", "mirror", "crop", "black"] {
                let format = Format::parse("1080p", aspect, fill).unwrap();
                for side in [256u32, 1024] {
                    let mut child = Command::new("ffmpeg")
                        .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"])
                        .args(["-s", &format!("{side}x{side}"), "-i", "-"])
                        .args(["-filter_complex", &compose(&format, side), "-map", "[v]"])
                        .args(["-f", "rawvideo", "-"])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("ffmpeg (a test dependency)");
                    let frames = vec![128u8; (2 * side * side * 3) as usize];
                    let mut stdin = child.stdin.take().unwrap();
                    let feeder = std::thread::spawn(move || stdin.write_all(&frames));
                    let out = child.wait_with_output().unwrap();
                    feeder.join().unwrap().unwrap();
                    let case = format!("{format} from {side}");
                    assert!(
                        out.status.success(),
                        "{case}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let (w, h) = (format.width() as usize, format.height() as usize);
                    assert_eq!(
                        out.stdout.len(),
                        2 * w * h * 3 / 2,
                        "{case}: two yuv420p frames"
                    );
                }
            }
        }
    }
}
