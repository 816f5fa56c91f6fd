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

    pub fn all_finite(&self) -> bool {
        self.planes.iter().all(|v| v.is_finite())
    }
}
