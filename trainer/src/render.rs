//! `mvgen render`: a song becomes a music video, the paper's "series of images based on
//! another song".
//!
//! Frames are made exactly as the plugin makes them during a bounce from the song's
//! start: the song is pushed through the same streaming `Analyser` (mixdown, resampler,
//! column ring), frames fall on the same frame clock (frame k at sample
//! round(k * rate / fps), whole frames only), and the same generator runtime and
//! smoothing follow. Streaming also makes each column once, not once per frame that sees
//! it. The frames become the video through `mvgen_video` (the format, the enhancer, and
//! ffmpeg encoding while the next frames are generated), as a bounce's do; PNGs are
//! written only with `--frames-dir`. At the end it prints how the video reacts to the
//! song (`crate::reactivity`).

use crate::audio::{self, Decoded};
use crate::cli::RenderArgs;
use crate::files::write_atomic;
use crate::reactivity::{Reactivity, Recorder};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use mvgen_core::frame::smooth_into;
use mvgen_core::{Analyser, Fps, Frame, FrameClock, SpectrogramWindow, WindowError};
use mvgen_runtime::{Generator, RuntimeConfig};
use std::ops::Range;

/// Generate the frames `range` of `decoded` at `fps`, smoothed, calling
/// `each(k, window, frame)` in order. The analysis starts at the song's first sample
/// whatever the range; past the song's end it hears silence, as a host plays after the
/// last sample of a bounce.
pub fn frames(
    decoded: &Decoded,
    fps: Fps,
    generator: &mut Generator,
    smoothing: f32,
    range: Range<i64>,
    mut each: impl FnMut(i64, &SpectrogramWindow, &Frame) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut analyser = Analyser::new(decoded.rate_hz)
        .with_context(|| format!("analysing {} Hz audio", decoded.rate_hz))?;
    let clock = FrameClock::new(fps, decoded.rate_hz);
    let (mut window, mut generated, mut shown) = (
        SpectrogramWindow::default(),
        Frame::default(),
        Frame::default(),
    );
    let mut pushed = 0usize;
    for k in range.clone() {
        let end = clock.window_end(clock.frame_position(k));
        while let Err(WindowError::NotReady) = analyser.copy_window(end, &mut window) {
            analyser.push(decoded.mono.get(pushed).copied().unwrap_or(0.0));
            pushed += 1;
        }
        generator
            .run(&window, &mut generated)
            .with_context(|| format!("frame {k}"))?;
        if k == range.start {
            shown = generated.clone();
        } else {
            smooth_into(&mut shown, &generated, smoothing);
        }
        each(k, &window, &shown)?;
    }
    Ok(())
}

/// How `generator`'s video of seconds `from..from + seconds` of `song` reacts to it.
pub fn reactivity(
    song: &std::path::Path,
    generator: &mut Generator,
    fps: Fps,
    (from, seconds): (f64, f64),
) -> anyhow::Result<Reactivity> {
    let decoded = audio::decode(song)?;
    let clock = FrameClock::new(fps, decoded.rate_hz);
    let all = clock.num_whole_frames(decoded.mono.len() as i64);
    let per_second = fps.per_second() as f64;
    let first = ((from * per_second) as i64).min(all);
    let last = (((from + seconds) * per_second) as i64).min(all);
    let mut recorder = Recorder::default();
    frames(
        &decoded,
        fps,
        generator,
        0.0,
        first..last,
        |_, window, frame| {
            recorder.push(&frame.to_rgb8(), window);
            Ok(())
        },
    )?;
    Ok(recorder.measure(per_second))
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let Some(fps) = Fps::from_per_second(args.fps) else {
        bail!("--fps must be one of 24, 25, 30, 50, 60");
    };
    let format = crate::video::format(&args.format)?;
    mvgen_video::encode::ffmpeg_is_there()?;
    let model = match (&args.model, &args.look) {
        (Some(m), _) => m.clone(),
        (None, Some(name)) => {
            let catalogue = mvgen_look::Catalogue::load();
            let look = catalogue.find(name).map_err(anyhow::Error::msg)?;
            for note in &look.notes {
                eprintln!("note: the look \"{}\": {note}", look.name());
            }
            look.generator.clone()
        }
        (None, None) => mvgen_default_model::path()
            .context("writing the embedded default model to the cache folder")?,
    };
    let model = &model;
    let decoded = audio::decode(&args.song)?;
    let config = RuntimeConfig {
        execution: args.execution.into(),
        cpu_threads: args.threads,
    };
    let mut generator =
        Generator::load(model, &config).with_context(|| format!("loading {}", model.display()))?;
    let upscaler = crate::video::upscaler(&args.format, Some(model), &format, &config)?;
    eprintln!(
        "{} on {}; {format}, enlarged by {}",
        generator.info().display_name(),
        generator.provider(),
        upscaler.describe()
    );

    if let Some(dir) = &args.frames_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let clock = FrameClock::new(fps, decoded.rate_hz);
    // Whole frames only, as a bounce of the same song exports them: the video and its
    // audio end together.
    let num_frames = clock.num_whole_frames(decoded.mono.len() as i64);
    let bar = ProgressBar::new(num_frames as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} frames {elapsed_precise} (eta {eta}) {per_sec}",
        )
        .unwrap(),
    );
    let mut video = mvgen_video::Video::create(
        &args.output,
        format,
        args.fps,
        Some(&args.song),
        upscaler,
        false,
    )?;
    let mut recorder = Recorder::default();
    frames(
        &decoded,
        fps,
        &mut generator,
        args.smoothing,
        0..num_frames,
        |k, window, shown| {
            if let Some(dir) = &args.frames_dir {
                write_atomic(&dir.join(format!("{k:06}.png")), &shown.to_png())?;
            }
            recorder.push(&shown.to_rgb8(), window);
            video.push(shown)?;
            bar.inc(1);
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    let made = video.finish()?;
    eprintln!(
        "{} frames at {} fps, {} -> {}",
        made.frames,
        args.fps,
        made.format,
        made.path.display()
    );
    eprintln!("reacts: {}", recorder.measure(fps.per_second() as f64));
    Ok(())
}
