//! The torch trainer: the networks of [`net`](super::net) and the step of
//! [`on_burn`](super::on_burn), written directly on libtorch through tch-rs (feature
//! `torch`), on the CPU or an NVIDIA GPU.
//!
//! Weights enter and leave as burn modules ([`TorchTrainer::open`],
//! [`Trainer::generator`]), so a checkpoint's networks, the snapshots, `mvgen eval` and
//! `mvgen export` do not depend on which trainer made them. Adam is written out here, with
//! PyTorch's arithmetic, so that its moments can be saved and a resumed run continues bit
//! for bit; on the CPU it updates each tensor in one fused pass (PyTorch's default makes
//! seven).
//!
//! The step matches the reference's: the discriminator's gradients come from its own
//! loss only, and the generator's step asks autograd for the generator's gradients only
//! (the reference turns the discriminator's `requires_grad` off for that).

use super::net::{self, is_dropout_block, Discriminator, Generator, DEPTH, NORM_EPS};
use super::{batch_values, Example, Losses, PhaseMs, Start, Timer, TrainConfig, Trainer};
use anyhow::{ensure, Context};
use burn::module::Param;
use mvgen_core::spectrogram::SIZE;
use tch::{Device, Reduction, Tensor};

/// A learned per-channel scale and shift after per-image normalisation (net.rs's `Norm`).
struct Norm {
    gamma: Tensor,
    beta: Tensor,
}

impl Norm {
    fn from_burn(n: &net::Norm, device: Device) -> Self {
        Self {
            gamma: to_torch(&n.gamma, device),
            beta: to_torch(&n.beta, device),
        }
    }

    fn write_to_burn(&self, n: &mut net::Norm) {
        n.gamma = to_burn(&self.gamma);
        n.beta = to_burn(&self.beta);
    }

    fn params(&self) -> [&Tensor; 2] {
        [&self.gamma, &self.beta]
    }

    /// Per image: at batch 1 that is BatchNorm in training mode, PyTorch's own kernel
    /// for the reference's layer; above it, instance normalisation.
    fn forward(&self, x: &Tensor) -> Tensor {
        let (gamma, beta) = (Some(&self.gamma), Some(&self.beta));
        if x.size()[0] == 1 {
            x.batch_norm(gamma, beta, None, None, true, 0.1, NORM_EPS, true)
        } else {
            x.instance_norm(gamma, beta, None, None, true, 0.1, NORM_EPS, true)
        }
    }
}

/// `unet_256`, field for field as net.rs's `Generator`.
struct TorchGenerator {
    down: Vec<Tensor>,
    down_norm: Vec<Norm>,
    up: Vec<Tensor>,
    /// The bias of `up[7]`, the only biased layer.
    up_bias: Tensor,
    up_norm: Vec<Norm>,
}

impl TorchGenerator {
    fn from_burn(g: &Generator, device: Device) -> Self {
        Self {
            down: g.down.iter().map(|c| to_torch(&c.weight, device)).collect(),
            down_norm: g
                .down_norm
                .iter()
                .map(|n| Norm::from_burn(n, device))
                .collect(),
            up: g.up.iter().map(|c| to_torch(&c.weight, device)).collect(),
            up_bias: to_torch(
                g.up[DEPTH - 1]
                    .bias
                    .as_ref()
                    .expect("the outermost layer's bias"),
                device,
            ),
            up_norm: g
                .up_norm
                .iter()
                .map(|n| Norm::from_burn(n, device))
                .collect(),
        }
    }

    fn write_to_burn(&self, mut g: Generator) -> Generator {
        for (c, w) in g.down.iter_mut().zip(&self.down) {
            c.weight = to_burn(w);
        }
        for (n, t) in g.down_norm.iter_mut().zip(&self.down_norm) {
            t.write_to_burn(n);
        }
        for (c, w) in g.up.iter_mut().zip(&self.up) {
            c.weight = to_burn(w);
        }
        g.up[DEPTH - 1].bias = Some(to_burn(&self.up_bias));
        for (n, t) in g.up_norm.iter_mut().zip(&self.up_norm) {
            t.write_to_burn(n);
        }
        g
    }

    fn params(&self) -> Vec<&Tensor> {
        let mut p: Vec<&Tensor> = self.down.iter().collect();
        p.extend(self.down_norm.iter().flat_map(Norm::params));
        p.extend(&self.up);
        p.push(&self.up_bias);
        p.extend(self.up_norm.iter().flat_map(Norm::params));
        p
    }

    /// Spectrograms `[n, 1, 256, 256]` to frames `[n, 3, 256, 256]`; `dropout` 0 for
    /// inference.
    fn forward(&self, spectrogram: &Tensor, slope: &Tensor, dropout: f64) -> Tensor {
        let mut x = down(spectrogram, &self.down[0]);
        let mut skips = vec![x.shallow_clone()];
        for i in 1..DEPTH {
            let h = down(&x.prelu(slope), &self.down[i]);
            x = if i < DEPTH - 1 {
                let h = self.down_norm[i - 1].forward(&h);
                skips.push(h.shallow_clone());
                h
            } else {
                h
            };
        }
        for j in 0..DEPTH {
            let outermost = j == DEPTH - 1;
            // In place, as the reference: x is this loop's own (a concatenation, or the
            // innermost output, which no skip holds).
            let h = x.relu_().conv_transpose2d(
                &self.up[j],
                outermost.then_some(&self.up_bias),
                [2, 2],
                [1, 1],
                [0, 0],
                1,
                [1, 1],
            );
            if outermost {
                return h.tanh();
            }
            let mut h = self.up_norm[j].forward(&h);
            if is_dropout_block(j) && dropout > 0.0 {
                h = h.dropout(dropout, true);
            }
            x = Tensor::cat(&[&skips[DEPTH - 2 - j], &h], 1);
        }
        unreachable!("the loop returns at the outermost layer")
    }
}

/// A 4x4 convolution, stride 2, padding 1, no bias.
fn down(x: &Tensor, weight: &Tensor) -> Tensor {
    x.conv2d(weight, None::<Tensor>, [2, 2], [1, 1], [1, 1], 1)
}

/// The 70x70 PatchGAN, field for field as net.rs's `Discriminator`.
struct TorchDiscriminator {
    conv: Vec<Tensor>,
    /// Biases of the first and the last convolution.
    bias: [Tensor; 2],
    norm: Vec<Norm>,
}

impl TorchDiscriminator {
    fn from_burn(d: &Discriminator, device: Device) -> Self {
        let bias = |i: usize| to_torch(d.conv[i].bias.as_ref().expect("a biased layer"), device);
        Self {
            conv: d.conv.iter().map(|c| to_torch(&c.weight, device)).collect(),
            bias: [bias(0), bias(d.conv.len() - 1)],
            norm: d.norm.iter().map(|n| Norm::from_burn(n, device)).collect(),
        }
    }

    fn write_to_burn(&self, mut d: Discriminator) -> Discriminator {
        for (c, w) in d.conv.iter_mut().zip(&self.conv) {
            c.weight = to_burn(w);
        }
        let last = d.conv.len() - 1;
        d.conv[0].bias = Some(to_burn(&self.bias[0]));
        d.conv[last].bias = Some(to_burn(&self.bias[1]));
        for (n, t) in d.norm.iter_mut().zip(&self.norm) {
            t.write_to_burn(n);
        }
        d
    }

    fn params(&self) -> Vec<&Tensor> {
        let mut p: Vec<&Tensor> = self.conv.iter().collect();
        p.extend(&self.bias);
        p.extend(self.norm.iter().flat_map(Norm::params));
        p
    }

    fn forward(&self, spectrogram: &Tensor, frame: &Tensor, slope: &Tensor) -> Tensor {
        let mut x = Tensor::cat(&[spectrogram, frame], 1);
        let last = self.conv.len() - 1;
        for (i, w) in self.conv.iter().enumerate() {
            let stride = if i < 3 { 2 } else { 1 };
            let bias = match i {
                0 => Some(&self.bias[0]),
                i if i == last => Some(&self.bias[1]),
                _ => None,
            };
            x = x.conv2d(w, bias, [stride, stride], [1, 1], [1, 1], 1);
            if i == last {
                break;
            }
            if i > 0 {
                x = self.norm[i - 1].forward(&x);
            }
            x = x.prelu(slope);
        }
        x
    }
}

/// A burn parameter as a libtorch leaf that requires a gradient.
fn to_torch<const D: usize>(p: &Param<burn::tensor::Tensor<D>>, device: Device) -> Tensor {
    let t = p.val();
    let shape: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
    let values: Vec<f32> = t.into_data().try_to_vec().expect("f32 weights");
    Tensor::from_slice(&values)
        .reshape(&shape)
        .to_device(device)
        .set_requires_grad(true)
}

/// A libtorch tensor as a burn parameter on the CPU (flex).
fn to_burn<const D: usize>(t: &Tensor) -> Param<burn::tensor::Tensor<D>> {
    let shape: [usize; D] = t
        .size()
        .iter()
        .map(|&d| d as usize)
        .collect::<Vec<_>>()
        .try_into()
        .expect("a tensor of the parameter's rank");
    Param::from_tensor(burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(values(t), shape),
        &burn::tensor::Device::flex(),
    ))
}

/// A tensor's values, flattened, on the CPU.
fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.detach().to_device(Device::Cpu).flatten(0, -1)).expect("an f32 tensor")
}

/// Adam with PyTorch's arithmetic (eps added to the bias-corrected root of the second
/// moment), its moments kept here so that a checkpoint can save them.
struct Adam {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken.
    t: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

const ADAM_MAGIC: &[u8; 8] = b"MVGENAD1";

/// One Adam update's constants, in the precision of the weights.
struct AdamStep {
    beta1: f32,
    beta2: f32,
    /// sqrt(1 - beta2^t)
    bias2_sqrt: f32,
    /// lr / (1 - beta1^t)
    step: f32,
    eps: f32,
}

impl AdamStep {
    /// The update in one pass over weight, gradient and moments. PyTorch's default CPU
    /// Adam makes seven passes (one tensor operation each), which cost a quarter of a
    /// pix2pix step at ngf 64; this is what its `fused=True` computes, element by element.
    fn fused(&self, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) {
        use rayon::prelude::*;
        let n = p.numel();
        for t in [p, g, m, v] {
            assert!(
                t.kind() == tch::Kind::Float && t.is_contiguous() && t.numel() == n,
                "Adam works on contiguous f32 tensors of one size"
            );
        }
        // SAFETY: four distinct, contiguous f32 buffers of n values on the CPU (checked
        // above; the moments are Adam's own, the gradient autograd's), and nothing else
        // reads or writes them during the update: no graph holds them (autograd is off
        // and the step's graphs are consumed).
        let (p, g, m, v) = unsafe {
            let slice = |t: &Tensor| std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, n);
            (slice(p), &*slice(g), slice(m), slice(v))
        };
        const CHUNK: usize = 1 << 14;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                // Zipped, not indexed: no bounds checks, so the loop vectorises.
                for (((p, g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    *m += (1.0 - self.beta1) * (g - *m);
                    *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
                    *p -= self.step * *m / (v.sqrt() / self.bias2_sqrt + self.eps);
                }
            });
    }

    /// The same update as tensor operations, for tensors on a GPU (as PyTorch's
    /// single-tensor Adam computes it).
    fn tensors(&self, p: &Tensor, g: &Tensor, m: &mut Tensor, v: &mut Tensor) {
        let _ = m.lerp_(g, 1.0 - self.beta1 as f64);
        let _ = v.g_mul_scalar_(self.beta2 as f64);
        let _ = v.addcmul_(&(g * (1.0 - self.beta2 as f64)), g);
        let mut denom = v.sqrt();
        let _ = denom.g_div_scalar_(self.bias2_sqrt as f64);
        let _ = denom.g_add_scalar_(self.eps as f64);
        let _ = p
            .shallow_clone()
            .addcdiv_(&(&*m * -(self.step as f64)), &denom);
    }
}

impl Adam {
    fn new(cfg: &TrainConfig, params: &[&Tensor]) -> Self {
        Self {
            m: params.iter().map(|p| p.zeros_like()).collect(),
            v: params.iter().map(|p| p.zeros_like()).collect(),
            t: 0,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.adam_eps,
        }
    }

    fn step(&mut self, params: &[&Tensor], grads: &[Tensor], lr: f64) {
        let _no_grad = tch::no_grad_guard();
        self.t += 1;
        let k = AdamStep {
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            bias2_sqrt: (1.0 - self.beta2.powi(self.t as i32)).sqrt() as f32,
            step: (lr / (1.0 - self.beta1.powi(self.t as i32))) as f32,
            eps: self.eps as f32,
        };
        for (((p, g), m), v) in params.iter().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            if p.device() == Device::Cpu {
                k.fused(p, &g.contiguous(), m, v);
            } else {
                k.tensors(p, g, m, v);
            }
        }
    }

    /// The step count, then each moment's values (f32, little-endian).
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = ADAM_MAGIC.to_vec();
        out.extend_from_slice(&self.t.to_le_bytes());
        for t in self.m.iter().chain(&self.v) {
            let v = values(t);
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
        }
        out
    }

    fn load(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let bad = "the checkpoint's optimiser state is not the torch trainer's (or is damaged)";
        ensure!(bytes.len() >= 16 && &bytes[..8] == ADAM_MAGIC, bad);
        self.t = u64::from_le_bytes(bytes[8..16].try_into()?);
        let mut at = 16;
        for t in self.m.iter_mut().chain(&mut self.v) {
            let n = bytes
                .get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
                .context(bad)?;
            ensure!(n as i64 == t.numel() as i64, bad);
            let data = bytes.get(at + 8..at + 8 + 4 * n).context(bad)?;
            let v: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            t.copy_(
                &Tensor::from_slice(&v)
                    .reshape(t.size())
                    .to_device(t.device()),
            );
            at += 8 + 4 * n;
        }
        ensure!(at == bytes.len(), bad);
        Ok(())
    }
}

pub struct TorchTrainer {
    g: TorchGenerator,
    d: TorchDiscriminator,
    adam_g: Adam,
    adam_d: Adam,
    device: Device,
    /// LeakyReLU's slope, as the one-element weight of `prelu`.
    slope: Tensor,
    dropout: f64,
    lambda_l1: f64,
    ngf: usize,
    ndf: usize,
}

/// The libtorch device for `cpu` or `gpu`.
pub fn device(kind: &str) -> anyhow::Result<Device> {
    match kind {
        "cpu" => Ok(Device::Cpu),
        "gpu" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "gpu" => anyhow::bail!(
            "libtorch sees no CUDA GPU: the torch trainer needs an NVIDIA GPU and a build \
             with `--features cuda` against a PyTorch with CUDA (README, \"Training on an \
             NVIDIA GPU\")"
        ),
        other => anyhow::bail!("unknown device {other:?}: use cpu or gpu"),
    }
}

impl TorchTrainer {
    /// Fresh networks from the run's seed (the same weights the burn trainer starts
    /// from), or a checkpoint's networks, and its optimiser states on a resume.
    pub fn open(cfg: &TrainConfig, start: Start) -> anyhow::Result<Self> {
        let device = device(&cfg.device)?;
        if device.is_cuda() {
            tch::Cuda::cudnn_set_benchmark(true);
        }
        tch::manual_seed(cfg.seed as i64);
        let cpu = burn::tensor::Device::flex();
        let mut g = Generator::new(cfg.ngf, cfg.seed, &cpu);
        let mut d = Discriminator::new(cfg.ndf, super::discriminator_seed(cfg), &cpu);
        if let Some(ck) = start.networks() {
            g = super::checkpoint::load_module(g, ck.generator.clone())?;
            d = super::checkpoint::load_module(d, ck.discriminator.clone())?;
        }
        let g = TorchGenerator::from_burn(&g, device);
        let d = TorchDiscriminator::from_burn(&d, device);
        let mut adam_g = Adam::new(cfg, &g.params());
        let mut adam_d = Adam::new(cfg, &d.params());
        if let Some(ck) = start.optimisers() {
            adam_g.load(&ck.opt_g)?;
            adam_d.load(&ck.opt_d)?;
        }
        Ok(Self {
            g,
            d,
            adam_g,
            adam_d,
            device,
            slope: Tensor::from_slice(&[net::LEAKY_SLOPE as f32]).to_device(device),
            dropout: net::DROPOUT,
            lambda_l1: cfg.lambda_l1,
            ngf: cfg.ngf,
            ndf: cfg.ndf,
        })
    }

    fn tensors(&self, batch: &[&Example]) -> (Tensor, Tensor) {
        let n = batch.len() as i64;
        let s = SIZE as i64;
        let (a, b) = batch_values(batch);
        (
            Tensor::from_slice(&a)
                .reshape([n, 1, s, s])
                .to_device(self.device),
            Tensor::from_slice(&b)
                .reshape([n, 3, s, s])
                .to_device(self.device),
        )
    }

    /// Waits for the GPU, so that a phase's time is its own.
    fn sync(&self) {
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
    }
}

fn bce_with_logits(logits: &Tensor, real: bool) -> Tensor {
    let target = if real {
        logits.ones_like()
    } else {
        logits.zeros_like()
    };
    logits.binary_cross_entropy_with_logits(
        &target,
        None::<Tensor>,
        None::<Tensor>,
        Reduction::Mean,
    )
}

fn scalar(t: &Tensor) -> f32 {
    t.double_value(&[]) as f32
}

impl Trainer for TorchTrainer {
    fn step(&mut self, batch: &[&Example], lr: f64) -> (Losses, PhaseMs) {
        let mut timer = Timer::start();
        let (x, y) = self.tensors(batch);
        self.sync();
        timer.lap(|ms| &mut ms.data);

        let fake = self.g.forward(&x, &self.slope, self.dropout);
        self.sync();
        timer.lap(|ms| &mut ms.generator_forward);

        let d_fake = bce_with_logits(&self.d.forward(&x, &fake.detach(), &self.slope), false);
        let d_real = bce_with_logits(&self.d.forward(&x, &y, &self.slope), true);
        let d_loss = (&d_fake + &d_real) * 0.5;
        let params = self.d.params();
        let grads = Tensor::run_backward(&[&d_loss], &params, false, false);
        self.adam_d.step(&params, &grads, lr);
        let (d_fake, d_real) = (scalar(&d_fake), scalar(&d_real));
        timer.lap(|ms| &mut ms.discriminator_step);

        let g_gan = bce_with_logits(&self.d.forward(&x, &fake, &self.slope), true);
        let g_l1 = fake.l1_loss(&y, Reduction::Mean);
        let g_loss = &g_gan + &g_l1 * self.lambda_l1;
        let params = self.g.params();
        let grads = Tensor::run_backward(&[&g_loss], &params, false, false);
        self.adam_g.step(&params, &grads, lr);
        let losses = Losses {
            g_gan: scalar(&g_gan),
            g_l1: scalar(&g_l1),
            d_real,
            d_fake,
        };
        timer.lap(|ms| &mut ms.generator_step);
        (losses, timer.ms)
    }

    fn seed(&mut self, seed: u64) {
        tch::manual_seed(seed as i64);
    }

    fn generator(&self) -> anyhow::Result<Generator> {
        let template = Generator::new(self.ngf, 0, &burn::tensor::Device::flex());
        Ok(self.g.write_to_burn(template))
    }

    fn discriminator(&self) -> anyhow::Result<Discriminator> {
        let template = Discriminator::new(self.ndf, 0, &burn::tensor::Device::flex());
        Ok(self.d.write_to_burn(template))
    }

    fn optimisers(&self) -> anyhow::Result<[Vec<u8>; 2]> {
        Ok([self.adam_g.to_bytes(), self.adam_d.to_bytes()])
    }

    fn frames(&self, examples: &[&Example]) -> Vec<Vec<u8>> {
        let _no_grad = tch::no_grad_guard();
        examples
            .iter()
            .map(|e| {
                let (x, _) = self.tensors(&[e]);
                let planes = values(&self.g.forward(&x, &self.slope, 0.0));
                mvgen_core::Frame::from_planes(&planes)
                    .expect("a 3x256x256 frame")
                    .to_rgb8()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::on_burn::BurnTrainer;
    use super::*;

    fn config(ngf: usize, ndf: usize) -> TrainConfig {
        let mut cfg = TrainConfig::bench(ngf, ndf, "cpu");
        cfg.seed = 7;
        cfg
    }

    fn examples() -> Vec<Example> {
        (0..2u8)
            .map(|k| Example {
                gray: (0..SIZE * SIZE)
                    .map(|i| ((i * 7 + k as usize * 31) % 251) as u8)
                    .collect(),
                rgb: (0..3 * SIZE * SIZE)
                    .map(|i| ((i * 13 + k as usize * 17) % 253) as u8)
                    .collect(),
            })
            .collect()
    }

    /// Every weight of a module, in visiting order.
    struct Weights(Vec<f32>);

    impl burn::module::ModuleVisitor for Weights {
        fn visit_float<const D: usize>(&mut self, p: &Param<burn::tensor::Tensor<D>>) {
            self.0
                .extend(p.val().into_data().try_to_vec::<f32>().expect("f32"));
        }
    }

    fn weights<M: burn::module::Module>(m: M) -> Vec<f32> {
        let mut w = Weights(Vec::new());
        m.visit(&mut w);
        w.0
    }

    /// How alike two trainers' updates from the same `start` are: the cosine between the
    /// update vectors and the median absolute difference of the weights.
    fn agreement(start: &[f32], a: &[f32], b: &[f32]) -> (f64, f32) {
        assert!(start.len() == a.len() && a.len() == b.len());
        let (mut dot, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for ((s, x), y) in start.iter().zip(a).zip(b) {
            let (dx, dy) = ((x - s) as f64, (y - s) as f64);
            dot += dx * dy;
            aa += dx * dx;
            bb += dy * dy;
        }
        let mut d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
        d.sort_by(f32::total_cmp);
        (dot / (aa * bb).sqrt(), d[d.len() / 2])
    }

    /// The torch trainer's step is the burn trainer's, to float rounding: the same
    /// losses, and the same updates (dropout off on both sides: their random streams
    /// differ by design). Measured: losses within 2e-6 relative; updates with a cosine
    /// of 0.9987 (G) and a median weight difference of 7e-7, against steps of 2e-4.
    /// The few larger differences are weights whose gradient is within rounding of zero,
    /// where Adam's normalised step can take either sign.
    #[test]
    fn a_torch_step_equals_a_burn_step() {
        let cfg = config(8, 8);
        let data = examples();
        let mut burn =
            BurnTrainer::open(&cfg, burn::tensor::Device::flex().autodiff(), Start::Fresh)
                .expect("burn trainer");
        burn.without_dropout();
        let mut torch = TorchTrainer::open(&cfg, Start::Fresh).expect("torch trainer");
        torch.dropout = 0.0;
        let start_g = weights(burn.generator().unwrap());
        let start_d = weights(burn.discriminator().unwrap());
        assert_eq!(
            start_g,
            weights(torch.generator().unwrap()),
            "same seed, same G"
        );
        assert_eq!(
            start_d,
            weights(torch.discriminator().unwrap()),
            "same seed, same D"
        );
        for (s, e) in data.iter().enumerate() {
            let (lb, _) = burn.step(&[e], 2e-4);
            let (lt, _) = torch.step(&[e], 2e-4);
            for (what, b, t) in [
                ("g_l1", lb.g_l1, lt.g_l1),
                ("g_gan", lb.g_gan, lt.g_gan),
                ("d_real", lb.d_real, lt.d_real),
                ("d_fake", lb.d_fake, lt.d_fake),
            ] {
                assert!(
                    (b - t).abs() <= 1e-5 * b.abs(),
                    "step {s} {what}: burn {b}, torch {t}"
                );
            }
        }
        for (what, start, b, t) in [
            (
                "G",
                start_g,
                weights(burn.generator().unwrap()),
                weights(torch.generator().unwrap()),
            ),
            (
                "D",
                start_d,
                weights(burn.discriminator().unwrap()),
                weights(torch.discriminator().unwrap()),
            ),
        ] {
            let (cos, median) = agreement(&start, &b, &t);
            assert!(
                cos > 0.995 && median < 2e-6,
                "{what} updates differ: cosine {cos}, median difference {median}"
            );
        }
    }

    /// Saving and loading the optimiser state loses nothing.
    #[test]
    fn adam_state_round_trips() {
        let cfg = config(8, 8);
        let data = examples();
        let mut torch = TorchTrainer::open(&cfg, Start::Fresh).unwrap();
        torch.step(&[&data[0]], 2e-4);
        let [g, d] = torch.optimisers().unwrap();
        let mut other = TorchTrainer::open(&cfg, Start::Fresh).unwrap();
        other.adam_g.load(&g).unwrap();
        other.adam_d.load(&d).unwrap();
        assert_eq!(other.optimisers().unwrap(), [g.clone(), d]);
        assert!(other.adam_g.load(&g[..g.len() - 4]).is_err());
        assert!(other.adam_d.load(&g).is_err(), "another network's state");
    }
}
