//! Memory while generating: resident set size after loading a generator, after a warm-up,
//! and after many frames, read from /proc/self/status. A leak per frame would show as
//! growth between the last two.
//!
//! `cargo bench -p mvgen-tests --bench generator_memory -- [ngf] [frames]` (default 64 300)

use mvgen_core::{Frame, SpectrogramWindow};
use mvgen_runtime::{Execution, Generator, RuntimeConfig};

fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let ngf: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(64);
    let frames: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let dir = mvgen_tests::bench_models();
    let before = status_kb("VmRSS:");
    let mut generator = Generator::load(
        &dir.join(format!("unet256_ngf{ngf}.onnx")),
        &RuntimeConfig {
            execution: Execution::Cpu,
            cpu_threads: 2,
        },
    )
    .unwrap();
    let loaded = status_kb("VmRSS:");
    let mut windows = Vec::new();
    for seed in 0..8 {
        windows.push(mvgen_core::spectrogram::window_from_samples(
            &mvgen_tests::signals::music(seed, 44_100, 66_150),
        ));
    }
    windows.push(SpectrogramWindow::default());
    let mut frame = Frame::default();
    for w in &windows {
        generator.run(w, &mut frame).unwrap();
    }
    let warm = status_kb("VmRSS:");
    let started = std::time::Instant::now();
    for i in 0..frames {
        generator
            .run(&windows[i % windows.len()], &mut frame)
            .unwrap();
    }
    let elapsed = started.elapsed();
    let after = status_kb("VmRSS:");
    println!(
        "ngf {ngf}: RSS {} MiB before load, {} MiB loaded, {} MiB after warm-up, {} MiB after {frames} more frames; peak {} MiB; {:.1} ms/frame",
        before / 1024,
        loaded / 1024,
        warm / 1024,
        after / 1024,
        status_kb("VmHWM:") / 1024,
        elapsed.as_secs_f64() * 1e3 / frames as f64
    );
}
