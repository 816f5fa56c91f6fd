//! `mvgen spectrogram`: the model-input image of one moment of a song.

use crate::audio;
use crate::cli::SpectrogramArgs;
use anyhow::{ensure, Context};
use mvgen_core::spectrogram::{window_from_signal, ColumnAnalyser, SIZE};
use mvgen_core::FrameClock;

pub fn run(args: &SpectrogramArgs) -> anyhow::Result<()> {
    ensure!(
        args.at.is_finite() && args.at >= 0.0,
        "--at must be a time in seconds, 0 or later"
    );
    let decoded = audio::decode(&args.audio)?;
    ensure!(
        args.at <= decoded.seconds(),
        "--at {:.3} s is past the end of {} ({:.3} s long)",
        args.at,
        args.audio.display(),
        decoded.seconds()
    );
    let signal = decoded.to_44k()?;
    let end = FrameClock::window_end_at_seconds(args.at, decoded.rate_hz);
    let image = window_from_signal(&signal, end, &mut ColumnAnalyser::new());

    let png = image::GrayImage::from_raw(SIZE as u32, SIZE as u32, image.to_gray8())
        .context("image size")?;
    png.save(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if let Some(raw) = &args.raw {
        let bytes: Vec<u8> = image
            .pixels()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(raw, bytes).with_context(|| format!("writing {}", raw.display()))?;
    }
    eprintln!(
        "{}: {:.3} s at {} Hz, {} channel(s); window {:.3}-{:.3} s -> {}",
        args.audio.display(),
        decoded.seconds(),
        decoded.rate_hz,
        decoded.num_channels,
        end.start_samples() as f64 / 44_100.0,
        end.samples() as f64 / 44_100.0,
        args.output.display()
    );
    Ok(())
}
