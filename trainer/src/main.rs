//! `mvgen`: the command line for everything that is not the plugin. Run `mvgen --help`.

mod audio;
mod cli;
mod dataset;
mod enhance;
mod files;
mod look;
mod media;
mod progress;
mod reactivity;
mod render;
mod spectrogram;
mod train;
mod video;

use clap::Parser;
use std::process::ExitCode;

/// Errors end the program with one line: what failed and why, outermost first.
fn main() -> ExitCode {
    match run(cli::Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: cli::Command) -> anyhow::Result<()> {
    match command {
        cli::Command::Spectrogram(args) => spectrogram::run(&args),
        cli::Command::Render(args) => render::run(&args),
        cli::Command::Video(args) => video::run(&args),
        cli::Command::Stage(args) => stage(&args),
        cli::Command::Look(cmd) => look::command(&cmd),
        cli::Command::Dataset(cli::DatasetCommand::Direct(a)) => dataset::director::command(&a),
        cli::Command::Dataset(cli::DatasetCommand::Synth(a)) => {
            dataset::synth::write_videos(&a.output, a.videos, a.seconds, a.seed)
        }
        cli::Command::Dataset(cli::DatasetCommand::Build(a)) => {
            let (every, end) = if a.every_frame {
                (1, a.start + a.seconds)
            } else {
                (a.every, a.end)
            };
            let recipe = dataset::Recipe {
                every,
                start_s: a.start,
                end_s: end,
                whole: a.whole && !a.every_frame,
                fit: a.fit,
                val_fraction: a.val_fraction,
                seed: a.seed,
            };
            let outcomes = dataset::build(&a.inputs, &a.output, &recipe)?;
            let pairs: usize = outcomes.iter().map(|o| o.pairs).sum();
            let skipped: Vec<_> = outcomes.iter().filter(|o| o.skipped.is_some()).collect();
            eprintln!(
                "{pairs} pairs from {} videos into {}",
                outcomes.len() - skipped.len(),
                a.output.display()
            );
            for o in skipped {
                eprintln!(
                    "skipped {}: {}",
                    o.video,
                    o.skipped.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        cli::Command::Train(a) => train::command(&a),
        cli::Command::Eval(a) => train::eval::command(&a),
        cli::Command::Export(a) => train::export::command(&a),
        cli::Command::TrainEnhancer(a) => enhance::command(&a),
        cli::Command::BenchTrain(a) => train::bench(&a),
        cli::Command::Dataset(cli::DatasetCommand::Show(a)) => {
            dataset::contact_sheet(&a.dataset, &a.output, a.pairs)
        }
    }
}

/// `mvgen stage`.
fn stage(args: &cli::StageArgs) -> anyhow::Result<()> {
    if args.list {
        print!("{}", mvgen_stage::list()?);
        return Ok(());
    }
    if let Some(device) = &args.v4l2 {
        return mvgen_stage::camera(device, args.instance.clone());
    }
    mvgen_stage::run(mvgen_stage::Options {
        monitor: args.monitor,
        fullscreen: args.fullscreen,
        instance: args.instance.clone(),
        aspect: args.aspect.as_deref().map(str::parse).transpose()?,
        fill: args.fill.parse()?,
        stats: args.stats,
        enhance: args.enhance.parse()?,
    })
}
