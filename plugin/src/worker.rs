//! The worker thread: takes windows from the audio thread, turns each into a frame
//! summary, publishes it, and returns the window to the pool.
//!
//! Until the generator arrives, the "frame" is a cheap summary of the window (mean level
//! per frequency band), enough to prove the hand-off end to end. The worker may allocate
//! and block; the audio thread never waits for it.
//!
//! When `MVGEN_TAP_DIR` names a folder, the worker also writes every window it receives
//! there (`windows.csv` plus one raw little-endian f32 file per window). The host tests
//! use it to compare live windows with the offline contract; users never need it.

use crate::handoff::{FramePacket, WorkerSide};
use crate::status::Status;
use mvgen_core::spectrogram::SIZE;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Bands in a summary: 8 bands of 32 rows, low frequencies first.
pub const NUM_BANDS: usize = 8;
/// How long the worker sleeps when there is nothing to do. At 60 fps a frame is 16.7 ms.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// The environment variable that turns the window tap on.
pub const TAP_ENV: &str = "MVGEN_TAP_DIR";

/// What the worker publishes per frame until it runs the generator.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameSummary {
    pub frame: i64,
    /// Mean image value per band, in [-1, 1], low frequencies first.
    pub band_levels: [f32; NUM_BANDS],
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(
        side: WorkerSide,
        status: Arc<Status>,
        publish: triple_buffer::Input<FrameSummary>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("mvgen-worker".into())
            .spawn({
                let stop = stop.clone();
                move || run(side, status, publish, stop)
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    mut side: WorkerSide,
    status: Arc<Status>,
    mut publish: triple_buffer::Input<FrameSummary>,
    stop: Arc<AtomicBool>,
) {
    let mut tap = Tap::from_env();
    loop {
        match side.from_audio.pop() {
            Ok(packet) => {
                let summary = summarise(&packet);
                if let Some(t) = &mut tap {
                    if let Err(e) = t.write(&packet, &summary) {
                        nice_plug::nice_log!("window tap disabled: {e}");
                        tap = None;
                    }
                }
                publish.write(summary);
                status.last_frame.store(packet.frame, Ordering::Relaxed);
                Status::add(&status.windows_processed, 1);
                // The queue holds the whole pool, so the window always fits.
                let _ = side.to_audio.push(packet.window);
            }
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(_) => std::thread::sleep(IDLE_SLEEP),
        }
    }
}

fn summarise(packet: &FramePacket) -> FrameSummary {
    let pixels = packet.window.pixels();
    let rows_per_band = SIZE / NUM_BANDS;
    let mut band_levels = [0.0; NUM_BANDS];
    for (band, level) in band_levels.iter_mut().enumerate() {
        // Row 0 is the top (highest frequency): band 0 is the bottom rows.
        let top_row = SIZE - (band + 1) * rows_per_band;
        let rows = &pixels[top_row * SIZE..(top_row + rows_per_band) * SIZE];
        *level = rows.iter().sum::<f32>() / rows.len() as f32;
    }
    FrameSummary {
        frame: packet.frame,
        band_levels,
    }
}

struct Tap {
    dir: PathBuf,
    index: std::fs::File,
    sequence: u64,
}

impl Tap {
    fn from_env() -> Option<Self> {
        let dir = PathBuf::from(std::env::var_os(TAP_ENV)?);
        let open = || -> std::io::Result<Self> {
            std::fs::create_dir_all(&dir)?;
            let mut index = std::fs::File::create(dir.join("windows.csv"))?;
            writeln!(
                index,
                "sequence,frame,timeline_sample,window_end_44k,band_levels"
            )?;
            Ok(Self {
                dir: dir.clone(),
                index,
                sequence: 0,
            })
        };
        open()
            .map_err(|e| nice_plug::nice_log!("window tap at {} disabled: {e}", dir.display()))
            .ok()
    }

    fn write(&mut self, packet: &FramePacket, summary: &FrameSummary) -> std::io::Result<()> {
        let bytes: Vec<u8> = packet
            .window
            .pixels()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(self.dir.join(format!("{:06}.f32", self.sequence)), bytes)?;
        let levels: Vec<String> = summary
            .band_levels
            .iter()
            .map(|l| format!("{l:.6}"))
            .collect();
        writeln!(
            self.index,
            "{},{},{},{},{}",
            self.sequence,
            packet.frame,
            packet.timeline_sample,
            packet.window_end.samples(),
            levels.join(" ")
        )?;
        self.index.flush()?;
        self.sequence += 1;
        Ok(())
    }
}
