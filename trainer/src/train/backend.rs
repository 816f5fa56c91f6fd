//! Which trainer trains: the one place that knows.
//!
//! - `torch` ([`on_torch`](super::on_torch), feature `torch`, on by default): libtorch,
//!   PyTorch's own kernels, on the CPU or an NVIDIA GPU (a `--features cuda` build). The
//!   fastest: see BENCHMARKS.md.
//! - `burn` ([`on_burn`](super::on_burn)): burn's flex backend on the CPU, its wgpu
//!   backend on any GPU in a `--features gpu` build. Pure Rust; the reference the torch
//!   trainer is tested against.
//!
//! `auto` picks torch where the build has it. A run keeps the trainer it started with
//! (its `config.json`), because each keeps its optimiser state in its own format.

use super::on_burn::BurnTrainer;
use super::{Start, TrainConfig, Trainer};
use anyhow::bail;
use burn::tensor::Device;

/// What `auto` means in this build.
pub const DEFAULT: &str = if cfg!(feature = "torch") {
    "torch"
} else {
    "burn"
};

/// The trainer `requested` (auto, torch or burn) names in this build.
pub fn choose(requested: &str) -> anyhow::Result<&'static str> {
    match requested {
        "auto" => Ok(DEFAULT),
        "burn" => Ok("burn"),
        "torch" if cfg!(feature = "torch") => Ok("torch"),
        "torch" => {
            bail!("this mvgen was built without the torch trainer: rebuild with `--features torch`")
        }
        other => bail!("unknown trainer {other:?}: use auto, torch or burn"),
    }
}

/// What `--device auto` means here: `gpu` where the torch trainer sees an NVIDIA GPU.
pub fn auto_device() -> &'static str {
    #[cfg(feature = "torch")]
    if tch::Cuda::is_available() {
        return "gpu";
    }
    "cpu"
}

/// The run's trainer, fresh or from its checkpoint.
pub fn open(cfg: &TrainConfig, start: Start) -> anyhow::Result<Box<dyn Trainer>> {
    match cfg.backend.as_str() {
        "burn" => Ok(Box::new(BurnTrainer::open(
            cfg,
            burn_device(&cfg.device)?,
            start,
        )?)),
        "torch" => open_torch(cfg, start),
        other => bail!("unknown trainer {other:?} in the run's config.json"),
    }
}

#[cfg(feature = "torch")]
fn open_torch(cfg: &TrainConfig, start: Start) -> anyhow::Result<Box<dyn Trainer>> {
    Ok(Box::new(super::on_torch::TorchTrainer::open(cfg, start)?))
}

#[cfg(not(feature = "torch"))]
fn open_torch(_: &TrainConfig, _: Start) -> anyhow::Result<Box<dyn Trainer>> {
    bail!("this run trains with torch, and this mvgen was built without it: rebuild with `--features torch`")
}

/// One line for the user: which trainer, on what.
pub fn describe(cfg: &TrainConfig) -> String {
    let threads = match rayon::current_num_threads() {
        1 => "1 thread".to_string(),
        n => format!("{n} threads"),
    };
    match (cfg.backend.as_str(), cfg.device.as_str()) {
        ("torch", "gpu") => "the torch trainer (libtorch) on the NVIDIA GPU".into(),
        ("torch", _) => format!("the torch trainer (libtorch) on the CPU, {threads}"),
        (_, "gpu") => "the burn trainer (wgpu) on the GPU".into(),
        _ => format!(
            "the burn trainer (flex) on the CPU, {threads}{}",
            if cfg!(feature = "torch") {
                ""
            } else {
                " (a build with the torch trainer is about 2.5x faster)"
            }
        ),
    }
}

/// CPU threads for libtorch's intra-op pool (rayon's is set by the caller).
pub fn set_threads(n: usize) {
    #[cfg(feature = "torch")]
    tch::set_num_threads(n as i32);
    let _ = n;
}

/// burn's device for `cpu` or `gpu`, with autodiff.
pub fn burn_device(kind: &str) -> anyhow::Result<Device> {
    match kind {
        "cpu" => Ok(Device::flex().autodiff()),
        "gpu" => burn_gpu(),
        other => bail!("unknown device {other:?}: use cpu or gpu"),
    }
}

#[cfg(feature = "gpu")]
fn burn_gpu() -> anyhow::Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice).autodiff())
}

#[cfg(not(feature = "gpu"))]
fn burn_gpu() -> anyhow::Result<Device> {
    bail!("this mvgen was built without burn's GPU trainer: rebuild with `cargo build --release -p mvgen --features gpu`, or train with --backend torch on an NVIDIA GPU")
}
