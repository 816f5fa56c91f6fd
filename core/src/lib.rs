//! mvgen's contracts, defined once and shared by the plugin, the trainer and the tests.
//!
//! - [`spectrogram`]: the model-input image, exactly `scipy.signal.spectrogram` with the
//!   parameters in `CONTEXT.md` §2, mapped from dB to [-1, 1].
//! - [`resample`]: the one way audio at a host rate becomes 44.1 kHz audio.
//! - [`analyser`]: the streaming form of the spectrogram, safe for an audio thread.
//! - [`clock`]: where video frames fall in time and which window each one sees.
//! - [`model`]: what an ONNX generator must look like, checked without running it.
//!
//! This crate never depends on a plugin framework or a training framework: both sides
//! call into it, so that a frame rendered offline and one made live see the same image.

pub mod analyser;
pub mod clock;
pub mod frame;
pub mod model;
pub mod onnx;
pub mod resample;
pub mod spectrogram;

pub use analyser::{Analyser, WindowError};
pub use clock::{Fps, FrameClock};
pub use frame::Frame;
pub use model::{ModelError, ModelInfo};
pub use resample::StreamResampler;
pub use spectrogram::{SpectrogramWindow, WindowEnd};
