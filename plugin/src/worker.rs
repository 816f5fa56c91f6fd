//! The worker thread: takes windows from the audio thread, runs the generator on each,
//! publishes the frame, and returns the window to the pool.
//!
//! The worker may allocate and block; the audio thread never waits for it in real time.
//! When windows arrive faster than the generator runs, the worker takes only the newest
//! one waiting and returns the stale ones unprocessed (latest wins; they are counted).
//! Offline, the audio thread waits for the pool instead, and every window is generated.
//!
//! Models load on a loader thread and are swapped in between frames, so loading (about a
//! second for a large model) never stalls the frames already flowing. Without a model,
//! or while one fails, the worker publishes a per-band summary of the window instead.
//!
//! When `MVGEN_TAP_DIR` names a folder, the worker also writes every window it receives
//! and every frame it makes there (`windows.csv`, raw little-endian f32 files, and
//! `errors.txt`). The host tests use it to compare live output with the offline path;
//! users never need it.

use crate::capture::Pacing;
use crate::export::{Bounce, ExportSetup};
use crate::handoff::{FramePacket, WorkerSide};
use crate::status::Status;
use mvgen_core::spectrogram::SIZE;
use mvgen_core::{Frame, SpectrogramWindow};
use mvgen_runtime::{Generator, RuntimeConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bands in a summary: 8 bands of 32 rows, low frequencies first.
pub const NUM_BANDS: usize = 8;
/// How long the worker sleeps when there is nothing to do. At 60 fps a frame is 16.7 ms.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// The environment variable that turns the tap on.
pub const TAP_ENV: &str = "MVGEN_TAP_DIR";

/// What the worker publishes for the editor and the exporter: the newest frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// Counts publications over the plugin's life (0: nothing published yet), so the
    /// editor can tell a new frame from one it has shown.
    pub sequence: u64,
    pub frame: i64,
    /// Mean image value per band of the window, in [-1, 1], low frequencies first.
    pub band_levels: [f32; NUM_BANDS],
    /// The generated frame, when a generator ran.
    pub image: Option<Frame>,
    /// The frame's input window, only while the editor is open (it alone shows it).
    pub spectrogram: Option<SpectrogramWindow>,
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<Generator>>>,
    loader: Loader,
    runtime: RuntimeConfig,
}

impl Worker {
    /// Start the worker, with a generator kept from an earlier activation if there is one.
    pub fn spawn(
        side: WorkerSide,
        status: Arc<Status>,
        publish: triple_buffer::Input<Published>,
        setup: WorkerSetup,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, incoming) = channel();
        let WorkerSetup {
            pacing,
            runtime,
            generator,
            export,
        } = setup;
        let loader = Loader {
            sender,
            pending: Arc::new(AtomicUsize::new(0)),
            status: status.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("mvgen-worker".into())
            .spawn({
                let models = Models {
                    incoming,
                    loader: loader.clone(),
                };
                let (status, stop) = (status.clone(), stop.clone());
                move || {
                    run(
                        side, status, publish, models, stop, pacing, generator, export,
                    )
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
            loader,
            runtime,
        })
    }

    /// Stop after the windows already queued, and hand back the generator for reuse.
    pub fn stop(mut self) -> Option<Generator> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }

    /// Load `path` on a loader thread and swap it in when it is ready. Main thread.
    pub fn load_model(&self, path: &Path) {
        self.loader.load(path, &self.runtime);
    }
}

/// Starts loader threads whose generators the worker swaps in.
#[derive(Clone)]
struct Loader {
    sender: Sender<Result<Generator, String>>,
    /// Loads started and not yet received by the worker.
    pending: Arc<AtomicUsize>,
    status: Arc<Status>,
}

impl Loader {
    fn load(&self, path: &Path, runtime: &RuntimeConfig) {
        let (path, runtime, sender) = (path.to_owned(), runtime.clone(), self.sender.clone());
        self.status.report(|r| r.loading = Some(path.clone()));
        self.pending.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("mvgen-loader".into())
            .spawn(move || {
                let loaded = Generator::load(&path, &runtime)
                    .map_err(|e| format!("{}: {e}", path.display()));
                let _ = sender.send(loaded);
            });
        if let Err(e) = spawned {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            self.status.report(|r| {
                r.loading = None;
                r.error = Some(format!("could not start the model loader: {e}"));
            });
        }
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

/// How a worker starts.
pub struct WorkerSetup {
    pub pacing: Pacing,
    pub runtime: RuntimeConfig,
    pub generator: Option<Generator>,
    /// Offline with export on: where and how to write the bounce.
    pub export: Option<ExportSetup>,
}

/// Generators arriving from loader threads, and the loader for the editor's requests.
struct Models {
    incoming: Receiver<Result<Generator, String>>,
    loader: Loader,
}

/// The longest an offline render waits for a model that is loading.
const OFFLINE_LOAD_WAIT: Duration = Duration::from_secs(120);

#[allow(clippy::too_many_arguments)]
fn run(
    mut side: WorkerSide,
    status: Arc<Status>,
    mut publish: triple_buffer::Input<Published>,
    models: Models,
    stop: Arc<AtomicBool>,
    pacing: Pacing,
    mut generator: Option<Generator>,
    mut export: Option<ExportSetup>,
) -> Option<Generator> {
    // Starts with the bounce's first audio; never, if the bounce does not export.
    let mut bounce: Option<Bounce> = None;
    let mut tap = Tap::from_env();
    if let Some(g) = &generator {
        // Kept from an earlier activation: the report starts out naming it.
        status.report(|r| {
            r.model = Some(g.info().clone());
            r.provider = Some(g.provider().clone());
        });
    }
    loop {
        if let Some((path, runtime)) = status.take_load_request() {
            models.loader.load(&path, &runtime);
        }
        // Offline, a bounce's frames must all come from the model the session names:
        // wait for a load in progress instead of making summaries meanwhile.
        let arrived =
            if pacing == Pacing::Offline && models.loader.pending.load(Ordering::SeqCst) > 0 {
                models.incoming.recv_timeout(OFFLINE_LOAD_WAIT).ok()
            } else {
                models.incoming.try_recv().ok()
            };
        if let Some(loaded) = arrived {
            models.loader.pending.fetch_sub(1, Ordering::SeqCst);
            match loaded {
                Ok(g) => {
                    nice_plug::nice_log!(
                        "model {} on {} (first run {:.0} ms)",
                        g.info().display_name(),
                        g.provider(),
                        g.warmup().as_secs_f64() * 1e3
                    );
                    status.report(|r| {
                        r.loading = None;
                        r.error = None;
                        r.model = Some(g.info().clone());
                        r.provider = Some(g.provider().clone());
                    });
                    generator = Some(g);
                }
                Err(e) => {
                    nice_plug::nice_log!("model not loaded: {e}");
                    tap_error(&mut tap, &e);
                    status.report(|r| {
                        r.loading = None;
                        r.error = Some(e);
                    });
                }
            }
        }
        drain_audio(&mut side, &mut bounce, &mut export, &status);
        let Ok(mut packet) = side.from_audio.pop() else {
            if stop.load(Ordering::Relaxed) && side.from_audio.is_empty() {
                drain_audio(&mut side, &mut bounce, &mut export, &status);
                if let Some(b) = &mut bounce {
                    if let Some(dir) = b.finish() {
                        nice_plug::nice_log!("bounce exported to {}", dir.display());
                        status.report(|r| r.last_bounce = Some(dir));
                    }
                    report_export_errors(b, &mut tap);
                }
                return generator;
            }
            std::thread::sleep(IDLE_SLEEP);
            continue;
        };
        // The packet's audio went into the ring before it: pass it on first.
        drain_audio(&mut side, &mut bounce, &mut export, &status);
        // Latest wins: in real time only the newest waiting window is worth a frame.
        // Offline every window is a frame of the bounce.
        if pacing == Pacing::Realtime {
            while let Ok(newer) = side.from_audio.pop() {
                let _ = side
                    .to_audio
                    .push(std::mem::replace(&mut packet, newer).window);
                Status::add(&status.windows_skipped, 1);
            }
        }
        make_frame(
            &packet,
            generator.as_mut(),
            &status,
            &mut publish,
            &mut tap,
            bounce.as_mut(),
        );
        if let Some(b) = &mut bounce {
            report_export_errors(b, &mut tap);
        }
        status.last_frame.store(packet.frame, Ordering::Relaxed);
        Status::add(&status.windows_processed, 1);
        // The queue holds the whole pool, so the window always fits.
        let _ = side.to_audio.push(packet.window);
    }
}

fn make_frame(
    packet: &FramePacket,
    generator: Option<&mut Generator>,
    status: &Status,
    publish: &mut triple_buffer::Input<Published>,
    tap: &mut Option<Tap>,
    bounce: Option<&mut Bounce>,
) {
    let out = publish.input_buffer_mut();
    out.sequence = status.frames_published.fetch_add(1, Ordering::Relaxed) + 1;
    out.frame = packet.frame;
    out.band_levels = band_levels(packet);
    if status.editor_open() {
        out.spectrogram
            .get_or_insert_with(SpectrogramWindow::default)
            .clone_from(&packet.window);
    } else {
        out.spectrogram = None;
    }
    let mut generated = false;
    let mut bounce = bounce;
    if let (Some(b), Some(g)) = (bounce.as_deref_mut(), generator.as_deref()) {
        b.set_model(g.info(), g.provider());
    }
    if let Some(generator) = generator {
        let image = out.image.get_or_insert_with(Frame::default);
        let started = Instant::now();
        match generator.run(&packet.window, image) {
            Ok(()) => {
                generated = true;
                status.report(|r| r.inference_ms = started.elapsed().as_secs_f32() * 1e3);
            }
            Err(e) => {
                let message = format!("frame {}: {e}", packet.frame);
                tap_error(tap, &message);
                status.report(|r| r.error = Some(message));
                Status::add(&status.frames_failed, 1);
            }
        }
    }
    if !generated {
        out.image = None;
    }
    if let Some(b) = bounce {
        b.frame(packet, out.image.as_ref());
    }
    if let Some(t) = tap {
        if let Err(e) = t.write(packet, out) {
            nice_plug::nice_log!("window tap disabled: {e}");
            *tap = None;
        }
    }
    publish.publish();
    status.notify_editor();
}

/// Pass the audio the audio thread sent for a bounce to the export, starting the export
/// with the first of it.
fn drain_audio(
    side: &mut WorkerSide,
    bounce: &mut Option<Bounce>,
    export: &mut Option<ExportSetup>,
    status: &Arc<Status>,
) {
    let Some(ring) = &mut side.audio else {
        return;
    };
    let Ok(chunk) = ring.read_chunk(ring.slots()) else {
        return;
    };
    if chunk.is_empty() {
        return;
    }
    if bounce.is_none() {
        *bounce = export.take().map(|e| Bounce::new(e, status.clone()));
    }
    if let Some(b) = bounce {
        let start = status.bounce_start.load(Ordering::SeqCst);
        let (first, second) = chunk.as_slices();
        b.audio(start, first);
        b.audio(start, second);
    }
    chunk.commit_all();
}

fn band_levels(packet: &FramePacket) -> [f32; NUM_BANDS] {
    let pixels = packet.window.pixels();
    let rows_per_band = SIZE / NUM_BANDS;
    let mut levels = [0.0; NUM_BANDS];
    for (band, level) in levels.iter_mut().enumerate() {
        // Row 0 is the top (highest frequency): band 0 is the bottom rows.
        let top_row = SIZE - (band + 1) * rows_per_band;
        let rows = &pixels[top_row * SIZE..(top_row + rows_per_band) * SIZE];
        *level = rows.iter().sum::<f32>() / rows.len() as f32;
    }
    levels
}

fn report_export_errors(bounce: &mut Bounce, tap: &mut Option<Tap>) {
    for e in bounce.take_errors() {
        tap_error(tap, &e);
    }
}

fn tap_error(tap: &mut Option<Tap>, message: &str) {
    if let Some(t) = tap {
        let _ = t.error(message);
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
                "sequence,frame,timeline_sample,window_end_44k,generated,band_levels"
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

    fn write(&mut self, packet: &FramePacket, out: &Published) -> std::io::Result<()> {
        let raw = |values: &[f32]| {
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        std::fs::write(
            self.dir.join(format!("{:06}.f32", self.sequence)),
            raw(packet.window.pixels()),
        )?;
        if let Some(image) = &out.image {
            std::fs::write(
                self.dir.join(format!("{:06}.frame.f32", self.sequence)),
                raw(image.planes()),
            )?;
        }
        let levels: Vec<String> = out.band_levels.iter().map(|l| format!("{l:.6}")).collect();
        writeln!(
            self.index,
            "{},{},{},{},{},{}",
            self.sequence,
            packet.frame,
            packet.timeline_sample,
            packet.window_end.samples(),
            u8::from(out.image.is_some()),
            levels.join(" ")
        )?;
        self.index.flush()?;
        self.sequence += 1;
        Ok(())
    }

    fn error(&mut self, message: &str) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("errors.txt"))?;
        writeln!(f, "{message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::handoff;
    use mvgen_runtime::Execution;

    fn wait_for(status: &Status, done: impl Fn(&crate::status::WorkerReport) -> bool) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if done(&status.worker_report()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The editor's "Load model" reaches a running worker through the status, and a bad
    /// path is reported in plain words while the loaded model stays.
    #[test]
    fn editor_load_requests_reach_the_worker() {
        let status = Arc::new(Status::new());
        let (_audio, worker_side) = handoff(false);
        let (input, _output) = triple_buffer::triple_buffer(&Published::default());
        let runtime = RuntimeConfig {
            execution: Execution::Cpu,
            cpu_threads: 1,
        };
        let worker = Worker::spawn(
            worker_side,
            status.clone(),
            input,
            WorkerSetup {
                pacing: Pacing::Realtime,
                runtime: runtime.clone(),
                generator: None,
                export: None,
            },
        )
        .unwrap();
        let model = mvgen_default_model::path().unwrap();
        status.request_load(model.clone(), runtime.clone());
        assert!(
            wait_for(&status, |r| r.model.is_some()),
            "the model never loaded"
        );
        let report = status.worker_report();
        assert_eq!(report.model.unwrap().path, model);
        assert_eq!(report.loading, None);
        assert_eq!(report.error, None);

        status.request_load(PathBuf::from("/nonexistent/model.onnx"), runtime);
        assert!(
            wait_for(&status, |r| r.error.is_some()),
            "no error reported"
        );
        let report = status.worker_report();
        assert!(
            report
                .error
                .as_deref()
                .unwrap()
                .contains("/nonexistent/model.onnx"),
            "{:?}",
            report.error
        );
        assert_eq!(
            report.model.unwrap().path,
            model,
            "the loaded model was lost"
        );
        assert!(
            worker.stop().is_some(),
            "the worker handed back its generator"
        );
    }
}
