//! The worker thread: takes windows from the audio thread, runs the generator on the ones
//! someone will see, publishes the frame, writes bounces, and returns the window to the
//! pool.
//!
//! **The generator runs only for a consumer.** Live, that is the editor while its window
//! is open (or another holder of a [`crate::status::Watch`]): with nobody watching, the
//! worker returns each window unprocessed, so an instance nobody watches costs only its
//! analysis. In a bounce (between the audio thread's start
//! and end marks) every window is a frame of the export and is generated.
//!
//! The worker may allocate and block; the audio thread never waits for it in real time.
//! When windows arrive faster than the generator runs live, the worker takes only the
//! newest one waiting and returns the stale ones unprocessed (latest wins; they are
//! counted). In a bounce the audio thread waits for the pool instead.
//!
//! **Models** load on loader threads and are swapped in between frames, so loading (about
//! a second for a large model) never stalls the frames already flowing. Only the newest
//! load asked for may land: an older one that finishes later is dropped. A loader always
//! answers, even when loading panics. A generator carries the settings it was loaded
//! with, and a model the user chose becomes the session's model only once it has loaded.
//! Without a model, or while one fails, the worker publishes a per-band summary of the
//! window instead.
//!
//! When `MVGEN_TAP_DIR` names a folder, the worker also writes every window it receives
//! and every frame it makes there (`windows.csv`, raw little-endian f32 files, and
//! `errors.txt`). `MVGEN_TEST_STALL` (`<ms>` or `<ms>@<frame>`) makes it sleep before
//! every frame, or before one frame: a stalled generator. Both are for the tests; users
//! never need them.

use crate::export::{Bounce, ExportSetup, Finishers};
use crate::handoff::{BounceStart, FramePacket, Message, WorkerSide};
use crate::params::{MvGenParams, RECENT_MODELS};
use crate::status::{LoadRequest, Status};
use mvgen_core::spectrogram::SIZE;
use mvgen_core::{Frame, SpectrogramWindow};
use mvgen_runtime::Generator;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bands in a summary: 8 bands of 32 rows, low frequencies first.
pub const NUM_BANDS: usize = 8;
/// How long the worker sleeps when there is nothing to do. At 60 fps a frame is 16.7 ms.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// The environment variable that turns the tap on.
pub const TAP_ENV: &str = "MVGEN_TAP_DIR";
/// The environment variable of the stall hook (tests only).
pub const STALL_ENV: &str = "MVGEN_TEST_STALL";
/// The longest a bounce waits for a model that is loading before it goes on without it.
const OFFLINE_LOAD_WAIT: Duration = Duration::from_secs(120);

/// What the worker publishes for the editor: the newest frame.
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

/// How a worker starts.
pub struct WorkerSetup {
    /// A generator kept from an earlier activation.
    pub generator: Option<Generator>,
    /// A model to load as soon as the worker runs.
    pub load: Option<LoadRequest>,
    pub export: ExportSetup,
    /// The session, where a chosen model is saved once it loads.
    pub params: Arc<MvGenParams>,
    pub finishers: Arc<Finishers>,
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<Generator>>>,
}

impl Worker {
    /// Start the worker.
    pub fn spawn(
        side: WorkerSide,
        status: Arc<Status>,
        publish: triple_buffer::Input<Published>,
        setup: WorkerSetup,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("mvgen-worker".into())
            .spawn({
                let stop = stop.clone();
                move || State::new(side, status, publish, setup).run(&stop)
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stop after the messages already queued, and hand back the generator for reuse.
    pub fn stop(mut self) -> Option<Generator> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loader's answer.
struct Loaded {
    id: u64,
    request: LoadRequest,
    result: Result<Generator, String>,
}

/// Loads on threads of their own; only the newest asked for may land.
struct Loads {
    sender: Sender<Loaded>,
    incoming: Receiver<Loaded>,
    next_id: u64,
    /// The newest load asked for, not yet arrived.
    waiting: Option<u64>,
    /// A load a bounce stopped waiting for (it still lands when it arrives).
    given_up: Option<u64>,
}

impl Loads {
    fn new() -> Self {
        let (sender, incoming) = channel();
        Self {
            sender,
            incoming,
            next_id: 0,
            waiting: None,
            given_up: None,
        }
    }

    /// Start loading `request`; it supersedes any load in progress.
    fn start(&mut self, request: LoadRequest, status: &Status) {
        self.next_id += 1;
        let id = self.next_id;
        self.waiting = Some(id);
        status.report(|r| r.loading = Some(request.path.clone()));
        let sender = self.sender.clone();
        let spawned = std::thread::Builder::new()
            .name("mvgen-loader".into())
            .spawn(move || {
                let path = request.path.clone();
                let config = request.config.clone();
                // A loader always answers: a panic inside ONNX Runtime's bindings becomes
                // an error like any other.
                let result = std::panic::catch_unwind(|| Generator::load(&path, &config))
                    .unwrap_or_else(|panic| {
                        let why = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown".into());
                        Err(mvgen_runtime::LoadError::Model(
                            mvgen_core::ModelError::Runtime(format!("the loader crashed: {why}")),
                        ))
                    })
                    .map_err(|e| format!("{}: {e}", path.display()));
                let _ = sender.send(Loaded {
                    id,
                    request,
                    result,
                });
            });
        if let Err(e) = spawned {
            self.waiting = None;
            status.report(|r| {
                r.loading = None;
                r.error = Some(format!("could not start the model loader: {e}"));
            });
        }
    }
}

struct State {
    side: WorkerSide,
    status: Arc<Status>,
    publish: triple_buffer::Input<Published>,
    generator: Option<Generator>,
    loads: Loads,
    params: Arc<MvGenParams>,
    export: ExportSetup,
    finishers: Arc<Finishers>,
    /// Between a bounce's start and end marks: every window is a frame of the bounce.
    in_bounce: bool,
    /// The bounce being written, when it is exported.
    bounce: Option<Bounce>,
    tap: Option<Tap>,
    stall: Option<Stall>,
}

impl State {
    fn new(
        side: WorkerSide,
        status: Arc<Status>,
        publish: triple_buffer::Input<Published>,
        setup: WorkerSetup,
    ) -> Self {
        let tap = Tap::from_env();
        let mut export = setup.export;
        export.errors_file = tap.as_ref().map(|t| t.dir.join("errors.txt"));
        let mut state = Self {
            side,
            publish,
            generator: setup.generator,
            loads: Loads::new(),
            params: setup.params,
            export,
            finishers: setup.finishers,
            in_bounce: false,
            bounce: None,
            tap,
            stall: Stall::from_env(),
            status,
        };
        if let Some(g) = &state.generator {
            // Kept from an earlier activation: the report starts out naming it.
            state.status.report(|r| {
                r.model = Some(g.info().clone());
                r.provider = Some(g.provider().clone());
            });
        }
        if let Some(request) = setup.load {
            state.loads.start(request, &state.status);
        }
        state
    }

    fn run(mut self, stop: &AtomicBool) -> Option<Generator> {
        loop {
            if let Some(request) = self.status.take_load_request() {
                self.loads.start(request, &self.status);
            }
            while let Ok(loaded) = self.loads.incoming.try_recv() {
                self.arrived(loaded);
            }
            match self.side.from_audio.pop() {
                Ok(Message::Frame(packet)) => self.frame(packet),
                Ok(Message::BounceStart(start)) => self.start_bounce(start),
                Ok(Message::BounceEnd { audio_mark }) => self.end_bounce(audio_mark),
                Err(_) => {
                    // The audio side marks the end of any bounce before it stops us.
                    if stop.load(Ordering::Acquire) && self.side.from_audio.is_empty() {
                        self.end_bounce(u64::MAX);
                        if let Some(t) = &self.tap {
                            let _ = t.counters(&self.status);
                        }
                        return self.generator.take();
                    }
                    std::thread::sleep(IDLE_SLEEP);
                }
            }
        }
    }

    /// A loader answered: swap the generator in if it is the newest load asked for.
    fn arrived(&mut self, loaded: Loaded) {
        if self.loads.waiting != Some(loaded.id) && self.loads.given_up != Some(loaded.id) {
            nice_plug::nice_log!(
                "model {} superseded by a newer request; dropped",
                loaded.request.path.display()
            );
            return;
        }
        self.loads.waiting = None;
        self.loads.given_up = None;
        match loaded.result {
            Ok(g) => {
                nice_plug::nice_log!(
                    "model {} on {} (first run {:.0} ms)",
                    g.info().display_name(),
                    g.provider(),
                    g.warmup().as_secs_f64() * 1e3
                );
                if loaded.request.save {
                    self.params.set_model(&loaded.request.path);
                    self.params
                        .remember_model(&loaded.request.path, RECENT_MODELS);
                }
                self.status.report(|r| {
                    r.loading = None;
                    r.error = None;
                    r.model = Some(g.info().clone());
                    r.provider = Some(g.provider().clone());
                });
                self.generator = Some(g);
            }
            Err(e) => {
                nice_plug::nice_log!("model not loaded: {e}");
                self.tap_error(&e);
                self.status.report(|r| {
                    r.loading = None;
                    r.error = Some(e);
                });
            }
        }
    }

    /// A bounce's frames must come from the model the session names: wait for a load in
    /// progress, once, up to [`OFFLINE_LOAD_WAIT`].
    fn wait_for_load(&mut self) {
        let Some(id) = self.loads.waiting else {
            return;
        };
        let deadline = Instant::now() + OFFLINE_LOAD_WAIT;
        while self.loads.waiting == Some(id) {
            match self
                .loads
                .incoming
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(loaded) => self.arrived(loaded),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let message = format!(
                        "the model was still loading after {} s: this bounce goes on without it",
                        OFFLINE_LOAD_WAIT.as_secs()
                    );
                    nice_plug::nice_log!("{message}");
                    self.tap_error(&message);
                    self.status.report(|r| r.error = Some(message));
                    self.loads.given_up = self.loads.waiting.take();
                }
            }
        }
    }

    fn start_bounce(&mut self, start: BounceStart) {
        self.end_bounce(0);
        self.in_bounce = true;
        self.bounce = if start.export {
            Some(Bounce::new(self.export.clone(), start, self.status.clone()))
        } else {
            nice_plug::nice_log!("offline render not exported: Export on bounce is off");
            None
        };
    }

    /// The bounce's audio is what was written before `audio_mark`; finish it off the
    /// worker's thread.
    fn end_bounce(&mut self, audio_mark: u64) {
        self.take_audio(audio_mark);
        self.in_bounce = false;
        if let Some(bounce) = self.bounce.take() {
            self.finishers.finish(bounce);
        }
    }

    /// Pass the export audio written before `mark` to the bounce (or drop it).
    fn take_audio(&mut self, mark: u64) {
        match &mut self.bounce {
            Some(b) => self.side.read_audio_to(mark, |s| b.audio(s)),
            None => self.side.skip_audio_to(mark),
        }
    }

    fn frame(&mut self, mut packet: FramePacket) {
        self.take_audio(packet.audio_mark);
        if !self.in_bounce {
            // Latest wins: live, only the newest waiting window is worth a frame.
            while matches!(self.side.from_audio.peek(), Ok(Message::Frame(_))) {
                let Ok(Message::Frame(newer)) = self.side.from_audio.pop() else {
                    break;
                };
                let stale = std::mem::replace(&mut packet, newer);
                let _ = self.side.to_audio.push(stale.window);
                Status::add(&self.status.windows_skipped, 1);
            }
        }
        if let Some(stall) = &self.stall {
            stall.before(packet.frame);
        }
        if self.in_bounce || self.status.is_watched() {
            if self.in_bounce {
                self.wait_for_load();
            }
            self.make_frame(&packet);
        } else if let Some(t) = &mut self.tap {
            // Nobody watches: no generator, but the tests still see every window.
            if let Err(e) = t.write(&packet, None, &band_levels(&packet)) {
                nice_plug::nice_log!("window tap disabled: {e}");
                self.tap = None;
            }
        }
        self.status
            .last_frame
            .store(packet.frame, Ordering::Relaxed);
        Status::add(&self.status.windows_processed, 1);
        // The queue holds the whole pool, so the window always fits.
        let _ = self.side.to_audio.push(packet.window);
    }

    fn make_frame(&mut self, packet: &FramePacket) {
        let Self {
            publish,
            status,
            generator,
            loads,
            bounce,
            tap,
            ..
        } = self;
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
        let generated = match generator {
            Some(generator) => {
                let image = out.image.get_or_insert_with(Frame::default);
                let started = Instant::now();
                match generator.run(&packet.window, image) {
                    Ok(()) => {
                        let ms = started.elapsed().as_secs_f32() * 1e3;
                        status.report(|r| r.inference_ms = ms);
                        Ok(())
                    }
                    Err(e) => {
                        Status::add(&status.frames_failed, 1);
                        let message = format!("frame {}: {e}", packet.frame);
                        if let Some(t) = tap {
                            let _ = t.error(&message);
                        }
                        status.report(|r| r.error = Some(message.clone()));
                        Err(message)
                    }
                }
            }
            None if loads.waiting.is_some() => Err("the model was still loading".to_string()),
            None => Err("no model loaded".to_string()),
        };
        if generated.is_err() {
            out.image = None;
        }
        if let Some(b) = bounce {
            if let Some(g) = generator {
                b.set_model(g.info(), g.provider());
            }
            let image = generated
                .clone()
                .and_then(|()| out.image.as_ref().ok_or_else(|| "no frame".to_string()));
            b.frame(packet, image);
        }
        if let Some(t) = tap {
            if let Err(e) = t.write(packet, out.image.as_ref(), &out.band_levels) {
                nice_plug::nice_log!("window tap disabled: {e}");
                *tap = None;
            }
        }
        publish.publish();
        status.notify_editor();
    }

    fn tap_error(&self, message: &str) {
        if let Some(t) = &self.tap {
            let _ = t.error(message);
        }
    }
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

/// The stall hook: sleep before every frame, or before one.
struct Stall {
    delay: Duration,
    frame: Option<i64>,
}

impl Stall {
    fn from_env() -> Option<Self> {
        let text = std::env::var(STALL_ENV).ok()?;
        let (ms, frame) = match text.split_once('@') {
            Some((ms, frame)) => (ms, Some(frame.trim().parse().ok()?)),
            None => (text.as_str(), None),
        };
        Some(Self {
            delay: Duration::from_millis(ms.trim().parse().ok()?),
            frame,
        })
    }

    fn before(&self, frame: i64) {
        if self.frame.is_none_or(|f| f == frame) {
            std::thread::sleep(self.delay);
        }
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

    fn write(
        &mut self,
        packet: &FramePacket,
        image: Option<&Frame>,
        band_levels: &[f32; NUM_BANDS],
    ) -> std::io::Result<()> {
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
        if let Some(image) = image {
            std::fs::write(
                self.dir.join(format!("{:06}.frame.f32", self.sequence)),
                raw(image.planes()),
            )?;
        }
        let levels: Vec<String> = band_levels.iter().map(|l| format!("{l:.6}")).collect();
        writeln!(
            self.index,
            "{},{},{},{},{},{}",
            self.sequence,
            packet.frame,
            packet.timeline_sample,
            packet.window_end.samples(),
            u8::from(image.is_some()),
            levels.join(" ")
        )?;
        self.index.flush()?;
        self.sequence += 1;
        Ok(())
    }

    /// The status counters as the worker stops, `name value` per line (`counters.txt`).
    fn counters(&self, status: &Status) -> std::io::Result<()> {
        let get = |c: &std::sync::atomic::AtomicU64| Status::get(c);
        let lines = [
            ("windows_sent", get(&status.windows_sent)),
            ("windows_dropped", get(&status.windows_dropped)),
            ("windows_expired", get(&status.windows_expired)),
            ("frames_overflowed", get(&status.frames_overflowed)),
            ("windows_processed", get(&status.windows_processed)),
            ("windows_skipped", get(&status.windows_skipped)),
            ("frames_failed", get(&status.frames_failed)),
            ("frames_published", get(&status.frames_published)),
            (
                "offline_waits_given_up",
                get(&status.offline_waits_given_up),
            ),
        ];
        let text: String = lines.iter().map(|(n, v)| format!("{n} {v}\n")).collect();
        std::fs::write(self.dir.join("counters.txt"), text)
    }

    fn error(&self, message: &str) -> std::io::Result<()> {
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
    use mvgen_runtime::{Execution, RuntimeConfig};

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

    fn cpu() -> RuntimeConfig {
        RuntimeConfig {
            execution: Execution::Cpu,
            cpu_threads: 1,
        }
    }

    fn spawn(status: &Arc<Status>, params: &Arc<MvGenParams>) -> Worker {
        let (_audio, worker_side) = handoff();
        let (input, _output) = triple_buffer::triple_buffer(&Published::default());
        Worker::spawn(
            worker_side,
            status.clone(),
            input,
            WorkerSetup {
                generator: None,
                load: None,
                export: ExportSetup {
                    rate_hz: 48_000,
                    channels: 2,
                    params: params.clone(),
                    errors_file: None,
                },
                params: params.clone(),
                finishers: Arc::default(),
            },
        )
        .unwrap()
    }

    /// The editor's "Load model" reaches a running worker through the status, becomes the
    /// session's model once loaded, and a bad path is reported in plain words while the
    /// loaded model stays and the session keeps naming it.
    #[test]
    fn editor_load_requests_reach_the_worker_and_save_only_what_loaded() {
        let status = Arc::new(Status::new());
        let params = Arc::new(MvGenParams::default());
        let worker = spawn(&status, &params);
        let model = mvgen_default_model::path().unwrap();
        status.request_load(LoadRequest {
            path: model.clone(),
            config: cpu(),
            save: true,
        });
        assert!(
            wait_for(&status, |r| r.model.is_some()),
            "the model never loaded"
        );
        let report = status.worker_report();
        assert_eq!(report.model.unwrap().path, model);
        assert_eq!(report.loading, None);
        assert_eq!(report.error, None);
        assert_eq!(params.saved_model().as_deref(), Some(model.as_path()));

        let bad = PathBuf::from("/nonexistent/model.onnx");
        status.request_load(LoadRequest {
            path: bad.clone(),
            config: cpu(),
            save: true,
        });
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
        assert_eq!(
            params.saved_model().as_deref(),
            Some(model.as_path()),
            "a path that did not load was saved in the session"
        );
        assert_eq!(params.recent_models(), [model.to_string_lossy()]);
        let generator = worker.stop().expect("the worker hands back its generator");
        assert_eq!(generator.config(), &cpu(), "it carries its own settings");
    }

    /// Of two loads asked for in a row, the second wins even when the first finishes
    /// later: the first is the large, slow one here.
    #[test]
    fn the_last_load_asked_for_wins() {
        let status = Arc::new(Status::new());
        let params = Arc::new(MvGenParams::default());
        let worker = spawn(&status, &params);
        let slow = mvgen_default_model::path().unwrap();
        // A second copy of the embedded model under another name: a different path.
        let fast_dir = std::env::temp_dir().join(format!("mvgen-last-load-{}", std::process::id()));
        std::fs::create_dir_all(&fast_dir).unwrap();
        let fast = fast_dir.join("second.onnx");
        std::fs::copy(&slow, &fast).unwrap();
        status.request_load(LoadRequest {
            path: slow,
            config: cpu(),
            save: false,
        });
        // Let the worker take the first request before the second replaces it.
        assert!(wait_for(&status, |r| r.loading.is_some()));
        status.request_load(LoadRequest {
            path: fast.clone(),
            config: cpu(),
            save: false,
        });
        assert!(wait_for(&status, |r| r.model.is_some() && r.loading.is_none()));
        // Give the first load time to land, if it wrongly could.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(status.worker_report().model.unwrap().path, fast);
        drop(worker);
        let _ = std::fs::remove_dir_all(fast_dir);
    }
}
