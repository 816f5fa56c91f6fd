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
    /// Train Pix2Pix on a dataset into a run folder (re-run the same folder to resume).
    Train(TrainArgs),
    /// Score a run's snapshots on held-out pairs against the mean-frame baseline.
    Eval(EvalArgs),
    /// Write a run's generator as an ONNX model for the plugin and `mvgen render`.
    Export(ExportArgs),
    /// Time training steps, per phase (for BENCHMARKS.md).
    BenchTrain(BenchTrainArgs),
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// An aligned dataset (train/, val/), e.g. from `mvgen dataset build`.
    pub dataset: PathBuf,
    /// The run folder. If it holds a checkpoint, training resumes from it.
    #[arg(short, long)]
    pub run: PathBuf,
    /// Generator width: 64 is the paper's; 16 runs ~6x faster and is the embedded model's.
    #[arg(long, default_value_t = 64)]
    pub ngf: usize,
    /// Discriminator width.
    #[arg(long, default_value_t = 64)]
    pub ndf: usize,
    /// Epochs at the initial learning rate.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Epochs of linear decay to zero after them.
    #[arg(long, default_value_t = 100)]
    pub decay_epochs: usize,
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Weight of the L1 term.
    #[arg(long, default_value_t = 100.0)]
    pub lambda_l1: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, or gpu (an NVIDIA GPU with the torch trainer; any GPU with burn's, in a
    /// build with `--features gpu`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The trainer: auto (the fastest this build has: torch, else burn), torch or burn.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Epochs whose generator is kept for `mvgen eval` (the last always is).
    #[arg(long, value_delimiter = ',', default_value = "95,180,200")]
    pub snapshots: Vec<usize>,
    /// Train on only the first N pairs.
    #[arg(long)]
    pub max_pairs: Option<usize>,
    /// Held-out pairs in each epoch's sample grid.
    #[arg(long, default_value_t = 4)]
    pub sample_pairs: usize,
    /// Start from another run's networks (its latest checkpoint; same --ngf and --ndf),
    /// with fresh optimisers and this run's learning-rate schedule: fine-tuning a look,
    /// or training on after a run's schedule has ended.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Stop after this many epochs in this process (resume later with the same command).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    pub run: PathBuf,
    /// Songs the run never saw (files or folders): also measure how each snapshot's video
    /// of them reacts (motion, variety, coupling).
    #[arg(long, num_args = 1..)]
    pub songs: Vec<PathBuf>,
    /// Seconds of each song to measure, from --from.
    #[arg(long, default_value_t = 40.0)]
    pub seconds: f64,
    /// Where in each song to start measuring, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub from: f64,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    pub run: PathBuf,
    /// A snapshot epoch; default: the latest checkpoint.
    #[arg(long)]
    pub epoch: Option<usize>,
    #[arg(short, long, default_value = "model.onnx")]
    pub output: PathBuf,
    /// The model's name (default: the run folder's name).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct BenchTrainArgs {
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub ngf: Vec<usize>,
    #[arg(long, default_value_t = 64)]
    pub ndf: usize,
    /// Timed steps, after the warm-up steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub warm_up: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// auto, torch or burn (as `mvgen train --backend`).
    #[arg(long, default_value = "auto")]
    pub backend: String,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Pair frames of music videos with the spectrogram of the audio before them.
    Build(BuildArgs),
    /// Direct music videos from songs: each frame drawn from the music before it.
    Direct(DirectArgs),
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
    /// Take frames from --start through to each video's end (to half a second before it),
    /// whatever its length, instead of stopping at --end.
    #[arg(long, conflicts_with_all = ["end", "every_frame"])]
    pub whole: bool,
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
pub struct DirectArgs {
    /// Songs (wav, flac, ogg, mp3, m4a, aiff), or folders of them.
    #[arg(required = true)]
    pub songs: Vec<PathBuf>,
    /// The folder for the videos (`<song>.mp4`) and the calibration (`director.json`).
    /// Run again into the same folder to finish an interrupted run: videos already there
    /// are kept, and so is the calibration if it was measured on the same songs.
    #[arg(short, long)]
    pub output: PathBuf,
    /// A folder of images (png, jpg) to blend into the pictures: your artwork.
    #[arg(long)]
    pub material: Option<PathBuf>,
    /// Use this calibration (`director.json`) instead of measuring the songs: direct new
    /// songs exactly as an earlier set was.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Only print how each song's directed video would react (motion, variety, coupling).
    #[arg(long)]
    pub measure: bool,
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
    /// The generator (.onnx); default: the embedded model (trained on synthetic videos).
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
