//! mvgen's one way to make a video file from 256x256 frames and audio, for its three
//! callers: `mvgen render` (frames as they are generated), the plugin's bounce finisher
//! and `mvgen video` (a bounce folder's frames, any time later).
//!
//! - [`format`]: the frame's size and shape and how the square picture fills it
//!   (`--size`, `--aspect`, `--fill`), and the bitrate that suits them;
//! - [`Upscaler`]: how the 256 picture gets bigger: the look's enhancer (a learned 4x
//!   upscaler, run by ONNX Runtime) or, without one, a Lanczos filter;
//! - [`encode`]: ffmpeg composing, scaling and encoding (H.264 yuv420p, AAC, faststart);
//! - [`bounce`]: the bounce folder's manifest, and [`encode_bounce`].
//!
//! Never used on an audio thread: it runs models, spawns ffmpeg and writes files.

pub mod bounce;
pub mod encode;
pub mod format;

pub use encode::{EncodeSettings, VideoError, VideoWriter};
pub use format::{Aspect, Fill, Format, FormatError, Size};

use mvgen_core::model::ENHANCED_SIDE;
use mvgen_core::spectrogram::SIZE;
use mvgen_core::Frame;
use mvgen_runtime::{Enhanced, Enhancer};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// The enhancer that goes with the generator at `generator` (the one definition is the
/// look's: `mvgen_look::enhancer_for`).
pub use mvgen_look::enhancer_for;

/// How frames are enlarged for a frame bigger than the generator's square.
pub enum Upscaler {
    /// The look's enhancer: 256 to 1024, then filtered to the size.
    Enhancer(Box<Enhancer>),
    /// No enhancer: a Lanczos filter from 256 to the size.
    Lanczos,
}

impl Upscaler {
    /// What it is, for people and manifests.
    pub fn describe(&self) -> String {
        match self {
            Upscaler::Enhancer(e) => format!(
                "the enhancer {} on {} (then Lanczos)",
                e.info().display_name(),
                e.provider()
            ),
            Upscaler::Lanczos => "a Lanczos filter (no enhancer)".into(),
        }
    }
}

/// What an encode made.
#[derive(Debug, Clone)]
pub struct Made {
    pub path: PathBuf,
    pub frames: u64,
    pub format: Format,
    /// [`Upscaler::describe`] of what enlarged the frames, or that none was needed.
    pub upscaled_by: String,
}

/// A video being made from 256x256 frames: each is enlarged (enhanced, when the picture
/// is bigger than 256 and there is an enhancer) and handed to ffmpeg.
///
/// The enlarging and the hand-over run on a thread of their own, a few frames behind
/// [`Self::push`], so that the caller makes the next frame (the generator, or a PNG read)
/// while this one is enhanced and encoded.
pub struct Video {
    frames: Option<SyncSender<Frame>>,
    enlarger: Option<JoinHandle<Result<VideoWriter, VideoError>>>,
    upscaled_by: String,
    format: Format,
    pushed: u64,
}

/// Frames on their way to the enlarger: enough to ride out an uneven frame, few enough
/// (0.8 MB each) not to matter.
const FRAMES_IN_FLIGHT: usize = 4;

impl Video {
    /// Start `output` in `format` at `fps`, with `audio` (the video ends with its last
    /// frame), enlarging frames with `upscaler`.
    pub fn create(
        output: &Path,
        format: Format,
        fps: u32,
        audio: Option<&Path>,
        upscaler: Upscaler,
        low_priority: bool,
    ) -> Result<Self, VideoError> {
        let said = upscaler.describe();
        let (enhancer, upscaled_by) = match upscaler {
            _ if format.picture_side() <= SIZE as u32 => (
                None,
                "nothing: the picture is not bigger than 256".to_string(),
            ),
            Upscaler::Enhancer(e) => (Some(e), said),
            Upscaler::Lanczos => (None, said),
        };
        let input_side = if enhancer.is_some() {
            ENHANCED_SIDE
        } else {
            SIZE
        } as u32;
        let writer = VideoWriter::create(
            output,
            &EncodeSettings {
                format,
                fps,
                input_side,
                audio: audio.map(Path::to_path_buf),
                low_priority,
            },
        )?;
        let (frames, inbox) = sync_channel(FRAMES_IN_FLIGHT);
        let enlarger = std::thread::Builder::new()
            .name("mvgen-video".into())
            .spawn(move || {
                if low_priority {
                    lower_this_threads_priority();
                }
                enlarge(inbox, enhancer, writer)
            })
            .map_err(|e| VideoError::Other(format!("starting the video thread: {e}")))?;
        Ok(Self {
            frames: Some(frames),
            enlarger: Some(enlarger),
            upscaled_by,
            format,
            pushed: 0,
        })
    }

    /// The next frame.
    pub fn push(&mut self, frame: &Frame) -> Result<(), VideoError> {
        let sent = self.frames.as_ref().map(|f| f.send(frame.clone()));
        if !matches!(sent, Some(Ok(()))) {
            // The enlarger stopped: it says why.
            return Err(self
                .stop()
                .err()
                .unwrap_or_else(|| VideoError::Other("the video thread stopped early".into())));
        }
        self.pushed += 1;
        Ok(())
    }

    /// Finish the file.
    pub fn finish(mut self) -> Result<Made, VideoError> {
        let path = self.stop()?.finish()?;
        Ok(Made {
            path,
            frames: self.pushed,
            format: self.format,
            upscaled_by: std::mem::take(&mut self.upscaled_by),
        })
    }

    /// Close the frames' way in and wait for the enlarger to hand everything on.
    fn stop(&mut self) -> Result<VideoWriter, VideoError> {
        drop(self.frames.take());
        match self.enlarger.take().map(JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) => Err(VideoError::Other("the video thread panicked".into())),
            None => Err(VideoError::Other("the video was already finished".into())),
        }
    }
}

impl Drop for Video {
    fn drop(&mut self) {
        // Abandoned: the writer, dropped with the thread's result, stops ffmpeg and
        // leaves no partial file.
        if self.enlarger.is_some() {
            let _ = self.stop();
        }
    }
}

/// The enlarger's loop: each frame is taken as its 8-bit PNG keeps it, so that a
/// bounce's video made from its PNGs and `mvgen render`'s made as it generates are the
/// same; then enhanced, if there is an enhancer, and written.
fn enlarge(
    inbox: Receiver<Frame>,
    mut enhancer: Option<Box<Enhancer>>,
    mut writer: VideoWriter,
) -> Result<VideoWriter, VideoError> {
    let (mut rgb, mut enhanced) = (Vec::new(), Enhanced::default());
    for frame in inbox {
        mvgen_core::frame::planes_to_rgb8(frame.planes(), &mut rgb);
        if let Some(enhancer) = &mut enhancer {
            let levels = Frame::from_rgb8(&rgb).expect("a frame's own levels");
            enhancer
                .run(&levels, &mut enhanced)
                .map_err(|e| VideoError::Other(format!("the enhancer failed: {e}")))?;
            enhanced.to_rgb8_into(&mut rgb);
        }
        writer.push(&rgb)?;
    }
    Ok(writer)
}

/// Encode the bounce in `dir` (its manifest already read) into `output` in `format`: its
/// frames in order, missing ones as the repeats the folder holds, so the video keeps the
/// audio's time. What `mvgen video` and the plugin's finisher both do.
pub fn encode_bounce(
    dir: &Path,
    manifest: &bounce::Manifest,
    output: &Path,
    format: Format,
    upscaler: Upscaler,
    low_priority: bool,
) -> Result<Made, VideoError> {
    let audio = dir.join(&manifest.audio);
    let mut video = Video::create(
        output,
        format,
        manifest.fps,
        Some(&audio),
        upscaler,
        low_priority,
    )?;
    for entry in &manifest.frames {
        let path = dir.join(&entry.file);
        let frame = read_frame(&path)
            .map_err(|why| VideoError::Other(format!("{}: {why}", path.display())))?;
        video.push(&frame)?;
    }
    video.finish()
}

/// A frame's PNG, as the renderer and the bounce export write them.
pub fn read_frame(path: &Path) -> Result<Frame, String> {
    let image = image::open(path).map_err(|e| e.to_string())?.to_rgb8();
    if image.dimensions() != (SIZE as u32, SIZE as u32) {
        return Err(format!(
            "a frame of {}x{}, not {SIZE}x{SIZE}",
            image.width(),
            image.height()
        ));
    }
    Ok(Frame::from_rgb8(image.as_raw()).expect("checked size"))
}

/// Lower the calling thread's scheduling priority (nice 10, Linux): a plugin finishing a
/// video beside its DAW. Threads it starts (ONNX Runtime's) inherit it.
pub fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers; this only changes
    // the calling thread's own nice value.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}
