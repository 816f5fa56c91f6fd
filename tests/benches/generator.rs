//! Generator latency: one frame (batch 1) of pix2pix's `unet_256` with random weights, on
//! the execution provider the runtime picks, through `Generator::run` exactly as the
//! plugin's worker calls it (copies included). Models come from `make_models.py --bench`.
//!
//! `cargo bench -p mvgen-tests --bench generator`
//! Set `MVGEN_BENCH_EXECUTION=gpu` to ask for the GPU (it reports the provider it got).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mvgen_core::Frame;
use mvgen_runtime::{Execution, Generator, RuntimeConfig};
use std::time::Duration;

fn frames(c: &mut Criterion) {
    let dir = mvgen_tests::bench_models();
    let window = mvgen_core::spectrogram::window_from_samples(&mvgen_tests::signals::music(
        1, 44_100, 66_150,
    ));
    let gpu = std::env::var("MVGEN_BENCH_EXECUTION").is_ok_and(|v| v == "gpu");
    let mut group = c.benchmark_group("generator_frame");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    let threads: &[usize] = if gpu { &[2] } else { &[1, 2] };
    for ngf in [16, 32, 64] {
        for &cpu_threads in threads {
            let execution = if gpu { Execution::Gpu } else { Execution::Cpu };
            let mut generator = Generator::load(
                &dir.join(format!("unet256_ngf{ngf}.onnx")),
                &RuntimeConfig {
                    execution,
                    cpu_threads,
                },
            )
            .unwrap();
            eprintln!(
                "ngf {ngf}: {} (first run {:.0} ms)",
                generator.provider(),
                generator.warmup().as_secs_f64() * 1e3
            );
            let mut frame = Frame::default();
            let id = BenchmarkId::new(
                format!("ngf{ngf}"),
                format!("{}_{cpu_threads}threads", generator.provider().provider),
            );
            group.bench_function(id, |b| {
                b.iter(|| generator.run(&window, &mut frame).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
