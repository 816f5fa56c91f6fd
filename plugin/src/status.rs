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
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

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
    /// The timeline sample where the current bounce's audio starts (set by the audio
    /// thread before it sends the first export audio).
    pub bounce_start: AtomicI64,
    /// Export audio samples dropped because the worker stalled past the offline wait.
    pub export_samples_dropped: AtomicU64,
    /// The editor's state, which knows whether its window is open: the worker prepares
    /// what only the editor shows (the input spectrogram) only while it is.
    pub editor: std::sync::OnceLock<std::sync::Arc<nice_plug_egui::EguiEditorState>>,
    /// Wakes the editor for a repaint (an atomic flag its window polls).
    pub repaint: std::sync::OnceLock<nice_plug_egui::RepaintNotifier>,
    /// What the plugin is doing, as a [`Mode`].
    mode: AtomicU8,
    /// Never locked by the audio thread.
    report: Mutex<WorkerReport>,
    /// A model the editor asked for, taken by the running worker (or left to the next
    /// activation, which loads the session's model anyway).
    load_request: Mutex<Option<(PathBuf, RuntimeConfig)>>,
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
    /// The last error, in plain words.
    pub error: Option<String>,
    pub inference_ms: f32,
    /// The folder of the last finished bounce export.
    pub last_bounce: Option<PathBuf>,
}

impl Status {
    pub fn new() -> Self {
        let status = Self::default();
        status.last_frame.store(-1, Ordering::Relaxed);
        status
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

    /// Ask the running worker to load `path` (the editor's "Load model"). Never call from
    /// the audio thread.
    pub fn request_load(&self, path: PathBuf, runtime: RuntimeConfig) {
        *self.load_request.lock().unwrap_or_else(|e| e.into_inner()) = Some((path, runtime));
    }

    /// The model the editor asked for, if any. Worker and main thread only.
    pub fn take_load_request(&self) -> Option<(PathBuf, RuntimeConfig)> {
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
