//! The editor's frame presenter, drawn offscreen with the editor's own renderer (egui-wgpu
//! on wgpu's Vulkan backend; lavapipe where there is no GPU) and read back.
//!
//! Tolerance: 1 level of 255 per channel. The frame textures are sRGB and the target is
//! not, so each value goes to linear and back in f32 on the GPU; a cross-fade adds one
//! rounding of the blend. Anything larger is a wrong pixel, not rounding.

use egui::{Color32, ColorImage, Pos2, Rect};
use mvgen_plugin::editor::presenter::{letterbox, paint_crossfade, Presenter};

const BG: Color32 = Color32::from_rgb(12, 34, 56);
const TOLERANCE: i32 = 1;

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// The editor's renderer; it keeps the textures between draws.
    renderer: egui_wgpu::Renderer,
}

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

fn gpu() -> Gpu {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::LowPower,
        compatible_surface: None,
        ..Default::default()
    }))
    .expect(
        "no Vulkan adapter: install mesa-vulkan-drivers and libvulkan1 (scripts/setup.sh does)",
    );
    eprintln!("presenter test on {:?}", adapter.get_info());
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
            .expect("a wgpu device");
    let renderer = egui_wgpu::Renderer::new(
        &device,
        FORMAT,
        mvgen_plugin::editor::graphics_config().renderer_options,
    );
    Gpu {
        device,
        queue,
        renderer,
    }
}

/// Draw `paint` into a `width` x `height` RGBA target with the editor's renderer settings,
/// and read the pixels back.
fn draw(
    gpu: &mut Gpu,
    ctx: &egui::Context,
    width: u32,
    height: u32,
    mut paint: impl FnMut(&egui::Painter, Rect),
) -> Vec<[u8; 4]> {
    assert_eq!(width % 64, 0, "rows must be 256-byte aligned for the copy");
    let screen = Rect::from_min_size(Pos2::ZERO, egui::vec2(width as f32, height as f32));
    let input = egui::RawInput {
        screen_rect: Some(screen),
        ..Default::default()
    };
    let mut output = ctx.run_ui(input, |ui| {
        let painter = ui.painter_at(screen);
        paint(&painter, screen);
    });
    let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
    let format = FORMAT;
    let renderer = &mut gpu.renderer;
    for (id, deltas) in output.textures_delta.set.drain() {
        for delta in deltas {
            renderer.update_texture(&gpu.device, &gpu.queue, id, &delta);
        }
    }
    output.textures_delta.clear();
    let target = gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("target"),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = target.create_view(&wgpu::TextureViewDescriptor::default());
    let screen_descriptor = egui_wgpu::ScreenDescriptor {
        size_in_pixels: [width, height],
        pixels_per_point: output.pixels_per_point,
    };
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    let prepared = renderer.update_buffers(
        &gpu.device,
        &gpu.queue,
        &mut encoder,
        &primitives,
        &screen_descriptor,
    );
    {
        let bg = BG.to_normalized_gamma_f32();
        let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("presenter"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color {
                        r: bg[0] as f64,
                        g: bg[1] as f64,
                        b: bg[2] as f64,
                        a: 1.0,
                    }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        renderer.render(&mut pass.forget_lifetime(), &primitives, &screen_descriptor);
    }
    let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: (width * height * 4) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    encoder.copy_texture_to_buffer(
        target.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width * 4),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    gpu.queue
        .submit(prepared.into_iter().chain([encoder.finish()]));
    let slice = readback.slice(..);
    slice.map_async(wgpu::MapMode::Read, |r| r.expect("mapping the read-back"));
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("waiting for the GPU");
    let bytes = slice.get_mapped_range().expect("mapped range").to_vec();
    bytes
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect()
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
    let mut gpu = gpu();
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
        let pixels = draw(&mut gpu, &ctx, width, height, |painter, area| {
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
    let mut gpu = gpu();
    let ctx = egui::Context::default();
    let mut presenter = Presenter::default();
    // One flat colour: scaling must keep it exact and fill exactly the letterboxed square.
    let colour = Color32::from_rgb(200, 40, 90);
    presenter.push_frame(&ctx, ColorImage::new([256, 256], vec![colour; 256 * 256]));
    let (from, to) = presenter.frame_textures().unwrap();
    let (width, height) = (640, 400);
    let pixels = draw(&mut gpu, &ctx, width, height, |painter, area| {
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
