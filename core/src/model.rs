//! The model contracts: what an ONNX model must look like for mvgen to run it.
//!
//! A **generator** ([`GENERATOR`]):
//! - one input, `[1, 1, 256, 256]` f32 in [-1, 1]: a [`SpectrogramWindow`];
//! - one output, `[1, 3, 256, 256]` f32 in [-1, 1] (tanh), RGB: a [`Frame`];
//! - standard ONNX ops only, so that `torch.onnx.export` of pix2pix's `unet_256` loads;
//! - our exports carry `metadata_props` under `mvgen.*` keys ([`ModelInfo`]). A model
//!   without them (exported elsewhere) is accepted as foreign; one whose metadata names
//!   another contract version or other spectrogram parameters is refused.
//!
//! An **enhancer** ([`ENHANCER`]), a learned 4x upscaler of a generator's frames:
//! - one input, `[1, 3, 256, 256]` f32 in [-1, 1], RGB: a generated [`Frame`];
//! - one output, `[1, 3, 1024, 1024]` f32 in [-1, 1], RGB: the same picture at 1024;
//! - standard ONNX ops; any model with these shapes loads (a foreign one too).
//!
//! [`inspect`] checks a file without running it: existence, size, ONNX structure, shapes,
//! metadata, and that external weight files stay inside the model's folder. [`read`] does
//! the same and keeps the bytes it checked, so that what runs is exactly what was checked
//! and hashed. Running it (and checking that it outputs finite numbers) is
//! `mvgen-runtime`'s job.
//!
//! [`SpectrogramWindow`]: crate::SpectrogramWindow

use crate::onnx;
use crate::spectrogram::{
    DB_CEIL, DB_FLOOR, HOP_SAMPLES, SAMPLE_RATE_HZ, SEGMENT_SAMPLES, SIZE, WINDOW_SAMPLES,
};
use prost::Message;
use std::path::{Component, Path, PathBuf};

/// Bumped whenever the spectrogram or the model's input or output changes meaning.
pub const CONTRACT_VERSION: u32 = 1;
/// Model input and output shapes (NCHW).
pub const INPUT_SHAPE: [i64; 4] = [1, 1, SIZE as i64, SIZE as i64];
pub const OUTPUT_SHAPE: [i64; 4] = [1, 3, SIZE as i64, SIZE as i64];
/// How much an enhancer enlarges a frame, and the side of what it makes.
pub const ENHANCE_SCALE: usize = 4;
pub const ENHANCED_SIDE: usize = SIZE * ENHANCE_SCALE;
pub const ENHANCED_SHAPE: [i64; 4] = [1, 3, ENHANCED_SIDE as i64, ENHANCED_SIDE as i64];

/// What a kind of model must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    /// "generator" or "enhancer", for messages and the `mvgen.kind` key.
    pub kind: &'static str,
    pub input: [i64; 4],
    pub output: [i64; 4],
    /// Whether it reads spectrograms (and so must have been trained on ours).
    pub reads_spectrograms: bool,
}

/// A spectrogram in, a frame out.
pub const GENERATOR: Contract = Contract {
    kind: "generator",
    input: INPUT_SHAPE,
    output: OUTPUT_SHAPE,
    reads_spectrograms: true,
};

/// A frame in, the frame at 4x out.
pub const ENHANCER: Contract = Contract {
    kind: "enhancer",
    input: OUTPUT_SHAPE,
    output: ENHANCED_SHAPE,
    reads_spectrograms: false,
};
/// The largest model file we open: an ngf 64 `unet_256` is 218 MB in f32, so 1 GiB leaves
/// room for bigger generators and refuses files that are surely not ours.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// Metadata keys our exports write.
pub mod keys {
    pub const CONTRACT_VERSION: &str = "mvgen.contract_version";
    pub const SPECTROGRAM: &str = "mvgen.spectrogram";
    pub const NGF: &str = "mvgen.ngf";
    pub const EPOCHS: &str = "mvgen.epochs";
    pub const DATASET: &str = "mvgen.dataset";
    pub const NAME: &str = "mvgen.name";
    /// "generator" or "enhancer"; a model of the other kind is refused.
    pub const KIND: &str = "mvgen.kind";
}

/// The spectrogram parameters, as our exports record them. A model trained on other
/// parameters would see images it was never trained on.
pub fn spectrogram_signature() -> String {
    format!(
        "fs={SAMPLE_RATE_HZ};window=tukey0.25;nperseg={SEGMENT_SAMPLES};hop={HOP_SAMPLES};samples={WINDOW_SAMPLES};db={DB_FLOOR}..{DB_CEIL}"
    )
}

/// What a model says about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub bytes: u64,
    /// SHA-256 of the file's bytes as they were read, in hex.
    pub sha256: String,
    /// `None` for a foreign model (no `mvgen.*` metadata).
    pub contract_version: Option<u32>,
    pub name: Option<String>,
    pub ngf: Option<u32>,
    pub epochs: Option<u32>,
    pub dataset: Option<String>,
    pub producer: String,
    pub opset: i64,
    pub num_nodes: usize,
}

impl ModelInfo {
    pub fn is_foreign(&self) -> bool {
        self.contract_version.is_none()
    }

    /// A short name for the editor and logs.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("model file {0} does not exist")]
    Missing(PathBuf),
    #[error("model file {0} cannot be read: {1}")]
    Unreadable(PathBuf, String),
    #[error("model file {path} is {bytes} bytes, over the {limit}-byte limit for a generator")]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error("{0} is not an ONNX model")]
    NotOnnx(PathBuf),
    #[error("the model's {which} must be one f32 tensor of shape {expected:?}, but it is {found}")]
    WrongShape {
        which: &'static str,
        expected: [i64; 4],
        found: String,
    },
    #[error("the model was made for mvgen contract version {found}; this mvgen runs version {CONTRACT_VERSION}")]
    WrongContract { found: String },
    #[error("the model was trained on other spectrograms ({found}); this mvgen makes {expected}")]
    WrongSpectrogram { found: String, expected: String },
    #[error(
        "the model is {found:?}, not {expected:?}: its metadata says it is another kind of model"
    )]
    WrongKind {
        found: String,
        expected: &'static str,
    },
    #[error("the model's weights refer to {location:?}, outside its folder: refused")]
    ExternalDataEscapes { location: String },
    #[error("the model's weights file {0} is missing")]
    ExternalDataMissing(PathBuf),
    #[error("ONNX Runtime could not load the model: {0}")]
    Runtime(String),
    #[error("the model produced {0} on a test input")]
    NonFiniteOutput(String),
}

/// Check a generator file against the contract without running it.
pub fn inspect(path: &Path) -> Result<ModelInfo, ModelError> {
    read(path, &GENERATOR).map(|(info, _)| info)
}

/// Read a model file once and check it against `contract`: what it says about itself,
/// and the bytes that were checked (and hashed), for the runtime to load.
pub fn read(
    path: &Path,
    contract: &Contract,
) -> Result<(ModelInfo, prost::bytes::Bytes), ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing(path.to_owned()),
        _ => ModelError::Unreadable(path.to_owned(), e.to_string()),
    })?;
    if !meta.is_file() {
        return Err(ModelError::Unreadable(path.to_owned(), "not a file".into()));
    }
    if meta.len() > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge {
            path: path.to_owned(),
            bytes: meta.len(),
            limit: MAX_MODEL_BYTES,
        });
    }
    let bytes = prost::bytes::Bytes::from(
        std::fs::read(path).map_err(|e| ModelError::Unreadable(path.to_owned(), e.to_string()))?,
    );
    let sha256 = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&bytes))
    };
    // Decoding from `Bytes` slices the weights out of this one buffer instead of copying.
    let model = onnx::ModelProto::decode(bytes.clone())
        .map_err(|_| ModelError::NotOnnx(path.to_owned()))?;
    let Some(graph) = model
        .graph
        .as_ref()
        .filter(|g| model.ir_version > 0 && !g.node.is_empty())
    else {
        return Err(ModelError::NotOnnx(path.to_owned()));
    };

    check_io("input", &graph.input, &graph.initializer, contract.input)?;
    check_io("output", &graph.output, &[], contract.output)?;
    check_external_data(path, &graph.initializer)?;

    let get = |key: &str| {
        model
            .metadata_props
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.clone())
    };
    let contract_version = match get(keys::CONTRACT_VERSION) {
        None => None,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(CONTRACT_VERSION) => Some(CONTRACT_VERSION),
            _ => return Err(ModelError::WrongContract { found: v }),
        },
    };
    if let Some(kind) = get(keys::KIND) {
        if kind != contract.kind {
            return Err(ModelError::WrongKind {
                found: kind,
                expected: contract.kind,
            });
        }
    }
    if let Some(found) = get(keys::SPECTROGRAM).filter(|_| contract.reads_spectrograms) {
        if found != spectrogram_signature() {
            return Err(ModelError::WrongSpectrogram {
                found,
                expected: spectrogram_signature(),
            });
        }
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let info = ModelInfo {
        path: path.to_owned(),
        bytes: bytes.len() as u64,
        sha256,
        contract_version,
        name: get(keys::NAME),
        ngf: get(keys::NGF).and_then(|v| v.parse().ok()),
        epochs: get(keys::EPOCHS).and_then(|v| v.parse().ok()),
        dataset: get(keys::DATASET),
        producer: model.producer_name.clone(),
        opset,
        num_nodes: graph.node.len(),
    };
    Ok((info, bytes))
}

/// The graph's real inputs (initializers listed as inputs are weights, not inputs) must be
/// exactly one f32 tensor of the expected shape; a symbolic batch dimension is accepted.
fn check_io(
    which: &'static str,
    values: &[onnx::ValueInfoProto],
    initializers: &[onnx::TensorProto],
    expected: [i64; 4],
) -> Result<(), ModelError> {
    let real: Vec<&onnx::ValueInfoProto> = values
        .iter()
        .filter(|v| !initializers.iter().any(|i| i.name == v.name))
        .collect();
    let describe = |v: &onnx::ValueInfoProto| -> (i32, Vec<Option<i64>>) {
        let tensor = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
        let dims = tensor
            .and_then(|t| t.shape.as_ref())
            .map(|s| s.dim.iter().map(|d| d.dim_value).collect())
            .unwrap_or_default();
        (tensor.map_or(0, |t| t.elem_type), dims)
    };
    let found = || {
        real.iter()
            .map(|v| {
                let (ty, dims) = describe(v);
                let dims: Vec<String> = dims
                    .iter()
                    .map(|d| d.map_or("?".into(), |d| d.to_string()))
                    .collect();
                format!(
                    "{}: {} [{}]",
                    v.name,
                    if ty == onnx::FLOAT { "f32" } else { "non-f32" },
                    dims.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let [only] = real[..] else {
        return Err(ModelError::WrongShape {
            which,
            expected,
            found: format!("{} tensors ({})", real.len(), found()),
        });
    };
    let (ty, dims) = describe(only);
    let shape_ok = dims.len() == 4
        && dims
            .iter()
            .zip(expected)
            .enumerate()
            .all(|(i, (d, e))| *d == Some(e) || (i == 0 && d.is_none()));
    if ty != onnx::FLOAT || !shape_ok {
        return Err(ModelError::WrongShape {
            which,
            expected,
            found: found(),
        });
    }
    Ok(())
}

/// External weight files must be relative paths that stay in the model's folder.
fn check_external_data(
    model_path: &Path,
    initializers: &[onnx::TensorProto],
) -> Result<(), ModelError> {
    let folder = model_path.parent().unwrap_or(Path::new("."));
    for tensor in initializers
        .iter()
        .filter(|t| t.data_location == onnx::EXTERNAL)
    {
        let Some(location) = tensor
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map(|e| e.value.clone())
        else {
            return Err(ModelError::ExternalDataEscapes {
                location: String::new(),
            });
        };
        let relative = Path::new(&location);
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(ModelError::ExternalDataEscapes { location });
        }
        let full = folder.join(relative);
        // A symlink inside the folder may still point outside it.
        match (full.canonicalize(), folder.canonicalize()) {
            (Ok(f), Ok(dir)) if f.starts_with(&dir) => {}
            (Ok(_), Ok(_)) => return Err(ModelError::ExternalDataEscapes { location }),
            _ => return Err(ModelError::ExternalDataMissing(full)),
        }
    }
    Ok(())
}
