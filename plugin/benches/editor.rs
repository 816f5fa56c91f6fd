//! The editor's cost per repaint on this machine's wgpu adapter (lavapipe here): the
//! presenter taking a new generated frame (smoothing, 8-bit conversion, texture upload)
//! and drawing the two pictures, plus the read-back the window does not do.
//!
//! `cargo bench -p mvgen-plugin --bench editor`

use criterion::{criterion_group, criterion_main, Criterion};
use egui::Color32;
use mvgen_core::frame::FRAME_VALUES;
use mvgen_core::Frame;
use mvgen_plugin::editor::offscreen::Offscreen;
use mvgen_plugin::editor::presenter::{paint_crossfade, paint_picture, Presenter};
use mvgen_plugin::worker::Published;

fn repaint(c: &mut Criterion) {
    let mut gpu = Offscreen::new().expect("a Vulkan adapter");
    eprintln!(
        "adapter: {} ({:?})",
        gpu.adapter.name, gpu.adapter.device_type
    );
    let ctx = egui::Context::default();
    let mut presenter = Presenter::default();
    let frames: Vec<Frame> = (0..2)
        .map(|i| {
            let v: Vec<f32> = (0..FRAME_VALUES)
                .map(|j| ((j * 7 + i * 13) % 255) as f32 / 127.5 - 1.0)
                .collect();
            Frame::from_planes(&v).unwrap()
        })
        .collect();
    let mut published = Published {
        spectrogram: Some(Default::default()),
        ..Published::default()
    };
    let mut group = c.benchmark_group("editor");
    group.sample_size(30);
    // A repaint at the editor's default size (880x560 here, 896 for the copy's alignment)
    // in which a new frame arrived: the worst case, at most once per video frame.
    group.bench_function("new frame + draw 896x560", |b| {
        let mut k = 0i64;
        b.iter(|| {
            k += 1;
            published.sequence = k as u64;
            published.image = Some(frames[(k % 2) as usize].clone());
            presenter.update(&ctx, &published, 0.5);
            let (from, to) = presenter.frame_textures().unwrap();
            let spectrogram = presenter.spectrogram_texture().unwrap();
            gpu.draw(&ctx, 896, 560, Color32::BLACK, |painter, area| {
                let (left, right) = area.split_left_right_at_fraction(0.5);
                paint_picture(painter, left, spectrogram);
                paint_crossfade(painter, right, from, to, 0.5);
            })
        })
    });
    // A repaint between frames: only the cross-fade moves.
    group.bench_function("draw only 896x560", |b| {
        let (from, to) = presenter.frame_textures().unwrap();
        let spectrogram = presenter.spectrogram_texture().unwrap();
        b.iter(|| {
            gpu.draw(&ctx, 896, 560, Color32::BLACK, |painter, area| {
                let (left, right) = area.split_left_right_at_fraction(0.5);
                paint_picture(painter, left, spectrogram);
                paint_crossfade(painter, right, from, to, 0.5);
            })
        })
    });
    // The fixed cost of a draw and read-back with nothing on it, to set the two above
    // against.
    group.bench_function("empty 896x560", |b| {
        b.iter(|| gpu.draw(&ctx, 896, 560, Color32::BLACK, |_, _| {}))
    });
    group.finish();
}

criterion_group!(benches, repaint);
criterion_main!(benches);
