//! A DAW in a process of its own, for the stage tests: loads the CLAP bundle onto a named
//! track and plays seeded music through it in real time, 512 frames a block at 48 kHz,
//! until its standard input closes or SECONDS have passed (or it is killed). Every block
//! must come back as it went in; at the end it says "bit-exact", or exits with an error
//! naming the first block that did not.
//!
//! `clap-play BUNDLE TRACK SECONDS SEED`

use mvgen_tests::clap_host::{Block, Host};
use mvgen_tests::signals::stereo;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RATE_HZ: u32 = 48_000;
const BLOCK: usize = 512;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bundle, track, seconds, seed] = args.as_slice() else {
        anyhow::bail!("usage: clap-play BUNDLE TRACK SECONDS SEED");
    };
    let (seconds, seed): (f64, u64) = (seconds.parse()?, seed.parse()?);
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::spawn({
        let stop = stop.clone();
        move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            stop.store(true, Ordering::Release);
        }
    });
    let mut host = Host::load_on_track(&PathBuf::from(bundle), Some(track))?;
    host.set_render_mode(false)?;
    let input = stereo(RATE_HZ, seconds, seed);
    let mut active = host.activate(RATE_HZ, input.len(), BLOCK)?;
    let started = Instant::now();
    let mut pos = 0;
    while pos + BLOCK <= input[0].len() && !stop.load(Ordering::Acquire) {
        let block: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + BLOCK]).collect();
        let at = Block {
            position: pos as u64,
            playing: true,
        };
        let out = active.process(&block, at, &[])?;
        let same = out
            .iter()
            .zip(&block)
            .all(|(o, i)| o.iter().zip(*i).all(|(a, b)| a.to_bits() == b.to_bits()));
        anyhow::ensure!(same, "the block at sample {pos} came back changed");
        pos += BLOCK;
        // Paced as a sound card paces a DAW's audio thread.
        let due = started + Duration::from_secs_f64(pos as f64 / RATE_HZ as f64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    active.deactivate();
    println!("bit-exact");
    Ok(())
}
