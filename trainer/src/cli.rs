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
    /// Make a video in any format from a bounce folder's frames and audio (the folder is
    /// only read).
    Video(VideoArgs),
    /// Show the live frames of a running MVGen instance on a screen of its own: a second
    /// monitor, a projector, or a window OBS captures. Keys: F fullscreen, M next
    /// monitor, Tab next instance, Esc leave fullscreen.
    Stage(StageArgs),
    /// Looks: list, show and remove them, or make your own from your songs and artwork.
    #[command(subcommand)]
    Look(LookCommand),
    /// Build, make or look at Pix2Pix datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Train Pix2Pix on a dataset into a run folder (re-run the same folder to resume).
    Train(TrainArgs),
    /// Score a run's snapshots on held-out pairs against the mean-frame baseline.
    Eval(EvalArgs),
    /// Write a run's generator as an ONNX model for the plugin and `mvgen render`.
    Export(ExportArgs),
    /// Train an enhancer (a learned 4x upscaler) for a generator's frames, export it to
    /// ONNX and measure it against a Lanczos filter.
    TrainEnhancer(TrainEnhancerArgs),
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
    /// or from a generator mvgen exported (an .onnx file, a look's; same --ngf; the
    /// discriminator starts fresh), with fresh optimisers and this run's learning-rate
    /// schedule: fine-tuning a look, or training on after a run's schedule has ended.
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
pub struct TrainEnhancerArgs {
    /// The songs to learn from (files, or folders): moments of them, each the
    /// generator's frame against the director's picture at 1024.
    #[arg(long, required = true, num_args = 1..)]
    pub songs: Vec<PathBuf>,
    /// The director's calibration the generator's videos were made with
    /// (`director.json` in `mvgen dataset direct`'s folder).
    #[arg(long)]
    pub calibration: PathBuf,
    /// The artwork the videos were directed with, if any (`dataset direct --material`).
    #[arg(long)]
    pub material: Option<PathBuf>,
    /// With --material, where the colours come from: the artwork's own hues, along which
    /// the music moves, or the whole colour wheel, chosen by the music.
    #[arg(long, value_enum, default_value_t)]
    pub colours: crate::dataset::director::Colours,
    /// The generator whose frames the enhancer enlarges (default: the embedded default
    /// model).
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// The run folder (config.json, data/, checkpoint.bin, enhancer.onnx, quality.json).
    /// Run the same command again to resume.
    #[arg(short, long)]
    pub run: PathBuf,
    /// Where to write the enhancer (default: the run folder's enhancer.onnx).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// A moment every this many seconds of each song.
    #[arg(long, default_value_t = 3.0)]
    pub every: f64,
    /// Seconds into each song where moments start (intros are often quiet).
    #[arg(long, default_value_t = 10.0)]
    pub from: f64,
    /// Fraction of the songs kept for validation.
    #[arg(long, default_value_t = 0.15)]
    pub val_fraction: f64,
    /// Feature channels: 16 enlarges a frame in about 14 ms on two CPU threads.
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
    #[arg(long, default_value_t = 3000)]
    pub steps: u64,
    /// Crops per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// How strongly the enhanced frame, averaged back down to 256, is held to the
    /// generator's (3: about 36 dB; lower is sharper and strays further).
    #[arg(long, default_value_t = 3.0)]
    pub consistency: f64,
    /// How strongly the fine structure at 256 (where the generator's grid, the mesh its
    /// transposed convolutions leave, lies) is taught from the true pictures instead of
    /// kept from the generator's; 0 keeps the generator's picture whole, mesh and all.
    #[arg(long, default_value_t = 10.0)]
    pub grid: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The name the enhancer carries (default: the run folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Songs neither network saw (files, or folders): measure the enhancer on them too,
    /// and how much it moves 10 s of each against the generator's own frames.
    #[arg(long, num_args = 1..)]
    pub held_out: Vec<PathBuf>,
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
// Parsed once per run: the size of `New` costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum LookCommand {
    /// Make a look from your songs (and artwork) in one go, within a time budget: direct
    /// the songs, build pairs, fine-tune a look's networks on them, train its enhancer,
    /// measure it on songs it held out, and install it if it reacts to music. Run the
    /// same command again to resume after an interruption.
    New(LookNewArgs),
    /// The looks there are: embedded, shipped and yours, with how they react; and why
    /// anything in a look folder is not a look.
    List,
    /// One look: who made it from what, how it reacts, its files and contact sheet.
    Show {
        /// The look's name (as `mvgen look list` gives it).
        name: String,
    },
    /// Remove one of your looks.
    Rm { name: String },
}

#[derive(clap::Args, Debug)]
pub struct LookNewArgs {
    /// The look's name (a look with that name must not exist yet).
    pub name: String,
    /// A folder of your songs (wav, flac, ogg, mp3, m4a, aiff); about 20 make a good
    /// look. Some are held out to measure the look on music it never saw.
    #[arg(long)]
    pub songs: PathBuf,
    /// A folder of your artwork (png, jpg) to blend into the pictures.
    #[arg(long)]
    pub material: Option<PathBuf>,
    /// With --material, where the colours come from: the artwork's own hues, along which
    /// the music moves (the default), or the whole colour wheel, chosen by the music. A
    /// resumed job keeps its own.
    #[arg(long, value_enum)]
    pub colours: Option<crate::dataset::director::Colours>,
    /// A folder of songs to measure the look on instead of holding some of --songs out
    /// (it trains on none of them): choose songs whose music moves.
    #[arg(long)]
    pub held_out: Option<PathBuf>,
    /// The time budget for the whole job, in minutes.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// The look whose networks are fine-tuned (it must be one of mvgen's own).
    #[arg(long, default_value = mvgen_look::DEFAULT_NAME)]
    pub from: String,
    /// Who made it (look.json's author).
    #[arg(long)]
    pub author: Option<String>,
    /// The licence of the songs and artwork, in words (look.json's licence).
    #[arg(long)]
    pub licence: Option<String>,
    /// Train the generator this many epochs instead of as many as the budget allows
    /// (to repeat a look exactly on another machine).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Where it trains: auto (an NVIDIA GPU where this build and the machine have one),
    /// cpu or gpu.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// CPU threads (default: all cores).
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
    /// With --material, where the colours come from: the artwork's own hues, along which
    /// the music moves, or the whole colour wheel, chosen by the music.
    #[arg(long, value_enum, default_value_t)]
    pub colours: crate::dataset::director::Colours,
    /// Use this calibration (`director.json`) instead of measuring the songs: direct new
    /// songs exactly as an earlier set was.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Only print how each song's directed video would react (motion, variety, coupling).
    #[arg(long)]
    pub measure: bool,
    /// Only measure the songs' ranges and write the calibration (`director.json`).
    #[arg(long, conflicts_with = "measure")]
    pub calibrate: bool,
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

/// A video's format and how its frames are enlarged: the same options for `mvgen render`
/// and `mvgen video` (and the plugin's Video row).
#[derive(clap::Args, Debug, Clone)]
pub struct FormatArgs {
    /// The frame's short side: 256, 720p, 1080p, 1440p or 2160p; or WIDTHxHEIGHT.
    #[arg(long, default_value = "1080p")]
    pub size: String,
    /// The frame's shape: 16:9 (YouTube, screens), 9:16 (Shorts, Reels, TikTok), 1:1 or
    /// 4:5.
    #[arg(long, default_value = "16:9")]
    pub aspect: String,
    /// How the square picture fills a frame that is not square: blur (a blurred,
    /// darkened zoom of it behind), mirror (reflected outwards), crop (zoomed to fill)
    /// or black.
    #[arg(long, default_value = "blur")]
    pub fill: String,
    /// The enhancer that enlarges the frames (default: the one that goes with the
    /// generator: the default look's, or `<model>.enhancer.onnx` beside the model).
    #[arg(long, conflicts_with = "no_enhancer")]
    pub enhancer: Option<PathBuf>,
    /// Enlarge with a Lanczos filter, even where there is an enhancer.
    #[arg(long)]
    pub no_enhancer: bool,
}

#[derive(clap::Args, Debug)]
pub struct StageArgs {
    /// Name the running instances and the monitors, and exit.
    #[arg(long)]
    pub list: bool,
    /// The monitor to show on, by its number in --list (default: the primary one).
    #[arg(long)]
    pub monitor: Option<usize>,
    /// Borderless fullscreen on that monitor.
    #[arg(long)]
    pub fullscreen: bool,
    /// The instance to show, by name as --list gives it, or #N by its number there
    /// (default: the most recently active one).
    #[arg(long)]
    pub instance: Option<String>,
    /// The picture's shape: 16:9, 9:16, 1:1 or 4:5 (default: the window's).
    #[arg(long)]
    pub aspect: Option<String>,
    /// How the square picture fills the rest: blur, mirror, crop or black.
    #[arg(long, default_value = "blur")]
    pub fill: String,
    /// Print, every 5 s, the time from a sound at the plugin to its frame on screen, and
    /// the time a paint takes.
    #[arg(long)]
    pub stats: bool,
    /// Enlarge with the look's enhancer: auto (where ONNX Runtime has a GPU), always
    /// (also on the CPU, about 15 ms a frame) or never (the shader's filter only).
    #[arg(long, default_value = "auto")]
    pub enhance: String,
    /// Write the frames to this v4l2loopback camera (/dev/videoN) instead of a window:
    /// OBS, video calls and other programs take it as a webcam.
    #[arg(long, conflicts_with_all = ["list", "monitor", "fullscreen", "stats"])]
    pub v4l2: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct VideoArgs {
    /// A bounce folder (`bounce-NNNN/`, with `manifest.json`, the frames and
    /// `audio.wav`).
    pub bounce: PathBuf,
    /// The video to write (mp4).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Where the enhancer runs.
    #[arg(long, value_enum, default_value_t = ExecutionArg::Auto)]
    pub execution: ExecutionArg,
    /// CPU threads for the enhancer.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(2, |n| n.get()))]
    pub threads: usize,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The song (wav, mp3, flac, ogg, ...).
    pub song: PathBuf,
    /// The video to write (mp4).
    #[arg(short, long, default_value = "video.mp4")]
    pub output: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// The look, by name (`mvgen look list`); default: the embedded one.
    #[arg(long, conflicts_with = "model")]
    pub look: Option<String>,
    /// A generator file (.onnx) instead of a look.
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
