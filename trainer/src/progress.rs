//! Progress bars, and the one switch that hides them: `mvgen look new` runs the other
//! commands' work under one bar of its own, for the whole job.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Hide every bar made from now on in this process.
pub fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// A bar of `len` with indicatif's `template`, hidden after [`quiet`].
pub fn styled(len: u64, template: &str) -> ProgressBar {
    if QUIET.load(Ordering::Relaxed) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// A bar counting `len` of `what`, with the time taken and the time left.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    styled(
        len,
        &format!("{{bar:40}} {{pos}}/{{len}} {what} {{elapsed_precise}} (eta {{eta}}) {{msg}}"),
    )
}
