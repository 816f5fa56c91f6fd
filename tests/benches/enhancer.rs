//! Enhancer latency: one frame (256x256 to 1024x1024) of the default look's enhancer, on
//! the execution provider the runtime picks, through `Enhancer::run` as `mvgen_video`
//! calls it (copies and the finiteness check included).
//!
//! `cargo bench -p mvgen-tests --bench enhancer`
//! Set `MVGEN_BENCH_EXECUTION=gpu` to ask for the GPU (it reports the provider it got).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mvgen_core::Frame;
use mvgen_runtime::{Enhanced, Enhancer, Execution, RuntimeConfig};
use std::time::Duration;

fn frames(c: &mut Criterion) {
    let path = mvgen_default_model::enhancer_path().expect("the embedded enhancer");
    let gpu = std::env::var("MVGEN_BENCH_EXECUTION").is_ok_and(|v| v == "gpu");
    let mut frame = Frame::default();
    for (i, v) in frame.planes_mut().iter_mut().enumerate() {
        *v = ((i as f32) * 0.013).sin();
    }
    let mut group = c.benchmark_group("enhancer_frame");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    let threads: &[usize] = if gpu { &[2] } else { &[1, 2] };
    for &cpu_threads in threads {
        let execution = if gpu { Execution::Gpu } else { Execution::Cpu };
        let mut enhancer = Enhancer::load(
            &path,
            &RuntimeConfig {
                execution,
                cpu_threads,
            },
        )
        .unwrap();
        eprintln!("enhancer: {}", enhancer.provider());
        let mut out = Enhanced::default();
        let id = BenchmarkId::new(
            "default",
            format!("{}_{cpu_threads}threads", enhancer.provider().provider),
        );
        group.bench_function(id, |b| b.iter(|| enhancer.run(&frame, &mut out).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
