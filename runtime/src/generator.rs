//! A loaded generator: a window in, a frame out.
//!
//! Loading checks the file against the contract ([`mvgen_core::model::inspect`]), builds
//! an ONNX Runtime session on the chosen provider, checks the session's own view of the
//! input and output, and runs the model once on silence: that compiles GPU shaders off
//! the audio path and refuses a model that outputs NaN or infinity. Every run checks its
//! output again; a bad frame is an error, never a published frame.

use crate::library::{runtime, LibraryError};
use crate::provider::{configure, ProviderReport, RuntimeConfig};
use mvgen_core::model::{
    read, Contract, ModelError, ModelInfo, GENERATOR, INPUT_SHAPE, OUTPUT_SHAPE,
};
use mvgen_core::{Frame, SpectrogramWindow};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LoadError {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RunError {
    #[error("ONNX Runtime failed: {0}")]
    Runtime(String),
    #[error("the generator returned a tensor of shape {0:?}")]
    Shape(Vec<i64>),
    #[error("the generator returned NaN or infinity")]
    NonFinite,
}

pub struct Generator {
    session: Session,
    info: ModelInfo,
    /// How it was loaded: a generator is one record of file, settings and provider, so a
    /// caller deciding whether to reuse it compares against this, never its own settings.
    config: RuntimeConfig,
    provider: ProviderReport,
    /// The first run: graph optimisation, shader compiles, allocations.
    warmup: Duration,
}

impl Generator {
    /// Load the generator at `path` ([`open`]).
    pub fn load(path: &Path, config: &RuntimeConfig) -> Result<Self, LoadError> {
        let (session, info, provider) = open(path, &GENERATOR, config)?;
        let mut generator = Self {
            session,
            info,
            config: config.clone(),
            provider,
            warmup: Duration::ZERO,
        };
        let started = Instant::now();
        let mut frame = Frame::default();
        generator
            .run(&SpectrogramWindow::default(), &mut frame)
            .map_err(|e| e.at_load(&GENERATOR))?;
        generator.warmup = started.elapsed();
        Ok(generator)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The settings it was loaded with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    pub fn provider(&self) -> &ProviderReport {
        &self.provider
    }

    /// How long the first run took (shader compiles and the like).
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// Generate the frame for `window` into `frame`. On error `frame` is unspecified.
    pub fn run(&mut self, window: &SpectrogramWindow, frame: &mut Frame) -> Result<(), RunError> {
        run(
            &mut self.session,
            INPUT_SHAPE,
            window.pixels(),
            OUTPUT_SHAPE,
            frame.planes_mut(),
        )
    }
}

impl RunError {
    /// The run on a test input while loading failed: the model is refused.
    pub(crate) fn at_load(self, contract: &Contract) -> ModelError {
        match self {
            RunError::NonFinite => ModelError::NonFiniteOutput("NaN or infinity".into()),
            RunError::Shape(s) => ModelError::WrongShape {
                which: "output",
                expected: contract.output,
                found: format!("{s:?} at run time"),
            },
            RunError::Runtime(s) => ModelError::Runtime(s),
        }
    }
}

/// Read the model at `path` once, check it against `contract`, and open an ONNX Runtime
/// session on the provider `config` asks for: the bytes that were checked and hashed
/// ([`ModelInfo::sha256`]) are the ones that run, whatever happens to the file
/// afterwards. The session's own input and output are checked too.
pub(crate) fn open(
    path: &Path,
    contract: &Contract,
    config: &RuntimeConfig,
) -> Result<(Session, ModelInfo, ProviderReport), LoadError> {
    let (info, bytes) = read(path, contract)?;
    let rt = runtime()?;
    let runtime_error = |e: ort::Error| LoadError::Model(ModelError::Runtime(e.to_string()));
    let builder = Session::builder(&rt.environment).map_err(runtime_error)?;
    let (builder, provider) =
        configure(rt, builder, config).map_err(|e| LoadError::Model(ModelError::Runtime(e)))?;
    // Weights stored beside the model (checked to stay in its folder) are found there.
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut builder = builder
        .with_config_entry(
            "session.model_external_initializers_file_folder_path",
            folder.to_string_lossy(),
        )
        .map_err(|e| LoadError::Model(ModelError::Runtime(e.to_string())))?;
    let session = builder.commit_from_memory(&bytes).map_err(runtime_error)?;
    check_outlet("input", session.inputs(), contract.input)?;
    check_outlet("output", session.outputs(), contract.output)?;
    Ok((session, info, provider))
}

/// Run `session` on `input` (of `input_shape`) into `output` (of `output_shape`), and
/// refuse an output of another shape or with NaN or infinity in it.
pub(crate) fn run(
    session: &mut Session,
    input_shape: [i64; 4],
    input: &[f32],
    output_shape: [i64; 4],
    output: &mut [f32],
) -> Result<(), RunError> {
    let tensor = TensorRef::from_array_view((input_shape.map(|d| d as usize), input))
        .map_err(|e| RunError::Runtime(e.to_string()))?;
    let outputs = session
        .run(ort::inputs![tensor])
        .map_err(|e| RunError::Runtime(e.to_string()))?;
    let (shape, values) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| RunError::Runtime(e.to_string()))?;
    if shape[..] != output_shape[..] {
        return Err(RunError::Shape(shape.to_vec()));
    }
    output.copy_from_slice(values);
    if !output.iter().all(|v| v.is_finite()) {
        return Err(RunError::NonFinite);
    }
    Ok(())
}

fn check_outlet(
    which: &'static str,
    outlets: &[ort::value::Outlet],
    expected: [i64; 4],
) -> Result<(), ModelError> {
    let found = || {
        outlets
            .iter()
            .map(|o| format!("{}: {:?}", o.name(), o.dtype()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let [only] = outlets else {
        return Err(ModelError::WrongShape {
            which,
            expected,
            found: found(),
        });
    };
    let ok = only.dtype().tensor_type() == Some(ort::value::TensorElementType::Float32)
        && only.dtype().tensor_shape().is_some_and(|s| {
            s.len() == 4
                && s.iter()
                    .zip(expected)
                    .enumerate()
                    .all(|(i, (&d, e))| d == e || (i == 0 && d < 0))
        });
    if ok {
        Ok(())
    } else {
        Err(ModelError::WrongShape {
            which,
            expected,
            found: found(),
        })
    }
}
