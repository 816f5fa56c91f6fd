//! The command-line interface: one subcommand per job.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mvgen",
    version,
    about = "Turn music into generated music-video frames"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the model-input image of one moment of a song: what the generator sees.
    Spectrogram(SpectrogramArgs),
}

#[derive(clap::Args, Debug)]
pub struct SpectrogramArgs {
    /// Audio file (wav, mp3, flac, ogg, aiff, m4a/aac, mkv audio).
    pub audio: PathBuf,
    /// The moment, in seconds from the start; the image shows the 1.5 s before it.
    #[arg(long, default_value_t = 1.5, allow_negative_numbers = true)]
    pub at: f64,
    /// Output PNG: 256x256 grey, low frequencies at the bottom, oldest audio on the left.
    #[arg(short, long, default_value = "spectrogram.png")]
    pub output: PathBuf,
    /// Also write the exact values as raw little-endian f32 (256x256, row-major).
    #[arg(long)]
    pub raw: Option<PathBuf>,
}
