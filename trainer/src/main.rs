//! `mvgen`: the command line for everything that is not the plugin. Run `mvgen --help`.

mod audio;
mod cli;
mod spectrogram;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    match cli::Cli::parse().command {
        cli::Command::Spectrogram(args) => spectrogram::run(&args),
    }
}
