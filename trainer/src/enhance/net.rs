//! The enhancer in burn: a learned 4x upscaler of the generator's 256x256 frames, small
//! enough for about 15 ms a frame on two CPU threads (the ESPCN kind: features at the
//! input's size, then one sub-pixel layer, on top of a bilinear enlargement).
//!
//! ```text
//! frame [n,3,h,w] -> features: 3x3 conv, 3->C, ReLU -> refine: 3x3 conv, C->C, ReLU
//!   -> [refined | frame] (C+3 channels)
//!   -> detail: 4x4 transposed conv, stride 4 (each input pixel becomes a 4x4 block)
//! frame -> bilinear x4 (half-pixel)                         -> + detail -> clip [-1, 1]
//! ```
//!
//! The detail starts near zero, so an untrained enhancer is a bilinear enlargement. What
//! it learns is taught against the true pictures, with terms that keep the enhanced frame,
//! averaged back down to 256, the generator's picture less its finest structure (where the
//! generator's mesh lies), and take that structure from the truth (`mod.rs`); how close
//! it stays is measured on every run (at least 30 dB is asked).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::{conv_transpose2d, interpolate};
use burn::tensor::ops::{ConvTransposeOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};

/// How much the enhancer enlarges: the contract's 256 to 1024.
pub const SCALE: usize = mvgen_core::model::ENHANCE_SCALE;

#[derive(Module, Debug)]
pub struct EnhanceNet {
    /// 3x3, 3 -> C, padding 1.
    pub features: Conv2d,
    /// 3x3, C -> C, padding 1.
    pub refine: Conv2d,
    /// `[C + 3, 3, 4, 4]`: the detail each input pixel's features add to its 4x4 block.
    pub shuffle: Param<Tensor<4>>,
}

/// A seeded normal initialiser (splitmix64, Box-Muller): a seed decides a network.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        std: f64,
        device: &Device,
    ) -> Tensor<D> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                let (u, v) = (self.next().max(1e-12), self.next());
                ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos() * std) as f32
            })
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

fn conv3x3(init: &mut Seeded, channels: [usize; 2], device: &Device) -> Conv2d {
    let mut c = Conv2dConfig::new(channels, [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_initializer(Initializer::Zeros)
        .init(device);
    // He initialisation for ReLU.
    let std = (2.0 / (channels[0] * 9) as f64).sqrt();
    c.weight = Param::from_tensor(init.normal([channels[1], channels[0], 3, 3], std, device));
    c.bias = Some(Param::from_tensor(Tensor::zeros([channels[1]], device)));
    c
}

impl EnhanceNet {
    /// An enhancer with `channels` features, initialised from `seed`.
    pub fn new(channels: usize, seed: u64, device: &Device) -> Self {
        let init = &mut Seeded(seed);
        Self {
            features: conv3x3(init, [3, channels], device),
            refine: conv3x3(init, [channels, channels], device),
            shuffle: Param::from_tensor(init.normal([channels + 3, 3, SCALE, SCALE], 1e-3, device)),
        }
    }

    /// Its feature channels.
    pub fn channels(&self) -> usize {
        self.features.weight.dims()[0]
    }

    /// Frames `[n, 3, h, w]` in [-1, 1] to `[n, 3, 4h, 4w]` in [-1, 1].
    pub fn forward(&self, frame: Tensor<4>) -> Tensor<4> {
        let f = relu(self.features.forward(frame.clone()));
        let f = relu(self.refine.forward(f));
        let both = Tensor::cat(vec![f, frame.clone()], 1);
        let detail = conv_transpose2d(
            both,
            self.shuffle.val(),
            None,
            ConvTransposeOptions::new([SCALE, SCALE], [0, 0], [0, 0], [1, 1], 1),
        );
        (bilinear(frame) + detail).clamp(-1.0, 1.0)
    }
}

/// A bilinear enlargement by [`SCALE`] with half-pixel centres (ONNX `Resize`, mode
/// linear, its default coordinates).
pub fn bilinear(frame: Tensor<4>) -> Tensor<4> {
    let mut options = InterpolateOptions::new(InterpolateMode::Bilinear);
    options.align_corners = false;
    options.scale_factor = Some([SCALE as f32; 2]);
    interpolate(frame, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..3 * 16 * 16)
            .map(|i| (i as f32 * 0.37).sin() * 0.8)
            .collect();
        Tensor::from_data(TensorData::new(values, [1, 3, 16, 16]), device)
    }

    /// Untrained, it is a bilinear enlargement: output pixel (20.5, 28.5) in the
    /// enlarged picture sits at input (4.75, 6.75), between pixels (4, 6) and (5, 7).
    #[test]
    fn it_starts_as_a_bilinear_enlargement() {
        let device = Device::flex();
        let net = EnhanceNet::new(8, 1, &device);
        let x = frame(&device);
        let y: Vec<f32> = net.forward(x.clone()).into_data().try_to_vec().unwrap();
        let x: Vec<f32> = x.into_data().try_to_vec().unwrap();
        let at = |r: usize, c: usize| x[r * 16 + c];
        let expected =
            0.0625 * at(4, 6) + 0.1875 * at(4, 7) + 0.1875 * at(5, 6) + 0.5625 * at(5, 7);
        let got = y[20 * 64 + 28];
        assert!((got - expected).abs() < 0.02, "{got} vs {expected}");
    }
}
