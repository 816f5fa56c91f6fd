//! The editor's drawing without a window: egui output rendered into a texture with the
//! editor's own renderer settings ([`super::graphics_config`]) and read back. For the
//! presenter's pixel test and the editor benchmark; the window itself draws through
//! egui-baseview.

use egui::{Pos2, Rect};

/// The target's format: 8-bit, not sRGB, as the window's surface (egui-wgpu prefers
/// `Rgba8Unorm` or `Bgra8Unorm`).
pub const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

pub struct Offscreen {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Keeps egui's textures between draws, as the window's renderer does.
    renderer: egui_wgpu::Renderer,
    /// What the adapter says it is (lavapipe where there is no GPU).
    pub adapter: wgpu::AdapterInfo,
}

impl Offscreen {
    /// A device on wgpu's Vulkan backend.
    pub fn new() -> Result<Self, String> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::LowPower,
            ..Default::default()
        }))
        .map_err(|e| {
            format!(
                "no Vulkan adapter ({e}): install mesa-vulkan-drivers and libvulkan1 \
                 (scripts/setup.sh does)"
            )
        })?;
        let (device, queue) =
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
                .map_err(|e| format!("no wgpu device: {e}"))?;
        let renderer =
            egui_wgpu::Renderer::new(&device, FORMAT, super::graphics_config().renderer_options);
        Ok(Self {
            adapter: adapter.get_info(),
            device,
            queue,
            renderer,
        })
    }

    /// Run `paint` in a `width` x `height` egui pass, draw it over `background`, and read
    /// the pixels back (RGBA, row-major). `width` must be a multiple of 64.
    pub fn draw(
        &mut self,
        ctx: &egui::Context,
        width: u32,
        height: u32,
        background: egui::Color32,
        mut paint: impl FnMut(&egui::Painter, Rect),
    ) -> Vec<[u8; 4]> {
        assert_eq!(width % 64, 0, "rows must be 256-byte aligned for the copy");
        let screen = Rect::from_min_size(Pos2::ZERO, egui::vec2(width as f32, height as f32));
        let input = egui::RawInput {
            screen_rect: Some(screen),
            ..Default::default()
        };
        let mut output = ctx.run_ui(input, |ui| paint(&ui.painter_at(screen), screen));
        let primitives =
            ctx.tessellate(std::mem::take(&mut output.shapes), output.pixels_per_point);
        for (id, deltas) in output.textures_delta.set.drain() {
            for delta in deltas {
                self.renderer
                    .update_texture(&self.device, &self.queue, id, &delta);
            }
        }
        for id in output.textures_delta.free.drain() {
            self.renderer.free_texture(&id);
        }
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let target = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("mvgen-offscreen"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let screen_descriptor = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [width, height],
            pixels_per_point: output.pixels_per_point,
        };
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let prepared = self.renderer.update_buffers(
            &self.device,
            &self.queue,
            &mut encoder,
            &primitives,
            &screen_descriptor,
        );
        {
            let [r, g, b, _] = background.to_normalized_gamma_f32();
            let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("mvgen-offscreen"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color {
                            r: r as f64,
                            g: g as f64,
                            b: b as f64,
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
            self.renderer
                .render(&mut pass.forget_lifetime(), &primitives, &screen_descriptor);
        }
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("mvgen-offscreen-readback"),
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
            size,
        );
        self.queue
            .submit(prepared.into_iter().chain([encoder.finish()]));
        let slice = readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |r| r.expect("mapping the read-back"));
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("waiting for the GPU");
        let bytes = slice.get_mapped_range().expect("mapped read-back");
        bytes
            .chunks_exact(4)
            .map(|p| [p[0], p[1], p[2], p[3]])
            .collect()
    }
}
