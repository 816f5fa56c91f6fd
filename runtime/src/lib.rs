//! mvgen's model runtime: finds ONNX Runtime, picks an execution provider, loads a
//! generator or an enhancer that passes its contract (`mvgen_core::model`) and runs it:
//! the generator on spectrogram windows, the enhancer on the generator's frames.
//!
//! Used by the plugin's worker and by the command line, so that a frame rendered offline
//! and one made live come from the same code. Never used on an audio thread: loading and
//! running allocate and may take milliseconds to seconds.

pub mod enhancer;
pub mod generator;
pub mod library;
pub mod provider;

pub use enhancer::{Enhanced, Enhancer};
pub use generator::{Generator, LoadError, RunError};
pub use provider::{Execution, ProviderReport, RuntimeConfig};
