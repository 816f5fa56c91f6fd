//! The model's output: one 256x256 RGB frame, planar (CHW) f32 in [-1, 1] as the
//! generator's tanh leaves it. Always exactly `3 * 256 * 256` values.

use crate::spectrogram::SIZE;

/// Values in a frame: 3 planes of 256x256.
pub const FRAME_VALUES: usize = 3 * SIZE * SIZE;

#[derive(Clone, PartialEq)]
pub struct Frame {
    planes: Box<[f32]>,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            planes: vec![-1.0; FRAME_VALUES].into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mean = self.planes.iter().sum::<f32>() / FRAME_VALUES as f32;
        write!(f, "Frame {{ mean: {mean} }}")
    }
}

impl Frame {
    /// Planar values: red plane, green plane, blue plane, each row-major.
    pub fn planes(&self) -> &[f32] {
        &self.planes
    }

    pub fn planes_mut(&mut self) -> &mut [f32] {
        &mut self.planes
    }

    pub fn from_planes(planes: &[f32]) -> Option<Self> {
        (planes.len() == FRAME_VALUES).then(|| Self {
            planes: planes.into(),
        })
    }

    /// Interleaved 8-bit RGB, row-major: -1 -> 0, +1 -> 255, rounded.
    pub fn to_rgb8(&self) -> Vec<u8> {
        let mut rgb = Vec::new();
        planes_to_rgb8(&self.planes, &mut rgb);
        rgb
    }

    /// The frame as an 8-bit RGB PNG ([`Self::to_rgb8`]), fast compression: the renderer
    /// and the bounce export both write frames through this.
    pub fn to_png(&self) -> Vec<u8> {
        rgb8_to_png(&self.to_rgb8(), SIZE)
    }

    /// A frame from interleaved 8-bit RGB (a frame's PNG): the inverse of
    /// [`Self::to_rgb8`], exact for every level.
    pub fn from_rgb8(rgb: &[u8]) -> Option<Self> {
        let n = SIZE * SIZE;
        if rgb.len() != 3 * n {
            return None;
        }
        let mut frame = Self::default();
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for (c, &level) in px.iter().enumerate() {
                frame.planes[c * n + i] = level as f32 / 127.5 - 1.0;
            }
        }
        Some(frame)
    }

    pub fn all_finite(&self) -> bool {
        self.planes.iter().all(|v| v.is_finite())
    }
}

/// A square picture of interleaved 8-bit RGB as PNG, fast compression: the one PNG
/// encoding of frames (and of the enhancer's 1024x1024 training pictures).
pub fn rgb8_to_png(rgb: &[u8], side: usize) -> Vec<u8> {
    use image::ImageEncoder;
    assert_eq!(rgb.len(), 3 * side * side, "RGB of a {side}x{side} square");
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        rgb,
        side as u32,
        side as u32,
        image::ExtendedColorType::Rgb8,
    )
    .expect("encoding a checked RGB square as PNG in memory cannot fail");
    bytes
}

/// Three planes of a square picture, [-1, 1] (a frame, or an enhanced one), as
/// interleaved 8-bit RGB into `rgb`: -1 -> 0, +1 -> 255, rounded half up. The one
/// conversion every frame's PNG and video goes through. (`+ 0.5` then truncation, not
/// `round()`: the same levels but within float rounding of a half, and the loop
/// vectorises, which matters at 1024x1024.)
pub fn planes_to_rgb8(planes: &[f32], rgb: &mut Vec<u8>) {
    let n = planes.len() / 3;
    rgb.resize(3 * n, 0);
    let (r, rest) = planes.split_at(n);
    let (g, b) = rest.split_at(n);
    for (((px, &r), &g), &b) in rgb.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
        px[0] = level(r);
        px[1] = level(g);
        px[2] = level(b);
    }
}

/// [`planes_to_rgb8`]'s levels as opaque RGBA, into `rgba` (4 bytes a pixel): the live
/// feed's texture upload.
pub fn planes_to_rgba8(planes: &[f32], rgba: &mut [u8]) {
    let n = planes.len() / 3;
    assert_eq!(rgba.len(), 4 * n, "RGBA of the planes' pixels");
    let (r, rest) = planes.split_at(n);
    let (g, b) = rest.split_at(n);
    for (((px, &r), &g), &b) in rgba.chunks_exact_mut(4).zip(r).zip(g).zip(b) {
        px[0] = level(r);
        px[1] = level(g);
        px[2] = level(b);
        px[3] = 255;
    }
}

/// A value in [-1, 1] as an 8-bit level, rounded (truncating after +0.5, which vectorises).
#[inline(always)]
fn level(v: f32) -> u8 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5) as u8
}

/// Temporal smoothing between consecutive generated frames, shared by the editor, the
/// bounce export and the renderer: `shown = amount * previous + (1 - amount) * generated`,
/// an exponential moving average per value. `amount` 0 shows each frame as generated;
/// 0.9 blends over about ten frames. The seed paper found smooth transitions are what
/// made its videos work.
pub fn smooth_into(shown: &mut Frame, generated: &Frame, amount: f32) {
    let amount = amount.clamp(0.0, 0.99);
    for (s, &g) in shown.planes.iter_mut().zip(generated.planes.iter()) {
        *s = amount * *s + (1.0 - amount) * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb8_round_trips_every_level() {
        let rgb: Vec<u8> = (0..3 * SIZE * SIZE).map(|i| (i * 7 % 256) as u8).collect();
        let frame = Frame::from_rgb8(&rgb).unwrap();
        assert_eq!(frame.to_rgb8(), rgb);
        assert!(Frame::from_rgb8(&rgb[1..]).is_none());
    }

    #[test]
    fn rgba_has_the_rgb_levels_and_is_opaque() {
        let rgb: Vec<u8> = (0..3 * SIZE * SIZE).map(|i| (i * 11 % 256) as u8).collect();
        let frame = Frame::from_rgb8(&rgb).unwrap();
        let mut rgba = vec![0u8; 4 * SIZE * SIZE];
        planes_to_rgba8(&frame.planes, &mut rgba);
        let back: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        assert_eq!(back, rgb);
        assert!(rgba.chunks_exact(4).all(|p| p[3] == 255));
    }

    #[test]
    fn smoothing_zero_is_identity_and_converges() {
        let target = Frame::from_planes(&vec![0.5; FRAME_VALUES]).unwrap();
        let mut shown = Frame::default();
        smooth_into(&mut shown, &target, 0.0);
        assert_eq!(shown, target);
        let mut shown = Frame::default();
        for _ in 0..200 {
            smooth_into(&mut shown, &target, 0.9);
        }
        assert!(shown.planes().iter().all(|v| (v - 0.5).abs() < 1e-4));
    }
}
