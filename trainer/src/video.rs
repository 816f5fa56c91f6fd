//! `mvgen video`: a bounce folder's frames and audio into a video in any format, any time
//! after the bounce (the folder is only read). And the one place the command line turns
//! `--size`, `--aspect`, `--fill` and `--enhancer` into a format and an upscaler, for
//! `mvgen render` too.

use crate::cli::{FormatArgs, VideoArgs};
use anyhow::Context;
use mvgen_runtime::{Enhancer, RuntimeConfig};
use mvgen_video::bounce::Manifest;
use mvgen_video::{Format, Upscaler};
use std::path::Path;

/// The format the options ask for.
pub fn format(a: &FormatArgs) -> anyhow::Result<Format> {
    Ok(Format::parse(&a.size, &a.aspect, &a.fill)?)
}

/// What enlarges the frames of `generator`'s video: `--enhancer`, else the enhancer that
/// goes with the generator, else (or with `--no-enhancer`) a Lanczos filter. Not loaded
/// when the video's picture is no bigger than the generator's square.
pub fn upscaler(
    a: &FormatArgs,
    generator: Option<&Path>,
    format: &Format,
    config: &RuntimeConfig,
) -> anyhow::Result<Upscaler> {
    if a.no_enhancer || format.picture_side() <= mvgen_core::spectrogram::SIZE as u32 {
        return Ok(Upscaler::Lanczos);
    }
    let path = a
        .enhancer
        .clone()
        .or_else(|| generator.and_then(mvgen_video::enhancer_for));
    match path {
        Some(path) => {
            let enhancer = Enhancer::load(&path, config)
                .with_context(|| format!("the enhancer {}", path.display()))?;
            Ok(Upscaler::Enhancer(Box::new(enhancer)))
        }
        None => Ok(Upscaler::Lanczos),
    }
}

/// `mvgen video`.
pub fn run(a: &VideoArgs) -> anyhow::Result<()> {
    let manifest = Manifest::read(&a.bounce)?;
    let format = format(&a.format)?;
    mvgen_video::encode::ffmpeg_is_there()?;
    let config = RuntimeConfig {
        execution: a.execution.into(),
        cpu_threads: a.threads,
    };
    let generator = manifest.model.as_ref().map(|m| m.path.as_path());
    let upscaler = upscaler(&a.format, generator, &format, &config)?;
    if !manifest.missing_frames.is_empty() {
        eprintln!(
            "the bounce is missing frames {} (their files repeat the frame before, so the \
             video keeps its time)",
            manifest.missing_ranges()
        );
    }
    let made =
        mvgen_video::encode_bounce(&a.bounce, &manifest, &a.output, format, upscaler, false)?;
    eprintln!(
        "{} frames at {} fps, {} -> {}; enlarged by {}",
        made.frames,
        manifest.fps,
        made.format,
        made.path.display(),
        made.upscaled_by
    );
    Ok(())
}
