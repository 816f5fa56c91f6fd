//! The picture on the GPU: the frame as a texture (256x256, or 1024x1024 enlarged by the
//! look's enhancer), laid out in the window by
//! [`Layout`] and enlarged in `picture.wgsl`.

use mvgen_feed::SIDE;
use mvgen_video::{Aspect, Fill};

/// Where the picture and its square go in a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub picture_min: [f32; 2],
    pub picture_size: [f32; 2],
    pub square_min: [f32; 2],
    pub square_side: f32,
    pub fill: Fill,
}

impl Layout {
    /// The picture in a `width` x `height` window: the whole window, or the largest
    /// rectangle of `aspect` centred in it; the square inside it (covering it for crop).
    pub fn new(width: u32, height: u32, aspect: Option<Aspect>, fill: Fill) -> Self {
        let (w, h) = (width as f32, height as f32);
        let (pw, ph) = match aspect {
            None => (w, h),
            Some(aspect) => {
                let (a, b) = aspect.ratio();
                let pw = w.min(h * a as f32 / b as f32);
                (pw, pw * b as f32 / a as f32)
            }
        };
        let picture_min = [((w - pw) / 2.0).floor(), ((h - ph) / 2.0).floor()];
        let side = if fill == Fill::Crop {
            pw.max(ph)
        } else {
            pw.min(ph)
        };
        let square_min = [
            picture_min[0] + (pw - side) / 2.0,
            picture_min[1] + (ph - side) / 2.0,
        ];
        Self {
            picture_min,
            picture_size: [pw, ph],
            square_min,
            square_side: side,
            fill,
        }
    }

    /// The square's pixel rectangle (x, y, side), rounded: where the frame shows whole.
    pub fn square(&self) -> (i32, i32, i32) {
        (
            self.square_min[0].round() as i32,
            self.square_min[1].round() as i32,
            self.square_side.round() as i32,
        )
    }

    fn uniform(&self, sharp: bool) -> [u8; 48] {
        let fill: u32 = match self.fill {
            Fill::Blur => 0,
            Fill::Mirror => 1,
            Fill::Crop => 2,
            Fill::Black => 3,
        };
        let words: [u32; 12] = [
            self.picture_min[0].to_bits(),
            self.picture_min[1].to_bits(),
            self.picture_size[0].to_bits(),
            self.picture_size[1].to_bits(),
            self.square_min[0].to_bits(),
            self.square_min[1].to_bits(),
            self.square_side.to_bits(),
            fill,
            sharp as u32,
            mvgen_video::format::MIRROR_INSET.to_bits(),
            0,
            0,
        ];
        let mut bytes = [0u8; 48];
        for (chunk, w) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        bytes
    }
}

/// The blur fill's background: the frame at this size, blurred and darkened on the CPU.
const BACKGROUND_SIDE: usize = 32;

/// The pipeline, the frame's and the background's textures, and the layout's buffer.
pub struct Picture {
    pipeline: wgpu::RenderPipeline,
    bind_layout: wgpu::BindGroupLayout,
    bind_group: wgpu::BindGroup,
    sampler: wgpu::Sampler,
    texture_format: wgpu::TextureFormat,
    /// The frame's texture: the feed's 256, or the enhancer's 1024.
    texture: wgpu::Texture,
    background: wgpu::Texture,
    background_rgba: Vec<u8>,
    layout_buffer: wgpu::Buffer,
    /// Catmull-Rom (a GPU), or bilinear (the CPU draws: lavapipe).
    sharp: bool,
}

impl Picture {
    /// For a surface of `format`. The frame's texture is sRGB-encoded bytes either way:
    /// on an sRGB surface it is read as sRGB (decoded, then encoded again on output).
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat, sharp: bool) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mvgen-stage"),
            source: wgpu::ShaderSource::Wgsl(include_str!("picture.wgsl").into()),
        });
        let texture_format = if format.is_srgb() {
            wgpu::TextureFormat::Rgba8UnormSrgb
        } else {
            wgpu::TextureFormat::Rgba8Unorm
        };
        let texture = square(device, texture_format, "mvgen-stage-frame", SIDE);
        let background = square(
            device,
            texture_format,
            "mvgen-stage-background",
            BACKGROUND_SIDE,
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("mvgen-stage-bilinear"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let layout_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("mvgen-stage-layout"),
            size: 48,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let texture_entry = wgpu::BindGroupLayoutEntry {
            binding: 1,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let entries = [
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            texture_entry,
            wgpu::BindGroupLayoutEntry {
                binding: 2,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 3,
                ..texture_entry
            },
        ];
        let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("mvgen-stage"),
            entries: &entries,
        });
        let bind_group = bind(
            device,
            &bind_layout,
            (&layout_buffer, &sampler),
            (&texture, &background),
        );
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("mvgen-stage"),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("mvgen-stage"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(format.into())],
            }),
            primitive: Default::default(),
            depth_stencil: None,
            multisample: Default::default(),
            multiview_mask: None,
            cache: None,
        });
        Self {
            pipeline,
            bind_layout,
            bind_group,
            sampler,
            texture_format,
            texture,
            background,
            background_rgba: vec![255; BACKGROUND_SIDE * BACKGROUND_SIDE * 4],
            layout_buffer,
            sharp,
        }
    }

    /// Upload a frame (`side` x `side` RGBA: the feed's, or enlarged by the enhancer),
    /// and its blurred, darkened background.
    pub fn set_frame(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        rgba: &[u8],
        side: usize,
    ) {
        if self.texture.width() as usize != side {
            self.texture = square(device, self.texture_format, "mvgen-stage-frame", side);
            self.bind_group = bind(
                device,
                &self.bind_layout,
                (&self.layout_buffer, &self.sampler),
                (&self.texture, &self.background),
            );
        }
        upload(queue, &self.texture, rgba, side);
        blurred_background(rgba, side, &mut self.background_rgba);
        upload(
            queue,
            &self.background,
            &self.background_rgba,
            BACKGROUND_SIDE,
        );
    }

    pub fn set_layout(&self, queue: &wgpu::Queue, layout: &Layout) {
        queue.write_buffer(&self.layout_buffer, 0, &layout.uniform(self.sharp));
    }

    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

/// A square RGBA texture the shader samples.
fn square(
    device: &wgpu::Device,
    format: wgpu::TextureFormat,
    label: &str,
    side: usize,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: side as u32,
            height: side as u32,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

/// The shader's bindings: the layout's buffer, the frame, the sampler, the background.
fn bind(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    (uniform, sampler): (&wgpu::Buffer, &wgpu::Sampler),
    (frame, background): (&wgpu::Texture, &wgpu::Texture),
) -> wgpu::BindGroup {
    let view = frame.create_view(&wgpu::TextureViewDescriptor::default());
    let background_view = background.create_view(&wgpu::TextureViewDescriptor::default());
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("mvgen-stage"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::TextureView(&view),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::Sampler(sampler),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: wgpu::BindingResource::TextureView(&background_view),
            },
        ],
    })
}

fn upload(queue: &wgpu::Queue, texture: &wgpu::Texture, rgba: &[u8], side: usize) {
    queue.write_texture(
        texture.as_image_copy(),
        rgba,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(4 * side as u32),
            rows_per_image: Some(side as u32),
        },
        texture.size(),
    );
}

/// The frame (`side` a multiple of [`BACKGROUND_SIDE`]) averaged down to
/// [`BACKGROUND_SIDE`], blurred over 3 of those pixels (a 3x3 box, twice) and darkened as
/// the publishing formats' blur fill darkens it.
fn blurred_background(rgba: &[u8], side: usize, out: &mut [u8]) {
    const N: usize = BACKGROUND_SIDE;
    let block = side / N;
    let mut small = vec![[0f32; 3]; N * N];
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        let (x, y) = (i % side / block, i / side / block);
        for c in 0..3 {
            small[y * N + x][c] += px[c] as f32 / (block * block) as f32;
        }
    }
    for _ in 0..2 {
        let from = small.clone();
        for y in 0..N {
            for x in 0..N {
                let mut sum = [0f32; 3];
                let mut n = 0.0;
                for (dx, dy) in (-1i32..=1).flat_map(|dx| (-1i32..=1).map(move |dy| (dx, dy))) {
                    let (sx, sy) = (x as i32 + dx, y as i32 + dy);
                    if (0..N as i32).contains(&sx) && (0..N as i32).contains(&sy) {
                        let p = from[sy as usize * N + sx as usize];
                        (0..3).for_each(|c| sum[c] += p[c]);
                        n += 1.0;
                    }
                }
                small[y * N + x] = sum.map(|v| v / n);
            }
        }
    }
    let level = mvgen_video::encode::BACKGROUND_LEVEL;
    for (o, p) in out.chunks_exact_mut(4).zip(&small) {
        for c in 0..3 {
            o[c] = (p[c] * level).round() as u8;
        }
        o[3] = 255;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_square_sits_in_the_middle_of_the_picture() {
        // A 16:9 monitor showing 16:9: the square is the picture's height, centred.
        let l = Layout::new(1280, 720, None, Fill::Blur);
        assert_eq!(l.square(), (280, 0, 720));
        // 9:16 on a 16:9 monitor: a 405x720 picture in the middle, a 405 square in it.
        let l = Layout::new(1280, 720, Some(Aspect::Tall), Fill::Black);
        assert_eq!(
            (l.picture_size[0].round(), l.picture_size[1]),
            (405.0, 720.0)
        );
        assert_eq!(l.square(), (437, 158, 405));
        // Crop covers the picture.
        let l = Layout::new(1280, 720, None, Fill::Crop);
        assert_eq!(l.square(), (0, -280, 1280));
    }
}

#[cfg(test)]
mod gpu_tests {
    use super::*;

    /// Draw `rgba` (a square: 256x256, or the enhancer's 1024x1024) through the picture's pipeline into `width` x `height` and
    /// read it back (RGBA), on wgpu's Vulkan backend (lavapipe without a GPU).
    fn draw(rgba: &[u8], width: u32, height: u32, layout: &Layout, sharp: bool) -> Vec<u8> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter =
            pollster::block_on(instance.request_adapter(&Default::default())).expect("adapter");
        let (device, queue) =
            pollster::block_on(adapter.request_device(&Default::default())).unwrap();
        let format = wgpu::TextureFormat::Rgba8Unorm;
        let mut picture = Picture::new(&device, format, sharp);
        let side = ((rgba.len() / 4) as f64).sqrt() as usize;
        picture.set_frame(&device, &queue, rgba, side);
        picture.set_layout(&queue, layout);
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = target.create_view(&Default::default());
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: None,
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::RED),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            picture.draw(&mut pass);
        }
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
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
        queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |r| r.unwrap());
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        let bytes = slice.get_mapped_range().unwrap().to_vec();
        drop(readback);
        bytes
    }

    /// A smooth picture with a different colour in each corner.
    fn corners() -> Vec<u8> {
        let mut rgba = vec![255u8; SIDE * SIDE * 4];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let p = &mut rgba[4 * (y * SIDE + x)..][..3];
                p[0] = x as u8;
                p[1] = y as u8;
                p[2] = (255 - x) as u8;
            }
        }
        rgba
    }

    /// An enlarged frame (the enhancer's 1024x1024) takes the texture's place: drawn 1:1
    /// into a 1024 window, pixel for pixel, with either filter.
    #[test]
    fn an_enlarged_frame_is_drawn_at_its_own_size() {
        const BIG: usize = 1024;
        let mut rgba = vec![255u8; BIG * BIG * 4];
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % BIG, i / BIG);
            px[0] = (x % 256) as u8;
            px[1] = (y / 4) as u8;
            px[2] = ((x * 7 + y * 3) % 256) as u8;
        }
        for sharp in [false, true] {
            let layout = Layout::new(BIG as u32, BIG as u32, None, Fill::Black);
            let out = draw(&rgba, BIG as u32, BIG as u32, &layout, sharp);
            for (x, y) in [(0, 0), (300, 17), (511, 512), (1023, 1023), (777, 100)] {
                let (shown, want) = (
                    &out[4 * (y * BIG + x)..][..3],
                    &rgba[4 * (y * BIG + x)..][..3],
                );
                for c in 0..3 {
                    assert!(
                        shown[c].abs_diff(want[c]) <= 2,
                        "({x}, {y}), sharp {sharp}: {shown:?}, the frame {want:?}"
                    );
                }
            }
        }
    }

    /// Catmull-Rom is the sharper filter: across a step from level 64 to 192, enlarged 4
    /// times, it overshoots on both sides (as a sharp filter does, by a few levels), where
    /// bilinear stays within the step. Crop fills the whole window with the frame.
    #[test]
    fn catmull_rom_is_sharper_than_bilinear_and_crop_covers_the_window() {
        let mut step = vec![255u8; SIDE * SIDE * 4];
        for (i, px) in step.chunks_exact_mut(4).enumerate() {
            let level = if i % SIDE < SIDE / 2 { 64 } else { 192 };
            px[..3].fill(level);
        }
        let layout = Layout::new(1024, 1024, None, Fill::Black);
        let row =
            |out: &[u8]| -> Vec<u8> { (0..1024).map(|x| out[4 * (512 * 1024 + x)]).collect() };
        let sharp = row(&draw(&step, 1024, 1024, &layout, true));
        let soft = row(&draw(&step, 1024, 1024, &layout, false));
        let range = |r: &[u8]| (*r.iter().min().unwrap(), *r.iter().max().unwrap());
        let (s_lo, s_hi) = range(&sharp);
        let (b_lo, b_hi) = range(&soft);
        assert!(s_lo < 62 && s_hi > 194, "Catmull-Rom: {s_lo}..{s_hi}");
        assert!(b_lo >= 63 && b_hi <= 193, "bilinear: {b_lo}..{b_hi}");
        // Crop: a 2:1 window, the square 1024 wide, its middle rows shown; no fill.
        let frame = corners();
        let out = draw(
            &frame,
            1024,
            512,
            &Layout::new(1024, 512, None, Fill::Crop),
            true,
        );
        for x in [0usize, 511, 1023] {
            let shown = &out[4 * (256 * 1024 + x)..][..3];
            let want = &frame[4 * (128 * SIDE + x / 4)..][..3];
            assert!(
                shown
                    .iter()
                    .zip(want)
                    .all(|(a, b)| (*a as i32 - *b as i32).abs() <= 3),
                "crop at x {x}: {shown:?} where the frame has {want:?}"
            );
        }
    }

    #[test]
    fn the_frame_fills_its_square_and_the_fills_meet_it() {
        let frame = corners();
        // 1024x512: the square is 512 at x 256; pixel (x, y) of the square shows the
        // frame's pixel (x / 2, y / 2), within the filter's rounding, with either filter:
        // Catmull-Rom (a GPU) or bilinear (a CPU adapter).
        let layout = Layout::new(1024, 512, None, Fill::Black);
        for sharp in [true, false] {
            let out = draw(&frame, 1024, 512, &layout, sharp);
            let at = |x: usize, y: usize| &out[4 * (y * 1024 + x)..][..3];
            for (x, y) in [(0, 0), (100, 300), (255, 255), (511, 511), (300, 40)] {
                let shown = at(256 + x, y);
                let want = &frame[4 * ((y / 2) * SIDE + x / 2)..][..3];
                for c in 0..3 {
                    assert!(
                        (shown[c] as i32 - want[c] as i32).abs() <= 2,
                        "square ({x}, {y}), sharp {sharp}: {shown:?}, the frame {want:?}"
                    );
                }
            }
            assert_eq!(at(10, 10), [0, 0, 0], "black fill");
        }
        // Mirror: the band left of the square reflects it about a line 4 pixels (2 of
        // the frame's) inside its left edge, and the square's pixels outside that line
        // are the reflection's too.
        let mirror = Layout::new(1024, 512, None, Fill::Mirror);
        let out = draw(&frame, 1024, 512, &mirror, true);
        let at = |x: usize, y: usize| out[4 * (y * 1024 + x)..][..3].to_vec();
        assert_eq!(at(255, 100), at(264, 100));
        assert_eq!(at(200, 100), at(319, 100));
        assert_eq!(at(257, 100), at(262, 100));
        // Blur: the square as it is, the band beside it darker, never black.
        let blur = Layout::new(1024, 512, None, Fill::Blur);
        let out = draw(&frame, 1024, 512, &blur, true);
        let inside = &out[4 * (300 * 1024 + 256 + 100)..][..3];
        let want = &frame[4 * (150 * SIDE + 50)..][..3];
        assert!(
            inside
                .iter()
                .zip(want)
                .all(|(a, b)| (*a as i32 - *b as i32).abs() <= 2),
            "the square with a blur fill: {inside:?} where the frame has {want:?}"
        );
        let band: u32 = (0..256).map(|x| out[4 * (250 * 1024 + x) + 1] as u32).sum();
        let mean = band / 256;
        assert!((40..150).contains(&mean), "blur band's green level: {mean}");
    }
}
