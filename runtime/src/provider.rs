//! Which execution provider runs the generator, and why.
//!
//! - [`Execution::Cpu`]: ONNX Runtime's CPU provider, with a thread count we set (the
//!   default would take every core, which is wrong inside a DAW).
//! - [`Execution::Gpu`]: the CUDA provider when ONNX Runtime is an `onnxruntime-gpu`
//!   build that has it; otherwise the WebGPU plugin provider (Vulkan, Metal, D3D12) on
//!   the first GPU it lists; DirectML on Windows and CoreML on macOS builds.
//! - [`Execution::Auto`]: the GPU when one works, else the CPU.
//!
//! A GPU request that cannot be met falls back to the CPU and says why in the
//! [`ProviderReport`]: ONNX Runtime itself would silently run on the CPU.

use crate::library::{Runtime, CUDA_EP_LIBRARY};
use ort::memory::DeviceType;
use ort::session::builder::SessionBuilder;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Execution {
    #[default]
    Auto,
    Cpu,
    Gpu,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub execution: Execution,
    /// Threads for the CPU provider.
    pub cpu_threads: usize,
}

impl Default for RuntimeConfig {
    /// Two threads: enough to keep a small generator real-time, and it leaves the DAW
    /// its cores.
    fn default() -> Self {
        Self {
            execution: Execution::Auto,
            cpu_threads: 2,
        }
    }
}

/// What runs the generator, for the editor and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderReport {
    /// "CPU", "CUDA", "WebGPU", "DirectML" or "CoreML".
    pub provider: String,
    /// The device, as the provider names it.
    pub device: String,
    /// Why a GPU was asked for and not used.
    pub fallback: Option<String>,
}

impl std::fmt::Display for ProviderReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.provider, self.device)?;
        if let Some(why) = &self.fallback {
            write!(f, "; GPU not used: {why}")?;
        }
        Ok(())
    }
}

/// Configure `builder` for `config`; returns the builder and what it will run on.
pub fn configure(
    runtime: &Runtime,
    builder: SessionBuilder,
    config: &RuntimeConfig,
) -> Result<(SessionBuilder, ProviderReport), String> {
    // One run per video frame, tens of milliseconds apart: threads that spin between runs
    // would keep the cores busy for nothing (ONNX Runtime spins by default).
    let builder = builder
        .with_intra_threads(config.cpu_threads.max(1))
        .map_err(|e| e.to_string())?
        .with_intra_op_spinning(false)
        .map_err(|e| e.to_string())?
        .with_inter_op_spinning(false)
        .map_err(|e| e.to_string())?;
    let cpu = |fallback: Option<String>| ProviderReport {
        provider: "CPU".into(),
        device: format!("{} threads", config.cpu_threads.max(1)),
        fallback,
    };
    if config.execution == Execution::Cpu {
        return Ok((builder, cpu(None)));
    }
    let mut reasons = Vec::new();

    // CUDA, when ONNX Runtime is a GPU build.
    let cuda_library = runtime.library.parent().map(|d| d.join(CUDA_EP_LIBRARY));
    if cuda_library.as_ref().is_some_and(|p| p.is_file()) {
        match builder
            .clone()
            .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
        {
            Ok(b) => {
                return Ok((
                    b,
                    ProviderReport {
                        provider: "CUDA".into(),
                        device: "GPU 0".into(),
                        fallback: None,
                    },
                ))
            }
            Err(e) => reasons.push(format!("CUDA: {e}")),
        }
    } else {
        reasons.push(format!(
            "CUDA: {CUDA_EP_LIBRARY} is not beside ONNX Runtime"
        ));
    }

    // The WebGPU plugin provider, on the first GPU it lists. It lists a CPU adapter (a
    // software Vulkan such as Mesa's lavapipe) only when ONNX Runtime's own switch
    // `ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER=1` was set before it loaded: the tests use
    // that to run the GPU path without a GPU. Such a device is said to be one.
    match &runtime.webgpu {
        Ok(_) => {
            let mut webgpu: Vec<_> = runtime
                .environment
                .devices()
                .filter(|d| d.ep().is_ok_and(|ep| ep.starts_with("WebGpu")))
                .collect();
            // GPUs first; the sort is stable, so each kind keeps the provider's order.
            webgpu.sort_by_key(|d| d.hardware_device().ty() != DeviceType::GPU);
            let gpu = webgpu.into_iter().next();
            match gpu {
                Some(gpu) => {
                    let hw = gpu.hardware_device();
                    let device = if hw.ty() == DeviceType::GPU {
                        format!("{} {}", hw.vendor().unwrap_or("?"), hw.id())
                    } else {
                        format!(
                            "a software adapter on the CPU ({}), not a GPU",
                            hw.vendor().unwrap_or("?")
                        )
                    };
                    match builder.clone().with_devices([gpu], None) {
                        Ok(b) => {
                            return Ok((
                                b,
                                ProviderReport {
                                    provider: "WebGPU".into(),
                                    device,
                                    fallback: None,
                                },
                            ))
                        }
                        Err(e) => reasons.push(format!("WebGPU: {e}")),
                    }
                }
                None => reasons.push("WebGPU: no GPU adapter found".into()),
            }
        }
        Err(why) => reasons.push(format!("WebGPU: {why}")),
    }

    #[cfg(target_os = "windows")]
    match builder
        .clone()
        .with_execution_providers([ort::ep::DirectML::default().build().error_on_failure()])
    {
        Ok(b) => {
            return Ok((
                b,
                ProviderReport {
                    provider: "DirectML".into(),
                    device: "default adapter".into(),
                    fallback: None,
                },
            ))
        }
        Err(e) => reasons.push(format!("DirectML: {e}")),
    }
    #[cfg(target_os = "macos")]
    match builder
        .clone()
        .with_execution_providers([ort::ep::CoreML::default().build().error_on_failure()])
    {
        Ok(b) => {
            return Ok((
                b,
                ProviderReport {
                    provider: "CoreML".into(),
                    device: "Apple Neural Engine / GPU".into(),
                    fallback: None,
                },
            ))
        }
        Err(e) => reasons.push(format!("CoreML: {e}")),
    }

    Ok((builder, cpu(Some(reasons.join("; ")))))
}
