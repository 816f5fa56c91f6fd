//! The editor's frame presenter, drawn offscreen with the editor's own renderer (egui-wgpu
//! on wgpu's Vulkan backend; lavapipe where there is no GPU) and read back.
//!
//! Tolerance: 1 level of 255 per channel. The frame textures are sRGB and the target is
//! not, so each value goes to linear and back in f32 on the GPU; a cross-fade adds one
//! rounding of the blend. Anything larger is a wrong pixel, not rounding.

use egui::{Color32, ColorImage, Pos2, Rect};
use mvgen_plugin::editor::offscreen::Offscreen;
use mvgen_plugin::editor::presenter::{letterbox, paint_crossfade, Presenter};

const BG: Color32 = Color32::from_rgb(12, 34, 56);
const TOLERANCE: i32 = 1;

fn offscreen() -> Offscreen {
    let gpu = Offscreen::new().unwrap();
    eprintln!("presenter test on {:?}", gpu.adapter);
    gpu
}

/// A 256x256 test picture: a different colour in every pixel.
fn picture(seed: u8) -> ColorImage {
    let mut rgb = Vec::with_capacity(256 * 256 * 3);
    for y in 0..256usize {
        for x in 0..256usize {
            rgb.extend_from_slice(&[
                x as u8 ^ seed,
                y as u8,
                ((x * 7 + y * 3) as u8).wrapping_add(seed),
            ]);
        }
    }
    ColorImage::from_rgb([256, 256], &rgb)
}

fn worst(got: [u8; 4], want: [u8; 3]) -> i32 {
    (0..3)
        .map(|c| (got[c] as i32 - want[c] as i32).abs())
        .max()
        .unwrap()
}

#[test]
fn frame_is_letterboxed_one_to_one_and_cross_fades() {
    let mut gpu = offscreen();
    let ctx = egui::Context::default();
    let mut presenter = Presenter::default();
    let (a, b) = (picture(0), picture(0xA5));
    presenter.push_frame(&ctx, a.clone());
    presenter.push_frame(&ctx, b.clone());
    let (from, to) = presenter.frame_textures().expect("two frames pushed");
    // A 448x256 area: the square picture sits 1:1 in the middle, with 96-pixel bars.
    let (width, height) = (448, 256);
    let area = Rect::from_min_size(Pos2::ZERO, egui::vec2(width as f32, height as f32));
    let placed = letterbox(area, 1.0);
    assert_eq!(placed.min, Pos2::new(96.0, 0.0));

    for mix in [0.0f32, 1.0, 0.5] {
        let pixels = gpu.draw(&ctx, width, height, BG, |painter, area| {
            paint_crossfade(painter, area, from, to, mix)
        });
        let mut max_error = 0;
        for y in 0..height as usize {
            for x in 0..width as usize {
                let got = pixels[y * width as usize + x];
                let want = if (96..352).contains(&x) {
                    let i = y * 256 + (x - 96);
                    let (pa, pb) = (a.pixels[i], b.pixels[i]);
                    let blend = |c: usize| {
                        let (va, vb) = (pa.to_array()[c] as f32, pb.to_array()[c] as f32);
                        (va + (vb - va) * mix).round() as u8
                    };
                    [blend(0), blend(1), blend(2)]
                } else {
                    [BG.r(), BG.g(), BG.b()]
                };
                let e = worst(got, want);
                assert!(
                    e <= TOLERANCE,
                    "mix {mix}: pixel ({x}, {y}) is {got:?}, expected {want:?}"
                );
                max_error = max_error.max(e);
            }
        }
        eprintln!("mix {mix}: largest difference {max_error} levels");
    }
}

#[test]
fn frame_scales_to_a_larger_area_keeping_its_aspect() {
    let mut gpu = offscreen();
    let ctx = egui::Context::default();
    let mut presenter = Presenter::default();
    // One flat colour: scaling must keep it exact and fill exactly the letterboxed square.
    let colour = Color32::from_rgb(200, 40, 90);
    presenter.push_frame(&ctx, ColorImage::new([256, 256], vec![colour; 256 * 256]));
    let (from, to) = presenter.frame_textures().unwrap();
    let (width, height) = (640, 400);
    let pixels = gpu.draw(&ctx, width, height, BG, |painter, area| {
        paint_crossfade(painter, area, from, to, 1.0)
    });
    let inside = |x: u32, y: u32| (120..520).contains(&x) && (0..400).contains(&y);
    for y in 0..height {
        for x in 0..width {
            let got = pixels[(y * width + x) as usize];
            let want = if inside(x, y) {
                [colour.r(), colour.g(), colour.b()]
            } else {
                [BG.r(), BG.g(), BG.b()]
            };
            assert!(
                worst(got, want) <= TOLERANCE,
                "pixel ({x}, {y}) is {got:?}, expected {want:?}"
            );
        }
    }
}
