//! Which backend trains: the one place that knows. `cpu` is burn's flex backend;
//! `gpu` is burn's wgpu backend, in a build with `--features gpu`.

use anyhow::bail;
use burn::tensor::Device;

pub fn device(kind: &str) -> anyhow::Result<Device> {
    match kind {
        "cpu" => Ok(Device::flex().autodiff()),
        "gpu" => gpu_device(),
        other => bail!("unknown device {other:?}: use cpu or gpu"),
    }
}

#[cfg(feature = "gpu")]
fn gpu_device() -> anyhow::Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice).autodiff())
}

#[cfg(not(feature = "gpu"))]
fn gpu_device() -> anyhow::Result<Device> {
    bail!("this mvgen was built without GPU training: rebuild with `cargo build --release -p mvgen --features gpu`")
}
