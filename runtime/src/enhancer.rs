//! A loaded enhancer: a generated 256x256 frame in, the same picture at 1024x1024 out
//! (`mvgen_core::model::ENHANCER`). It runs through the same provider choice as the
//! generator, and is checked the same way when it loads (the file read once and hashed,
//! the session's shapes, one run on a test frame that must come out finite).

use crate::generator::{open, run, LoadError, RunError};
use crate::provider::{ProviderReport, RuntimeConfig};
use mvgen_core::model::{ModelInfo, ENHANCED_SHAPE, ENHANCED_SIDE, ENHANCER, OUTPUT_SHAPE};
use mvgen_core::Frame;
use ort::session::Session;
use std::path::Path;

/// A frame at the enhancer's size: 3 planes of 1024x1024, values in [-1, 1].
#[derive(Clone, PartialEq)]
pub struct Enhanced(Box<[f32]>);

impl Default for Enhanced {
    fn default() -> Self {
        Self(vec![0.0; 3 * ENHANCED_SIDE * ENHANCED_SIDE].into_boxed_slice())
    }
}

impl Enhanced {
    pub fn planes(&self) -> &[f32] {
        &self.0
    }

    pub fn planes_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }

    /// Interleaved 8-bit RGB, as a frame's PNG and the video take it.
    pub fn to_rgb8_into(&self, out: &mut Vec<u8>) {
        mvgen_core::frame::planes_to_rgb8(&self.0, out);
    }
}

pub struct Enhancer {
    session: Session,
    info: ModelInfo,
    provider: ProviderReport,
}

impl Enhancer {
    pub fn load(path: &Path, config: &RuntimeConfig) -> Result<Self, LoadError> {
        let (session, info, provider) = open(path, &ENHANCER, config)?;
        let mut enhancer = Self {
            session,
            info,
            provider,
        };
        let mut test = Frame::default();
        test.planes_mut().fill(0.0);
        enhancer
            .run(&test, &mut Enhanced::default())
            .map_err(|e| e.at_load(&ENHANCER))?;
        Ok(enhancer)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn provider(&self) -> &ProviderReport {
        &self.provider
    }

    /// Enlarge `frame` into `out`. On error `out` is unspecified.
    pub fn run(&mut self, frame: &Frame, out: &mut Enhanced) -> Result<(), RunError> {
        run(
            &mut self.session,
            OUTPUT_SHAPE,
            frame.planes(),
            ENHANCED_SHAPE,
            out.planes_mut(),
        )
    }
}
