//! `mvgen render`: a song becomes a music video, the paper's "series of images based on
//! another song".
//!
//! Frames are made exactly as the plugin makes them during a bounce from the song's
//! start: the song is pushed through the same streaming `Analyser` (mixdown, resampler,
//! column ring), frames fall on the same frame clock (frame k at sample
//! round(k * rate / fps)), and the same generator runtime and smoothing follow. Streaming
//! also makes each column once, not once per frame that sees it. ffmpeg muxes the PNG
//! frames with the song's own audio.

use crate::audio;
use crate::cli::RenderArgs;
use crate::dataset::write_atomic;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use mvgen_core::frame::smooth_into;
use mvgen_core::{Analyser, Fps, Frame, FrameClock, SpectrogramWindow, WindowError};
use mvgen_runtime::{Generator, RuntimeConfig};
use std::process::Command;

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let Some(fps) = Fps::from_per_second(args.fps) else {
        bail!("--fps must be one of 24, 25, 30, 50, 60");
    };
    let Some(model) = &args.model else {
        bail!("--model is required: mvgen has no embedded default model yet (it comes with `mvgen train`)");
    };
    let decoded = audio::decode(&args.song)?;
    let mut analyser = Analyser::new(decoded.rate_hz)
        .with_context(|| format!("analysing {} Hz audio", decoded.rate_hz))?;
    let config = RuntimeConfig {
        execution: args.execution.into(),
        cpu_threads: args.threads,
    };
    let mut generator =
        Generator::load(model, &config).with_context(|| format!("loading {}", model.display()))?;
    eprintln!(
        "{} on {}",
        generator.info().display_name(),
        generator.provider()
    );

    let frames_dir = match &args.frames_dir {
        Some(d) => d.clone(),
        None => args.output.with_extension("frames"),
    };
    std::fs::create_dir_all(&frames_dir)
        .with_context(|| format!("creating {}", frames_dir.display()))?;
    let clock = FrameClock::new(fps, decoded.rate_hz);
    let num_frames = clock.num_frames(decoded.mono.len() as i64);
    let bar = ProgressBar::new(num_frames as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} frames {elapsed_precise} (eta {eta}) {per_sec}",
        )
        .unwrap(),
    );
    let (mut window, mut generated, mut shown) = (
        SpectrogramWindow::default(),
        Frame::default(),
        Frame::default(),
    );
    let mut pushed = 0usize;
    for k in 0..num_frames {
        let end = clock.window_end(clock.frame_position(k));
        // Push audio until the window is analysed; past the song's end, silence (as a
        // host plays after the last sample of a bounce).
        while let Err(WindowError::NotReady) = analyser.copy_window(end, &mut window) {
            analyser.push(decoded.mono.get(pushed).copied().unwrap_or(0.0));
            pushed += 1;
        }
        generator
            .run(&window, &mut generated)
            .with_context(|| format!("frame {k}"))?;
        if k == 0 {
            shown = generated.clone();
        } else {
            smooth_into(&mut shown, &generated, args.smoothing);
        }
        // Fast compression: these PNGs are an intermediate for the muxer.
        let bytes = shown.to_png();
        write_atomic(&frames_dir.join(format!("{k:06}.png")), &bytes)?;
        bar.inc(1);
    }
    bar.finish_and_clear();

    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-nostdin",
            "-framerate",
            &args.fps.to_string(),
            "-i",
        ])
        .arg(frames_dir.join("%06d.png"))
        .arg("-i")
        .arg(&args.song)
        .args([
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "256k",
            "-shortest",
        ])
        .arg(&args.output)
        .status()
        .context("running ffmpeg (install ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg could not write {}", args.output.display());
    }
    if args.frames_dir.is_none() {
        std::fs::remove_dir_all(&frames_dir).ok();
    }
    eprintln!(
        "{num_frames} frames at {} fps -> {}",
        args.fps,
        args.output.display()
    );
    Ok(())
}
