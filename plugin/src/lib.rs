//! mvgen as a VST3 and CLAP plugin: analyses the track it sits on into the spectrogram
//! windows a music-video generator sees, one per video frame, and leaves the audio alone.
//!
//! Threads:
//! - the host's audio thread runs [`capture::Capture`] (never allocates, locks or waits);
//! - [`worker::Worker`] turns windows into frames and writes bounces, one per activation;
//! - [`engine::Engine`] runs the generator, and loaders load models, for the plugin's life;
//! - bounces are finished (encoded) on threads of their own ([`export::Finishers`]);
//! - the main thread activates and deactivates, which is where everything is allocated;
//! - the editor's GUI thread, only while its window is open ([`editor`]).
//!
//! Every thread the plugin starts is joined, each within a stated limit, before the
//! instance is gone; one that does not stop in time is left running, which is safe only
//! because the library is never unloaded (`build.rs` links it `-z nodelete`).

pub mod capture;
pub mod editor;
pub mod engine;
pub mod export;
pub mod handoff;
pub mod params;
pub mod stage;
pub mod status;
pub mod worker;

use capture::{BlockContext, Capture, ModeFollower, Pacing};
use engine::Engine;
use export::Finishers;
use nice_plug::prelude::*;
use params::MvGenParams;
use status::{LoadRequest, Mode, Status};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use worker::{Published, Worker, WorkerSetup};

/// A model to load when the session names none: for tests and headless use.
pub const MODEL_ENV: &str = "MVGEN_MODEL";

pub struct MvGen {
    params: Arc<MvGenParams>,
    status: Arc<Status>,
    /// `None` before activation, or when the host's rate is one we cannot analyse.
    capture: Option<Capture>,
    worker: Option<Worker>,
    /// The latest frame, for the editor.
    latest: editor::Latest,
    /// The generator's thread between activations (it knows the model and settings it
    /// runs), so a host that reactivates (a rate change, a bounce) does not reload it.
    engine: Option<Engine>,
    /// What the host says about the render mode, over the instance's life.
    mode: ModeFollower,
    /// Bounces still being finished (encoded) when a bounce ends.
    finishers: Arc<Finishers>,
    /// The instance's feed slot for stages, made at the first activation and kept for the
    /// instance's life (`Err`: it could not be made, said once).
    feed: Option<Result<Arc<mvgen_feed::Publisher>, ()>>,
}

impl Default for MvGen {
    fn default() -> Self {
        // Route `log` records (assert_process_allocs reports through it) into tracing,
        // which nice-plug sets up. Fails harmlessly when a logger is already set.
        let _ = tracing_log::LogTracer::init();
        let status = Status::new();
        // The editor's size and open state, kept while the plugin lives.
        let _ = status.editor.set(editor::default_state());
        Self {
            params: Arc::new(MvGenParams::default()),
            status: Arc::new(status),
            capture: None,
            worker: None,
            latest: Default::default(),
            engine: None,
            mode: ModeFollower::default(),
            finishers: Arc::default(),
            feed: None,
        }
    }
}

impl MvGen {
    /// End a bounce in progress, stop the worker and drop the audio-side state, keeping
    /// the generator's thread. Main thread, while the host does not process; waits at most
    /// `capture::OFFLINE_WAIT_LIMIT` for the audio side and `worker::WORKER_STOP_LIMIT`
    /// for the worker.
    /// The instance's feed slot, made the first time it is asked for. Main thread.
    fn feed(&mut self) -> Option<Arc<mvgen_feed::Publisher>> {
        let status = &self.status;
        let made = self
            .feed
            .get_or_insert_with(|| match mvgen_feed::Publisher::create() {
                Ok(slot) => {
                    status.set_feed_number(slot.number());
                    Ok(Arc::new(slot))
                }
                Err(e) => {
                    nice_log!("no live feed for stages: {e}");
                    Err(())
                }
            });
        made.as_ref().ok().cloned()
    }

    fn shut_down(&mut self) {
        let tail = self
            .capture
            .take()
            .map(|mut capture| capture.finish())
            .unwrap_or_default();
        // `latest` stays: while stopped, the editor keeps showing the last frame.
        self.status.set_mode(Mode::Stopped);
        if let Some(worker) = self.worker.take() {
            // A worker that did not stop in time keeps its engine; a new one starts.
            self.engine = worker.stop(tail);
        }
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

    type Editor = editor::MvGenEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    /// nice-plug's logger (stderr, or the file `NICE_LOG` names; debug level in debug
    /// builds), except that wgpu and naga, which log every shader they compile at debug
    /// level, only report warnings.
    fn setup_logger() -> Option<bool> {
        use tracing::level_filters::LevelFilter;
        use tracing_subscriber::layer::SubscriberExt;
        let level = if cfg!(debug_assertions) {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        };
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(level)
            .with_target("wgpu_core", LevelFilter::WARN)
            .with_target("wgpu_hal", LevelFilter::WARN)
            .with_target("naga", LevelFilter::WARN);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_target(true)
            .with_writer(nice_log::writer_from_env())
            .finish()
            .with(filter);
        Some(tracing::subscriber::set_global_default(subscriber).is_ok())
    }

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.status.editor.get()?.clone(),
            self.params.clone(),
            self.status.clone(),
            self.latest.clone(),
        )
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.shut_down();
        let rate_hz = config.sample_rate.round() as u32;
        let (audio_side, worker_side) = handoff::handoff();
        let (input, output) = triple_buffer::triple_buffer(&Published::default());
        let num_channels = layout.main_input_channels.map_or(1, |c| c.get() as usize);
        match Capture::new(rate_hz, num_channels, audio_side, self.status.clone()) {
            Ok(capture) => self.capture = Some(capture),
            Err(e) => {
                // Keep the audio flowing: the plugin passes audio through untouched and
                // simply makes no frames.
                nice_log!("analysis disabled: {e}");
                self.status
                    .report(|r| r.error = Some(format!("no frames at this setting: {e}")));
                return true;
            }
        }
        // A model the editor asked for while we were inactive, else the session's model.
        // The worker loads what the session names if that changes after this moment.
        let session = self.params.session_choice();
        let runtime = self.params.runtime_config();
        let wanted = self.status.take_load_request().or_else(|| {
            self.params.model_to_load().map(|path| LoadRequest {
                path,
                look: self.params.saved_look(),
                config: runtime,
                save: false,
            })
        });
        let engine = match self.engine.take() {
            Some(engine) => engine,
            None => match Engine::start(None) {
                Ok(engine) => engine,
                Err(e) => {
                    nice_log!("the generator's thread could not start, analysis disabled: {e}");
                    self.capture = None;
                    return true;
                }
            },
        };
        // The running generator serves if it is that model with those settings.
        let load = match wanted {
            Some(w) if engine.serves(&w) => {
                if w.save {
                    self.params.set_model(&w.path);
                    self.params.set_look(w.look.clone());
                    if w.look.is_none() {
                        self.params.remember_model(&w.path, params::RECENT_MODELS);
                    }
                }
                None
            }
            wanted => wanted,
        };
        let export = export::ExportSetup {
            rate_hz,
            channels: layout.main_output_channels.map_or(1, |c| c.get() as u16),
            params: self.params.clone(),
            errors_file: None,
        };
        match Worker::spawn(
            worker_side,
            self.status.clone(),
            input,
            WorkerSetup {
                engine,
                load,
                export,
                params: self.params.clone(),
                finishers: self.finishers.clone(),
                feed: self.feed(),
                session,
            },
        ) {
            Ok(worker) => {
                self.worker = Some(worker);
                *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(output);
                self.status.set_mode(Mode::Live);
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
            let pacing = |mode: ProcessMode| match mode {
                ProcessMode::Offline => Pacing::Offline,
                ProcessMode::Realtime | ProcessMode::Buffered => Pacing::Realtime,
            };
            let block = BlockContext {
                fps: self.params.fps.value().into(),
                timeline: transport.playing.then(|| transport.pos_samples()).flatten(),
                host_has_transport: transport.playing || transport.pos_samples().is_some(),
                pacing: self.mode.pacing(
                    pacing(context.process_mode()),
                    context.block_process_mode().map(pacing),
                ),
                export: self.params.export.value(),
                params: handoff::FrameParams {
                    input_gain_db: self.params.input_gain_db.value(),
                    smoothing: self.params.smoothing.value(),
                },
            };
            capture.process(buffer.as_slice_immutable(), &block);
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
        if let Some(engine) = self.engine.take() {
            engine.shut_down();
        }
        // A bounce still encoding is finished before the plugin goes (a host quitting right
        // after a bounce would otherwise leave half a video), within a limit.
        self.finishers.wait(export::FINISH_LIMIT);
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
