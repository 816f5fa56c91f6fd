//! The audio thread's cost: one second of 48 kHz stereo through `Capture::process`
//! (mixdown, resampling to 44.1 kHz, one FFT column per 257 samples, 30 frames handed
//! off), at host block sizes 32, 512 and 4096. The goal is 5 ms per second of audio
//! (0.5 % of one core). Run: `cargo bench -p mvgen-plugin --bench capture`.
//!
//! The transport is stopped (frames on the free-running clock): a rolling transport this
//! far ahead of the wall clock would be taken for a render.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mvgen_core::Fps;
use mvgen_plugin::capture::{BlockContext, Capture, Pacing};
use mvgen_plugin::handoff::handoff;
use mvgen_plugin::handoff::Message;
use mvgen_plugin::status::Status;
use std::sync::Arc;

const RATE_HZ: u32 = 48_000;

fn one_second(c: &mut Criterion) {
    let mut state = 1u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let left: Vec<f32> = (0..RATE_HZ).map(|_| noise()).collect();
    let right: Vec<f32> = (0..RATE_HZ).map(|_| noise()).collect();

    let mut group = c.benchmark_group("capture_1s_48k_stereo");
    group.throughput(Throughput::Elements(RATE_HZ as u64));
    for block in [32usize, 512, 4096] {
        let (audio, mut worker) = handoff();
        let mut capture = Capture::new(RATE_HZ, 2, audio, Arc::new(Status::new())).unwrap();
        let mut l = vec![0.0; block];
        let mut r = vec![0.0; block];
        let context = BlockContext {
            fps: Fps::F30,
            timeline: None,
            host_has_transport: true,
            pacing: Pacing::Realtime,
            export: false,
            params: Default::default(),
        };
        group.bench_with_input(BenchmarkId::from_parameter(block), &block, |b, &block| {
            b.iter(|| {
                for start in (0..RATE_HZ as usize).step_by(block) {
                    let n = block.min(RATE_HZ as usize - start);
                    l[..n].copy_from_slice(&left[start..start + n]);
                    r[..n].copy_from_slice(&right[start..start + n]);
                    let channels: [&mut [f32]; 2] = [&mut l[..n], &mut r[..n]];
                    capture.process(&channels, &context);
                    // Stand in for the worker: return every window at once.
                    while let Ok(message) = worker.from_audio.pop() {
                        if let Message::Frame(packet) = message {
                            let _ = worker.to_audio.push(packet.window);
                        }
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, one_second);
criterion_main!(benches);
