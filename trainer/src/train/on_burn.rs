//! The burn trainer: flex on the CPU, wgpu on a GPU (`--features gpu`). Its step is the
//! definition the torch trainer is tested against.

use super::checkpoint;
use super::net::{Discriminator, Generator};
use super::{batch_values, Example, Losses, PhaseMs, Start, Timer, TrainConfig, Trainer};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use mvgen_core::spectrogram::SIZE;

/// The networks are out of their options only inside a step.
const HELD: &str = "the networks are held between steps";

pub struct BurnTrainer {
    /// Held in options so that a step can hand them to the optimiser by value: burn
    /// updates a parameter in place only where nothing else holds it.
    generator: Option<Generator>,
    discriminator: Option<Discriminator>,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    device: Device,
    lambda_l1: f64,
}

fn adam(cfg: &TrainConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(cfg.beta1 as f32)
        .with_beta_2(cfg.beta2 as f32)
        .with_epsilon(cfg.adam_eps as f32)
        .init()
}

impl BurnTrainer {
    /// Fresh networks from the run's seed, or a checkpoint's networks, and its
    /// optimiser states on a resume.
    pub fn open(cfg: &TrainConfig, device: Device, start: Start) -> anyhow::Result<Self> {
        device.seed(cfg.seed);
        let mut t = Self {
            generator: Some(Generator::new(cfg.ngf, cfg.seed, &device)),
            discriminator: Some(Discriminator::new(
                cfg.ndf,
                super::discriminator_seed(cfg),
                &device,
            )),
            opt_g: adam(cfg),
            opt_d: adam(cfg),
            device,
            lambda_l1: cfg.lambda_l1,
        };
        if let Some(ck) = start.networks() {
            t.generator = Some(checkpoint::load_module(
                t.generator()?,
                ck.generator.clone(),
            )?);
            t.discriminator = Some(checkpoint::load_module(
                t.discriminator()?,
                ck.discriminator.clone(),
            )?);
        }
        if let Some(ck) = start.optimisers() {
            let optimiser = |opt: ModuleOptimizer, bytes: &[u8]| {
                opt.from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))
                    .map_err(|e| anyhow::anyhow!("reading the optimiser state: {e:?}"))
            };
            t.opt_g = optimiser(t.opt_g, &ck.opt_g)?;
            t.opt_d = optimiser(t.opt_d, &ck.opt_d)?;
        }
        Ok(t)
    }

    /// Dropout off, for comparing steps with the torch trainer's (their random streams
    /// differ by design).
    #[cfg(test)]
    pub fn without_dropout(&mut self) {
        if let Some(g) = self.generator.as_mut() {
            g.dropout = burn::nn::DropoutConfig::new(0.0).init();
        }
    }

    fn tensors(&self, batch: &[&Example]) -> (Tensor<4>, Tensor<4>) {
        batch_tensors(batch, &self.device)
    }
}

/// Spectrograms `[n, 1, 256, 256]` and frames `[n, 3, 256, 256]`, both in [-1, 1].
pub fn batch_tensors(examples: &[&Example], device: &Device) -> (Tensor<4>, Tensor<4>) {
    let n = examples.len();
    let (a, b) = batch_values(examples);
    (
        Tensor::from_data(TensorData::new(a, [n, 1, SIZE, SIZE]), device),
        Tensor::from_data(TensorData::new(b, [n, 3, SIZE, SIZE]), device),
    )
}

/// Binary cross-entropy with logits against an all-`real` or all-fake target, in the
/// stable form max(x, 0) - x t + log(1 + e^-|x|).
pub fn bce_with_logits(logits: Tensor<4>, real: bool) -> Tensor<1> {
    let soft = logits.clone().abs().neg().exp().log1p();
    let loss = if real {
        logits.clone().clamp_min(0.0) - logits + soft
    } else {
        logits.clamp_min(0.0) + soft
    };
    loss.mean()
}

impl Trainer for BurnTrainer {
    /// One Pix2Pix iteration, as the reference: D on (x, G(x)) detached and (x, y),
    /// halved; then G against the updated D, plus lambda x L1.
    fn step(&mut self, batch: &[&Example], lr: f64) -> (Losses, PhaseMs) {
        let mut timer = Timer::start();
        let (x, y) = self.tensors(batch);
        timer.lap(|ms| &mut ms.data);

        let g = self.generator.take().expect(HELD);
        let fake = g.forward(x.clone());
        let _ = fake.clone().detach().sum().into_scalar::<f32>();
        timer.lap(|ms| &mut ms.generator_forward);

        let d = self.discriminator.take().expect(HELD);
        let d_fake = bce_with_logits(d.forward(x.clone(), fake.clone().detach()), false);
        let d_real = bce_with_logits(d.forward(x.clone(), y.clone()), true);
        let d_loss = (d_fake.clone() + d_real.clone()) * 0.5;
        let grads = GradientsParams::from_grads(d_loss.backward(), &d);
        let d = self.opt_d.step(lr, d, grads);
        let (d_fake, d_real) = (d_fake.into_scalar::<f32>(), d_real.into_scalar::<f32>());
        timer.lap(|ms| &mut ms.discriminator_step);

        let g_gan = bce_with_logits(d.forward(x, fake.clone()), true);
        self.discriminator = Some(d);
        let g_l1 = (fake - y).abs().mean();
        let g_loss = g_gan.clone() + g_l1.clone() * self.lambda_l1;
        let grads = GradientsParams::from_grads(g_loss.backward(), &g);
        self.generator = Some(self.opt_g.step(lr, g, grads));
        let losses = Losses {
            g_gan: g_gan.into_scalar(),
            g_l1: g_l1.into_scalar(),
            d_real,
            d_fake,
        };
        timer.lap(|ms| &mut ms.generator_step);
        (losses, timer.ms)
    }

    fn seed(&mut self, seed: u64) {
        self.device.seed(seed);
    }

    fn generator(&self) -> anyhow::Result<Generator> {
        Ok(self.generator.clone().expect(HELD))
    }

    fn discriminator(&self) -> anyhow::Result<Discriminator> {
        Ok(self.discriminator.clone().expect(HELD))
    }

    fn optimisers(&self) -> anyhow::Result<[Vec<u8>; 2]> {
        let bytes = |opt: &ModuleOptimizer| {
            opt.into_bytes()
                .map(|b| b.to_vec())
                .map_err(|e| anyhow::anyhow!("saving the optimiser state: {e:?}"))
        };
        Ok([bytes(&self.opt_g)?, bytes(&self.opt_d)?])
    }

    fn frames(&self, examples: &[&Example]) -> Vec<Vec<u8>> {
        super::frames(self.generator.as_ref().expect(HELD), examples, &self.device)
    }
}
