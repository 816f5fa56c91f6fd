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
    /// Turn a song into a music video with a generator.
    Render(RenderArgs),
    /// Build, make or look at Pix2Pix datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Pair frames of music videos with the spectrogram of the audio before them.
    Build(BuildArgs),
    /// Write audio-reactive synthetic music videos (mp4 with audio).
    Synth(SynthArgs),
    /// A contact sheet of pairs: spectrogram beside frame.
    Show(ShowArgs),
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Video files, or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The dataset folder (train/, val/, manifest.csv, summary.json).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Take every Nth frame.
    #[arg(long, default_value_t = 45)]
    pub every: usize,
    /// Start of the window, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub start: f64,
    /// End of the window, seconds.
    #[arg(long, default_value_t = 90.0)]
    pub end: f64,
    /// Take every frame for --seconds from --start (the paper's evaluation clip).
    #[arg(long)]
    pub every_frame: bool,
    /// With --every-frame: how long.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// How frames become 256x256.
    #[arg(long, value_enum, default_value_t = crate::media::Fit::Squash)]
    pub fit: crate::media::Fit,
    /// Fraction of the videos held out in val/.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Seed of the train/val split.
    #[arg(long, default_value_t = 188)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub videos: usize,
    /// Length of each video.
    #[arg(long, default_value_t = 100.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub dataset: PathBuf,
    #[arg(short, long, default_value = "sheet.png")]
    pub output: PathBuf,
    /// Pairs on the sheet (rows of two).
    #[arg(long, default_value_t = 8)]
    pub pairs: usize,
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

/// Where the generator runs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExecutionArg {
    Auto,
    Cpu,
    Gpu,
}

impl From<ExecutionArg> for mvgen_runtime::Execution {
    fn from(e: ExecutionArg) -> Self {
        match e {
            ExecutionArg::Auto => Self::Auto,
            ExecutionArg::Cpu => Self::Cpu,
            ExecutionArg::Gpu => Self::Gpu,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The song (wav, mp3, flac, ogg, ...).
    pub song: PathBuf,
    /// The video to write (mp4).
    #[arg(short, long, default_value = "video.mp4")]
    pub output: PathBuf,
    /// The generator (.onnx).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Frames per second: 24, 25, 30, 50 or 60.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Temporal smoothing, 0 (none) to 0.99.
    #[arg(long, default_value_t = 0.0)]
    pub smoothing: f32,
    /// Keep the PNG frames in this folder.
    #[arg(long)]
    pub frames_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ExecutionArg::Auto)]
    pub execution: ExecutionArg,
    /// CPU threads for the generator.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(2, |n| n.get()))]
    pub threads: usize,
}
