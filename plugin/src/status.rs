//! Counters and reports shared between the audio thread, the worker and the editor.
//!
//! The counters are plain atomics with relaxed ordering: each is an independent statistic,
//! read for display and by tests, never used to synchronise memory. The audio thread only
//! ever touches counters; it never returns errors, it raises these instead. The
//! [`WorkerReport`] sits behind a mutex that only the worker, the loader and the GUI take.

use mvgen_core::ModelInfo;
use mvgen_runtime::ProviderReport;
use mvgen_runtime::RuntimeConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default, Debug)]
pub struct Status {
    /// Windows the audio thread handed to the worker.
    pub windows_sent: AtomicU64,
    /// Frames dropped because the queue was full or the pool empty (the worker lagged).
    pub windows_dropped: AtomicU64,
    /// Frames whose window left the analyser's history before it could be sent.
    pub windows_expired: AtomicU64,
    /// Frames that were due while `MAX_PENDING` were already waiting.
    pub frames_overflowed: AtomicU64,
    /// NaN or infinite input samples, replaced by silence for analysis.
    pub non_finite_samples: AtomicU64,
    /// Windows the worker finished.
    pub windows_processed: AtomicU64,
    /// Frames published to the editor, over all activations: the newest one's number.
    pub frames_published: AtomicU64,
    /// Stale windows the worker returned unprocessed because a newer one was waiting.
    pub windows_skipped: AtomicU64,
    /// Windows on which the generator failed.
    pub frames_failed: AtomicU64,
    /// The last frame index the worker finished, or -1.
    pub last_frame: AtomicI64,
    /// Export audio samples dropped because the worker stalled past the offline wait.
    pub export_samples_dropped: AtomicU64,
    /// Times a bounce stopped waiting for a worker that did not answer within the limit.
    pub offline_waits_given_up: AtomicU64,
    /// Times the audio thread waited for the worker (only ever in an exported bounce).
    pub offline_waits: AtomicU64,
    /// Milliseconds of offline audio without a moving timeline that were too short to be
    /// taken for a render (0: none since the worker last said so).
    pub short_render_ms: AtomicU64,
    /// Milliseconds of offline audio without a moving timeline that the host followed in
    /// real time before it could be bounced (0: none since the worker last said so).
    pub cut_render_ms: AtomicU64,
    /// Exported bounces none of which reached the worker (it was stalled throughout).
    pub bounces_lost: AtomicU64,
    /// The editor's state, which knows whether its window is open: the worker prepares
    /// what only the editor shows (the input spectrogram) only while it is.
    pub editor: std::sync::OnceLock<std::sync::Arc<nice_plug_egui::EguiEditorState>>,
    /// Wakes the editor for a repaint (an atomic flag its window polls).
    pub repaint: std::sync::OnceLock<nice_plug_egui::RepaintNotifier>,
    /// Live consumers of frames besides the editor window, each holding a [`Watch`].
    watchers: AtomicUsize,
    /// What the plugin is doing, as a [`Mode`].
    mode: AtomicU8,
    /// Never locked by the audio thread.
    report: Mutex<WorkerReport>,
    /// A model the editor asked for, taken by the running worker (or by the next
    /// activation).
    load_request: Mutex<Option<LoadRequest>>,
    /// This instance's number in the process, from 1: "MVGen 2".
    instance_number: u64,
    /// Its number on the machine, from its feed slot (0: no slot). Names it when the host
    /// gives no track name, so that two hosts' instances are told apart on a stage.
    feed_number: AtomicU64,
    /// A stage shows this instance (its feed slot's watch has not run out), as the worker
    /// last saw.
    stage_watching: AtomicBool,
    /// The host's name for the track this instance is on, where it says (CLAP track-info,
    /// VST3 `IInfoListener`).
    track_name: Mutex<Option<String>>,
}

/// Instances created in this process so far.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// A model to load, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRequest {
    /// The generator; for a look, where it was (the loader finds the look again by
    /// name and hash: it may have moved, as on another machine).
    pub path: PathBuf,
    /// The look this is.
    pub look: Option<mvgen_look::LookId>,
    pub config: RuntimeConfig,
    /// Make it the session's model once it has loaded (the user chose it), never before:
    /// a path that fails to load is not saved, and the model that runs stays.
    pub save: bool,
}

/// A live consumer of frames (see [`Status::watch`]).
pub struct Watch(Arc<Status>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the plugin is doing, for the editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not activated by the host (or deactivated).
    Stopped = 0,
    /// Activated for real-time playback: frames follow the music live.
    Live = 1,
    /// Activated for an offline render (a bounce): every frame is made, none dropped.
    Offline = 2,
}

/// What the editor shows about the generator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerReport {
    pub model: Option<ModelInfo>,
    pub provider: Option<ProviderReport>,
    pub loading: Option<PathBuf>,
    /// The look that runs (`None`: a model loaded as a file).
    pub look: Option<mvgen_look::LookId>,
    /// What the user should know about it: the session's look is missing here and the
    /// default runs, it was renamed or remade, or it has no enhancer.
    pub look_note: Option<String>,
    /// The last error, in plain words.
    pub error: Option<String>,
    pub inference_ms: f32,
    /// The folder of the last finished bounce export.
    pub last_bounce: Option<PathBuf>,
}

impl Status {
    pub fn new() -> Self {
        let status = Self {
            instance_number: INSTANCES.fetch_add(1, Ordering::Relaxed) + 1,
            ..Self::default()
        };
        status.last_frame.store(-1, Ordering::Relaxed);
        status
    }

    /// How the instance is named in manifests: the host's track name, else "MVGen N".
    /// Never call from the audio thread.
    pub fn instance_name(&self) -> String {
        self.track_name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| {
                let feed = self.feed_number.load(Ordering::Relaxed);
                format!(
                    "MVGen {}",
                    if feed > 0 { feed } else { self.instance_number }
                )
            })
    }

    /// The instance's number on the machine, from its feed slot (none without one).
    pub fn feed_number(&self) -> Option<u64> {
        Some(self.feed_number.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// The instance has a feed slot, number `n` on this machine.
    pub fn set_feed_number(&self, n: u32) {
        self.feed_number.store(n.into(), Ordering::Relaxed);
    }

    /// Whether a stage shows this instance.
    pub fn stage_watching(&self) -> bool {
        self.stage_watching.load(Ordering::Acquire)
    }

    /// The worker saw a stage's watch (or its end).
    pub fn set_stage_watching(&self, watching: bool) {
        self.stage_watching.store(watching, Ordering::Release);
    }

    /// The host named the track. Main thread.
    pub fn set_track_name(&self, name: &str) {
        *self.track_name.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.to_string());
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Whether the editor window is open now.
    pub fn editor_open(&self) -> bool {
        self.editor.get().is_some_and(|e| e.is_open())
    }

    /// Whether anyone looks at live frames: the editor window, a stage, or a [`Watch`]
    /// holder. The worker runs the generator live only then.
    pub fn is_watched(&self) -> bool {
        self.editor_open() || self.stage_watching() || self.watchers.load(Ordering::Acquire) > 0
    }

    /// Register a live consumer of frames until the returned guard drops.
    pub fn watch(self: &Arc<Self>) -> Watch {
        self.watchers.fetch_add(1, Ordering::AcqRel);
        Watch(self.clone())
    }

    /// Ask the open editor to repaint: a new frame is published.
    pub fn notify_editor(&self) {
        if let Some(r) = self.repaint.get() {
            r.request_repaint();
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    pub fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Relaxed) {
            1 => Mode::Live,
            2 => Mode::Offline,
            _ => Mode::Stopped,
        }
    }

    /// Ask the running worker (or the next activation) to load a model: the editor's "Load
    /// model". A newer request replaces one not yet taken. Never call from the audio thread.
    pub fn request_load(&self, request: LoadRequest) {
        *self.load_request.lock().unwrap_or_else(|e| e.into_inner()) = Some(request);
    }

    /// The model the editor asked for, if any. Worker and main thread only.
    pub fn take_load_request(&self) -> Option<LoadRequest> {
        self.load_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Update the report. Never call from the audio thread.
    pub fn report(&self, update: impl FnOnce(&mut WorkerReport)) {
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        update(&mut report);
    }

    /// A copy of the report. Never call from the audio thread.
    pub fn worker_report(&self) -> WorkerReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
