//! mvgen as a VST3 and CLAP plugin: analyses the track it sits on into the spectrogram
//! windows a music-video generator sees, one per video frame, and leaves the audio alone.
//!
//! Threads:
//! - the host's audio thread runs [`capture::Capture`] (never allocates, locks or waits);
//! - [`worker::Worker`] turns windows into frames;
//! - the main thread activates and deactivates, which is where everything is allocated.

pub mod capture;
pub mod handoff;
pub mod params;
pub mod status;
pub mod worker;

use capture::{Capture, Pacing};
use nice_plug::prelude::*;
use params::MvGenParams;
use status::Status;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use worker::{FrameSummary, Worker};

pub struct MvGen {
    params: Arc<MvGenParams>,
    status: Arc<Status>,
    /// `None` before activation, or when the host's rate is one we cannot analyse.
    capture: Option<Capture>,
    worker: Option<Worker>,
    /// The latest frame, for the editor.
    latest: Option<triple_buffer::Output<FrameSummary>>,
}

impl Default for MvGen {
    fn default() -> Self {
        // Route `log` records (assert_process_allocs reports through it) into tracing,
        // which nice-plug sets up. Fails harmlessly when a logger is already set.
        let _ = tracing_log::LogTracer::init();
        Self {
            params: Arc::new(MvGenParams::default()),
            status: Arc::new(Status::new()),
            capture: None,
            worker: None,
            latest: None,
        }
    }
}

impl MvGen {
    /// Stop the worker and drop the audio-side state. Main thread.
    fn shut_down(&mut self) {
        self.capture = None;
        self.worker = None;
        self.latest = None;
    }
}

impl Plugin for MvGen {
    const NAME: &'static str = "MVGen";
    const VENDOR: &'static str = "mvgen";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.shut_down();
        let rate_hz = config.sample_rate.round() as u32;
        let (audio_side, worker_side) = handoff::handoff();
        let (input, output) = triple_buffer::triple_buffer(&FrameSummary::default());
        let pacing = if config.process_mode == ProcessMode::Offline {
            Pacing::Offline
        } else {
            Pacing::Realtime
        };
        match Capture::new(rate_hz, pacing, audio_side, self.status.clone()) {
            Ok(capture) => self.capture = Some(capture),
            Err(e) => {
                // Keep the audio flowing: the plugin passes audio through untouched and
                // simply makes no frames.
                nice_log!("analysis disabled: {e}");
                return true;
            }
        }
        match Worker::spawn(worker_side, self.status.clone(), input) {
            Ok(worker) => {
                self.worker = Some(worker);
                self.latest = Some(output);
            }
            Err(e) => {
                nice_log!("worker thread could not start, analysis disabled: {e}");
                self.capture = None;
            }
        }
        true
    }

    fn reset(&mut self) {
        if let Some(capture) = &mut self.capture {
            capture.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        if let Some(capture) = &mut self.capture {
            let transport = context.transport();
            let timeline = if transport.playing {
                transport.pos_samples()
            } else {
                None
            };
            let gain = util::db_to_gain(self.params.input_gain_db.value());
            capture.process(
                buffer.as_slice_immutable(),
                gain,
                self.params.fps.value().into(),
                timeline,
            );
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.shut_down();
    }
}

impl Drop for MvGen {
    fn drop(&mut self) {
        self.shut_down();
        let s = &self.status;
        if s.windows_sent.load(Ordering::Relaxed) == 0
            && s.windows_dropped.load(Ordering::Relaxed) == 0
        {
            return;
        }
        nice_log!(
            "mvgen: {} windows sent, {} dropped, {} processed",
            s.windows_sent.load(Ordering::Relaxed),
            s.windows_dropped.load(Ordering::Relaxed),
            s.windows_processed.load(Ordering::Relaxed)
        );
    }
}

impl ClapPlugin for MvGen {
    const CLAP_ID: &'static str = "org.mvgen.mvgen";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Generates music-video frames from the audio it analyses");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for MvGen {
    const VST3_CLASS_ID: [u8; 16] = *b"mvgenMusicVideo1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(MvGen);
nice_export_vst3!(MvGen);
