//! Counters and reports shared between the audio thread, the worker and the editor.
//!
//! The counters are plain atomics with relaxed ordering: each is an independent statistic,
//! read for display and by tests, never used to synchronise memory. The audio thread only
//! ever touches counters; it never returns errors, it raises these instead. The
//! [`WorkerReport`] sits behind a mutex that only the worker, the loader and the GUI take.

use mvgen_core::ModelInfo;
use mvgen_runtime::ProviderReport;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    /// Never locked by the audio thread.
    report: Mutex<WorkerReport>,
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
