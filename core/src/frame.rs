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
        let n = SIZE * SIZE;
        let mut rgb = vec![0u8; 3 * n];
        for i in 0..n {
            for c in 0..3 {
                rgb[3 * i + c] =
                    ((self.planes[c * n + i].clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
            }
        }
        rgb
    }

    /// The frame as an 8-bit RGB PNG ([`Self::to_rgb8`]), fast compression: the renderer
    /// and the bounce export both write frames through this.
    pub fn to_png(&self) -> Vec<u8> {
        use image::ImageEncoder;
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut bytes,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Sub,
        )
        .write_image(
            &self.to_rgb8(),
            SIZE as u32,
            SIZE as u32,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encoding a 256x256 RGB PNG in memory cannot fail");
        bytes
    }

    pub fn all_finite(&self) -> bool {
        self.planes.iter().all(|v| v.is_finite())
    }
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
