//! The paper's networks in burn: pix2pix's `unet_256` generator and 70x70 PatchGAN
//! discriminator, layer for layer as `../shared/anchors/pix2pix_torch.py` (the official
//! defaults), with one deliberate difference in how normalisation is written down.
//!
//! **Normalisation.** pix2pix trains with BatchNorm at batch 1 and, by default, keeps it
//! in training mode at test time, so every BatchNorm normalises each image by its own
//! per-channel statistics: that is instance normalisation with a learned scale and shift.
//! [`Norm`] computes exactly that, in training, evaluation and export alike (ONNX
//! `InstanceNormalization`). Nothing depends on running statistics, so the frames a model
//! makes do not depend on the batch it was trained with or on an `--eval` flag, and the
//! burn forward pass, `mvgen eval` and the exported model agree (tested to 1e-4).
//! At batch sizes above 1 our layers still normalise per image.
//!
//! **Dropout** (0.5, the three inner 512-channel up blocks) acts only while training; the
//! exported generator is deterministic, so the same audio always makes the same frames.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Tensor};

/// LeakyReLU slope on the way down and in the discriminator.
pub const LEAKY_SLOPE: f64 = 0.2;
/// Normalisation epsilon (PyTorch's BatchNorm2d default).
pub const NORM_EPS: f64 = 1e-5;
/// Downsamplings in `unet_256`: 256 -> 1.
pub const DEPTH: usize = 8;
/// Dropout probability in the inner up blocks.
pub const DROPOUT: f64 = 0.5;

/// pix2pix's `init_weights('normal', 0.02)`: weights N(0, 0.02), norm scales N(1, 0.02),
/// biases and shifts 0. Drawn here from a seeded generator (splitmix64, Box-Muller) and
/// in construction order, so a seed decides a network exactly, whatever else uses
/// burn's random source (dropout) and whenever burn would initialise lazily.
pub struct Init {
    state: u64,
}

impl Init {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        mean: f64,
        std: f64,
        device: &Device,
    ) -> Param<Tensor<D>> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                let (u, v) = (self.unit(), self.unit());
                let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (mean + std * z) as f32
            })
            .collect();
        Param::from_tensor(Tensor::from_data(
            burn::tensor::TensorData::new(values, shape),
            device,
        ))
    }

    fn zeros(&mut self, n: usize, device: &Device) -> Param<Tensor<1>> {
        Param::from_tensor(Tensor::zeros([n], device))
    }
}

/// A 4x4 convolution with padding 1; no bias unless `bias`.
fn conv(
    init: &mut Init,
    channels: [usize; 2],
    stride: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    let mut c = Conv2dConfig::new(channels, [4, 4])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    c.weight = init.normal([channels[1], channels[0], 4, 4], 0.0, 0.02, device);
    c.bias = bias.then(|| init.zeros(channels[1], device));
    c
}

/// A 4x4 transposed convolution, stride 2, padding 1: doubles the size.
fn up_conv(init: &mut Init, channels: [usize; 2], bias: bool, device: &Device) -> ConvTranspose2d {
    let mut c = ConvTranspose2dConfig::new(channels, [4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    c.weight = init.normal([channels[0], channels[1], 4, 4], 0.0, 0.02, device);
    c.bias = bias.then(|| init.zeros(channels[1], device));
    c
}

/// Per-image, per-channel normalisation with a learned scale and shift (see the module
/// documentation for why this is pix2pix's BatchNorm at batch 1).
#[derive(Module, Debug)]
pub struct Norm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
}

impl Norm {
    fn new(init: &mut Init, channels: usize, device: &Device) -> Self {
        Self {
            gamma: init.normal([channels], 1.0, 0.02, device),
            beta: init.zeros(channels, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let flat = x.reshape([n, c, h * w]);
        let (var, mean) = flat.clone().var_mean_bias(2);
        let normalised = (flat - mean) / (var + NORM_EPS).sqrt();
        normalised.reshape([n, c, h, w]) * self.gamma.val().reshape([1, c, 1, 1])
            + self.beta.val().reshape([1, c, 1, 1])
    }
}

/// `unet_256`: 8 downsamplings, skip connections, tanh RGB out.
#[derive(Module, Debug)]
pub struct Generator {
    /// `down[0]` takes the spectrogram; `down[7]` is the innermost (1x1).
    pub down: Vec<Conv2d>,
    /// Norms after `down[1..=6]` (not the outermost or innermost).
    pub down_norm: Vec<Norm>,
    /// `up[0]` is the innermost; `up[7]` makes the RGB frame (the only biased one).
    pub up: Vec<ConvTranspose2d>,
    /// Norms after `up[0..=6]`.
    pub up_norm: Vec<Norm>,
    pub dropout: Dropout,
}

/// Channel counts of the generator for `ngf`, outermost first: what each down layer makes.
pub fn down_channels(ngf: usize) -> [usize; DEPTH] {
    [
        ngf,
        ngf * 2,
        ngf * 4,
        ngf * 8,
        ngf * 8,
        ngf * 8,
        ngf * 8,
        ngf * 8,
    ]
}

impl Generator {
    /// A generator initialised from `seed`.
    pub fn new(ngf: usize, seed: u64, device: &Device) -> Self {
        let init = &mut Init::new(seed);
        let ch = down_channels(ngf);
        let down = (0..DEPTH)
            .map(|i| {
                let input = if i == 0 { 1 } else { ch[i - 1] };
                conv(init, [input, ch[i]], 2, false, device)
            })
            .collect();
        let down_norm = (1..DEPTH - 1)
            .map(|i| Norm::new(init, ch[i], device))
            .collect();
        // up[j] undoes down[7 - j]; all but the innermost see skip + up concatenated.
        let up = (0..DEPTH)
            .map(|j| {
                let level = DEPTH - 1 - j;
                let input = if j == 0 { ch[level] } else { 2 * ch[level] };
                let output = if level == 0 { 3 } else { ch[level - 1] };
                up_conv(init, [input, output], level == 0, device)
            })
            .collect();
        let up_norm = (0..DEPTH - 1)
            .map(|j| Norm::new(init, ch[DEPTH - 2 - j], device))
            .collect();
        Self {
            down,
            down_norm,
            up,
            up_norm,
            dropout: DropoutConfig::new(DROPOUT).init(),
        }
    }

    /// The `ngf` this generator was built with.
    pub fn ngf(&self) -> usize {
        self.down[0].weight.dims()[0]
    }

    /// Spectrograms `[n, 1, 256, 256]` in [-1, 1] to frames `[n, 3, 256, 256]` in [-1, 1].
    pub fn forward(&self, spectrogram: Tensor<4>) -> Tensor<4> {
        let mut x = self.down[0].forward(spectrogram);
        let mut skips = vec![x.clone()];
        for i in 1..DEPTH {
            let h = self.down[i].forward(leaky_relu(x, LEAKY_SLOPE));
            x = if i < DEPTH - 1 {
                let h = self.down_norm[i - 1].forward(h);
                skips.push(h.clone());
                h
            } else {
                h
            };
        }
        for j in 0..DEPTH {
            let h = self.up[j].forward(relu(x));
            if j == DEPTH - 1 {
                return tanh(h);
            }
            let h = self.up_norm[j].forward(h);
            let h = if is_dropout_block(j) {
                self.dropout.forward(h)
            } else {
                h
            };
            x = Tensor::cat(vec![skips[DEPTH - 2 - j].clone(), h], 1);
        }
        unreachable!("the loop returns at the outermost layer")
    }
}

/// The three 512-channel up blocks just outside the innermost.
pub fn is_dropout_block(j: usize) -> bool {
    (1..=3).contains(&j)
}

/// The 70x70 PatchGAN (n_layers 3) over spectrogram and frame, 4 channels in, a 30x30
/// map of real/fake logits out.
#[derive(Module, Debug)]
pub struct Discriminator {
    pub conv: Vec<Conv2d>,
    /// Norms after `conv[1..=3]`.
    pub norm: Vec<Norm>,
}

impl Discriminator {
    /// A discriminator initialised from `seed`.
    pub fn new(ndf: usize, seed: u64, device: &Device) -> Self {
        let init = &mut Init::new(seed);
        let conv = vec![
            conv(init, [4, ndf], 2, true, device),
            conv(init, [ndf, ndf * 2], 2, false, device),
            conv(init, [ndf * 2, ndf * 4], 2, false, device),
            conv(init, [ndf * 4, ndf * 8], 1, false, device),
            conv(init, [ndf * 8, 1], 1, true, device),
        ];
        let norm = [ndf * 2, ndf * 4, ndf * 8]
            .into_iter()
            .map(|c| Norm::new(init, c, device))
            .collect();
        Self { conv, norm }
    }

    pub fn forward(&self, spectrogram: Tensor<4>, frame: Tensor<4>) -> Tensor<4> {
        let mut x = Tensor::cat(vec![spectrogram, frame], 1);
        for (i, conv) in self.conv.iter().enumerate() {
            x = conv.forward(x);
            if i == self.conv.len() - 1 {
                break;
            }
            if i > 0 {
                x = self.norm[i - 1].forward(x);
            }
            x = leaky_relu(x, LEAKY_SLOPE);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_reference() {
        let device = Device::flex();
        // The reference's counts (BatchNorm's scale and shift are our Norm's). pix2pix's
        // published 54,413,955 is for 3 input channels; ours has 1, which takes
        // 2 x 64 x 4 x 4 = 2048 weights off the first convolution.
        assert_eq!(
            Generator::new(64, 0, &device).num_params(),
            54_413_955 - 2_048
        );
        assert_eq!(Discriminator::new(64, 0, &device).num_params(), 2_766_657);
    }

    #[test]
    fn shapes_and_range() {
        let device = Device::flex();
        let g = Generator::new(8, 1, &device);
        assert_eq!(g.ngf(), 8);
        let x = Tensor::<4>::random(
            [2, 1, 256, 256],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let y = g.forward(x.clone());
        assert_eq!(y.dims(), [2, 3, 256, 256]);
        let v: Vec<f32> = y.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|v| v.abs() <= 1.0 && v.is_finite()));
        let d = Discriminator::new(8, 2, &device);
        assert_eq!(d.forward(x, y).dims(), [2, 1, 30, 30]);
    }
}
