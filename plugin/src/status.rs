//! Counters and flags shared between the audio thread, the worker and the editor.
//!
//! Plain atomics with relaxed ordering: each is an independent statistic, read for display
//! and by tests, never used to synchronise memory. The audio thread never returns errors;
//! it raises these instead.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct Status {
    /// Windows the audio thread handed to the worker.
    pub windows_sent: AtomicU64,
    /// Frames dropped because the queue was full or the pool empty (the worker lagged).
    pub windows_dropped: AtomicU64,
    /// Frames whose window left the analyser's history before it could be sent.
    pub windows_expired: AtomicU64,
    /// Frames that were due while more than `MAX_PENDING` were already waiting.
    pub frames_overflowed: AtomicU64,
    /// NaN or infinite input samples, replaced by silence for analysis.
    pub non_finite_samples: AtomicU64,
    /// Windows the worker finished.
    pub windows_processed: AtomicU64,
    /// The last frame index the worker finished, or -1.
    pub last_frame: AtomicI64,
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
}
