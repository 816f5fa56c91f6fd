//! The plugin's parameters. Ids are stable: they key saved sessions and automation.

use mvgen_core::Fps;
use nice_plug::prelude::*;

/// Video frame rate, as the host shows it.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpsParam {
    #[id = "24"]
    #[name = "24 fps"]
    F24,
    #[id = "25"]
    #[name = "25 fps"]
    F25,
    #[id = "30"]
    #[name = "30 fps"]
    F30,
    #[id = "50"]
    #[name = "50 fps"]
    F50,
    #[id = "60"]
    #[name = "60 fps"]
    F60,
}

impl From<FpsParam> for Fps {
    fn from(p: FpsParam) -> Self {
        match p {
            FpsParam::F24 => Fps::F24,
            FpsParam::F25 => Fps::F25,
            FpsParam::F30 => Fps::F30,
            FpsParam::F50 => Fps::F50,
            FpsParam::F60 => Fps::F60,
        }
    }
}

/// Where the generator runs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionParam {
    /// The GPU when one works, else the CPU.
    #[id = "auto"]
    #[name = "Auto"]
    Auto,
    #[id = "cpu"]
    #[name = "CPU"]
    Cpu,
    #[id = "gpu"]
    #[name = "GPU"]
    Gpu,
}

impl From<ExecutionParam> for mvgen_runtime::Execution {
    fn from(p: ExecutionParam) -> Self {
        match p {
            ExecutionParam::Auto => Self::Auto,
            ExecutionParam::Cpu => Self::Cpu,
            ExecutionParam::Gpu => Self::Gpu,
        }
    }
}

#[derive(Params)]
pub struct MvGenParams {
    /// Frames per second of the generated video. Stored as the variant id ("30").
    #[id = "fps"]
    pub fps: EnumParam<FpsParam>,
    /// Gain applied to the analysed signal only, in dB; the audio itself is never touched.
    /// Raises quiet material into the spectrogram's range.
    #[id = "input_gain_db"]
    pub input_gain_db: FloatParam,
    /// Where the generator runs. Read when a model loads (at activation, or when the
    /// user loads one), so a change applies from the next load.
    #[id = "execution"]
    pub execution: EnumParam<ExecutionParam>,
    /// Temporal smoothing of the shown and exported frames: each frame moves this far
    /// less than all the way to the newly generated one (0: none).
    #[id = "smoothing"]
    pub smoothing: FloatParam,
    /// Write the frames of every offline bounce (see `export.rs`).
    #[id = "export"]
    pub export: BoolParam,
    /// The generator's path, saved with the session. Never touched by the audio thread.
    #[persist = "model"]
    pub model_path: std::sync::RwLock<Option<String>>,
    /// Where bounces are exported, saved with the session; unset means the default
    /// (`export::default_export_dir`).
    #[persist = "export_dir"]
    pub export_dir: std::sync::RwLock<Option<String>>,
    /// Models loaded before, newest first, for the editor's "Recent" menu.
    #[persist = "recent_models"]
    pub recent_models: std::sync::RwLock<Vec<String>>,
}

/// Threads for the CPU provider inside a DAW: the DAW needs the other cores.
pub const CPU_THREADS: usize = 2;

impl MvGenParams {
    /// How a model loads now: the `execution` parameter and our thread budget.
    pub fn runtime_config(&self) -> mvgen_runtime::RuntimeConfig {
        mvgen_runtime::RuntimeConfig {
            execution: self.execution.value().into(),
            cpu_threads: CPU_THREADS,
        }
    }
}

impl Default for MvGenParams {
    fn default() -> Self {
        Self {
            fps: EnumParam::new("FPS", FpsParam::F30),
            input_gain_db: FloatParam::new(
                "Input gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.1),
            execution: EnumParam::new("Execution", ExecutionParam::Auto),
            smoothing: FloatParam::new(
                "Smoothing",
                0.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 0.99,
                },
            )
            .with_step_size(0.01),
            export: BoolParam::new("Export on bounce", true),
            model_path: std::sync::RwLock::new(None),
            export_dir: std::sync::RwLock::new(None),
            recent_models: std::sync::RwLock::new(Vec::new()),
        }
    }
}
