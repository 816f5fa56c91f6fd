//! The worker thread: takes windows from the audio thread, has the generator ([`Engine`])
//! make frames of the ones someone will see, publishes them, writes bounces, and returns
//! every window to the pool.
//!
//! **The generator runs only for a consumer.** Live, that is the editor while its window
//! is open (or another holder of a [`crate::status::Watch`]): with nobody watching, the
//! worker returns each window unprocessed, so an instance nobody watches costs only its
//! analysis. In an exported bounce (between the audio thread's start and end marks) every
//! window is a frame of the export and is generated.
//!
//! **The worker never waits long.** It may allocate and block, but it hands windows to the
//! generator's own thread and waits for a bounce's frame at most [`GENERATOR_WAIT_LIMIT`];
//! a generator that took longer has stalled, and from then on each frame of the bounce
//! waits at most [`PROBE_LIMIT`] (none while the generator is still busy with the frame it
//! stalled on), until it makes one in time. So a hung generator costs missing frames, each
//! named in the manifest, and never a worker that stops draining the queue or finishing
//! bounces. Live, the newest window waits while the generator is busy and older ones are
//! returned unprocessed (latest wins; counted as skipped).
//!
//! **Models** load on loader threads and are swapped in between frames, so loading (about
//! a second for a large model) never stalls the frames already flowing. Only the newest
//! load asked for may land: an older one that finishes later is dropped. A model the user
//! chose becomes the session's model only once it has loaded. Without a model, or while one
//! fails, the worker publishes a per-band summary of the window instead.
//!
//! When `MVGEN_TAP_DIR` names a folder, the worker also writes every window it receives
//! and every frame it makes there (`windows.csv`, raw little-endian f32 files, and
//! `errors.txt`); with `MVGEN_TAP_INDEX_ONLY=1` it writes `windows.csv` and `errors.txt`
//! but no pixels (a megabyte a window, which long renders do not need). `MVGEN_TEST_STALL` (`<ms>` or `<ms>@<frame>`) makes the worker itself
//! sleep before every frame, or one (a disk that hangs); `MVGEN_TEST_STALL_GENERATOR`
//! stalls the generator instead. Both are for the tests; users never need them.

use crate::engine::{join_within, Engine, JobError, JobFrame, Loaded, Stall};
use crate::export::{Bounce, ExportSetup, Finishers};
use crate::handoff::{BounceEnd, BounceStart, FramePacket, Message, WorkerSide};
use crate::params::{MvGenParams, RECENT_MODELS};
use crate::status::{LoadRequest, Status};
use mvgen_core::frame::{planes_to_rgba8, smooth_into};
use mvgen_core::spectrogram::SIZE;
use mvgen_core::{Frame, SpectrogramWindow};
use mvgen_feed::Publisher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bands in a summary: 8 bands of 32 rows, low frequencies first.
pub const NUM_BANDS: usize = 8;
/// How long the worker waits for work when there is none. At 60 fps a frame is 16.7 ms.
const IDLE_WAIT: Duration = Duration::from_millis(1);
/// The environment variable that turns the tap on.
pub const TAP_ENV: &str = "MVGEN_TAP_DIR";
/// The environment variable that keeps the tap to its index: no window or frame files.
pub const TAP_INDEX_ONLY_ENV: &str = "MVGEN_TAP_INDEX_ONLY";
/// The environment variable of the worker's stall hook (tests only).
pub const STALL_ENV: &str = "MVGEN_TEST_STALL";
/// The longest a bounce waits for a model that is loading before it goes on without it.
const OFFLINE_LOAD_WAIT: Duration = Duration::from_secs(120);
/// The longest a bounce waits for the generator's frame: one that takes longer has
/// stalled. Shorter than the audio thread's own limit, so that a stalled generator is
/// found by the worker, which goes on draining, and the audio thread need not give up.
pub const GENERATOR_WAIT_LIMIT: Duration = Duration::from_secs(8);
/// After a stall, how long each frame of the bounce waits for the generator, until it
/// makes one within this (models take milliseconds to a tenth of a second a frame).
pub const PROBE_LIMIT: Duration = Duration::from_secs(1);
/// How long deactivation waits for the worker to finish what it was sent. Once told to
/// stop, the worker waits at most [`PROBE_LIMIT`] for each frame and no longer for a
/// model that is loading, so the queue's eight frames fit in it.
pub const WORKER_STOP_LIMIT: Duration = Duration::from_secs(10);

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
    /// The generator's thread, kept from an earlier activation or new.
    pub engine: Engine,
    /// A model to load as soon as the worker runs.
    pub load: Option<LoadRequest>,
    pub export: ExportSetup,
    /// The session, where a chosen model is saved once it loads.
    pub params: Arc<MvGenParams>,
    pub finishers: Arc<Finishers>,
    /// The instance's feed slot, for stages (none where it could not be made).
    pub feed: Option<Arc<Publisher>>,
    /// The model and look the session named when `load` was decided.
    pub session: (Option<PathBuf>, Option<mvgen_look::LookId>),
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    /// Marks the audio thread could not send, read after the queue.
    tail: Arc<Mutex<Vec<Message>>>,
    thread: Option<JoinHandle<Engine>>,
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
        let tail = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::Builder::new()
            .name("mvgen-worker".into())
            .spawn({
                let (stop, tail) = (stop.clone(), tail.clone());
                move || State::new(side, status, publish, setup).run(&stop, &tail)
            })?;
        Ok(Self {
            stop,
            tail,
            thread: Some(thread),
        })
    }

    /// Stop after the messages already queued and then `tail` (the marks the audio thread
    /// could not send), within [`WORKER_STOP_LIMIT`], and hand back the engine. A worker
    /// that does not stop in time (its disk hangs) is left to finish on its own.
    pub fn stop(mut self, tail: Vec<Message>) -> Option<Engine> {
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = tail;
        self.stop.store(true, Ordering::Release);
        join_within(self.thread.take()?, WORKER_STOP_LIMIT, "the worker")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            join_within(thread, WORKER_STOP_LIMIT, "the worker");
        }
    }
}

/// Whom the job in the engine is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum JobFor {
    Live,
    Bounce,
}

struct State {
    side: WorkerSide,
    status: Arc<Status>,
    publish: triple_buffer::Input<Published>,
    engine: Engine,
    params: Arc<MvGenParams>,
    export: ExportSetup,
    finishers: Arc<Finishers>,
    /// The bounce being written, between its start and end marks, when it is exported.
    bounce: Option<Bounce>,
    /// The generator stalled in this bounce: frames wait only [`PROBE_LIMIT`] for it.
    generator_stalled: bool,
    /// Whom the engine's job is for, while it has one.
    job_for: Option<JobFor>,
    /// Live: the newest window, waiting for the generator.
    live: Option<FramePacket>,
    /// Told to stop: waits are short.
    stopping: bool,
    /// Bounces the audio thread lost whole, as last said.
    bounces_lost: u64,
    tap: Option<Tap>,
    stall: Option<Stall>,
    feed: Option<Feed>,
    /// The model and look the session named when last looked at, and when that was.
    session: (Option<PathBuf>, Option<mvgen_look::LookId>),
    session_seen: Instant,
}

/// What the worker shows stages: the frames it publishes, smoothed as the editor and the
/// export smooth them, in the instance's feed slot; and whether a stage watches.
struct Feed {
    slot: Arc<Publisher>,
    /// The smoothed frame, as shown.
    shown: Frame,
    primed: bool,
    rgba: Vec<u8>,
    last_beat: Option<Instant>,
    last_look: Option<Instant>,
    /// The generator whose enhancer the slot names.
    named_for: Option<PathBuf>,
}

/// How often the worker says in its slot that the instance is alive (and renames it).
const FEED_BEAT: Duration = Duration::from_millis(250);
/// How often the worker looks at which model and look the session names.
const SESSION_LOOK: Duration = Duration::from_millis(100);
/// How often it reads whether a stage watches (a positioned read of one word).
const FEED_LOOK: Duration = Duration::from_millis(20);

impl Feed {
    fn new(slot: Arc<Publisher>) -> Self {
        Self {
            slot,
            shown: Frame::default(),
            primed: false,
            rgba: vec![0; mvgen_feed::FRAME_BYTES],
            last_beat: None,
            last_look: None,
            named_for: None,
        }
    }

    /// Every loop: now and then whether a stage watches, a heartbeat, the name, and the
    /// enhancer of `generator` (the one installed), for stages that enlarge with it. An
    /// error writing the slot (its tmpfs full, the file cut short by someone) ends the
    /// feed.
    fn tick(&mut self, status: &Status, generator: Option<&Path>) -> std::io::Result<()> {
        if self.last_look.is_none_or(|at| at.elapsed() >= FEED_LOOK) {
            self.last_look = Some(Instant::now());
            status.set_stage_watching(self.slot.watched());
        }
        if self.last_beat.is_some_and(|at| at.elapsed() < FEED_BEAT) {
            return Ok(());
        }
        self.last_beat = Some(Instant::now());
        self.slot.alive();
        let name = status.instance_name();
        if name != self.slot.name() {
            self.slot.set_name(&name)?;
        }
        if generator != self.named_for.as_deref() {
            self.named_for = generator.map(Path::to_path_buf);
            let enhancer = generator.and_then(mvgen_look::enhancer_for);
            self.slot.set_enhancer(enhancer.as_deref())?;
        }
        Ok(())
    }

    /// A frame, smoothed as shown, for the stages that watch.
    fn publish(
        &mut self,
        at: JobFrame,
        image: &Frame,
        smoothing: f32,
        fps: f32,
    ) -> std::io::Result<()> {
        let amount = if self.primed { smoothing } else { 0.0 };
        smooth_into(&mut self.shown, image, amount);
        self.primed = true;
        planes_to_rgba8(self.shown.planes(), &mut self.rgba);
        self.slot.publish(&self.rgba, at.frame, at.sound_at_ns, fps)
    }
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
        let stale_job = setup.engine.busy_with().map(|_| JobFor::Bounce);
        let mut state = Self {
            side,
            publish,
            engine: setup.engine,
            params: setup.params,
            export,
            finishers: setup.finishers,
            bounce: None,
            generator_stalled: false,
            // A job the engine took in an earlier activation is a stale one: its answer is
            // collected and dropped.
            job_for: stale_job,
            live: None,
            stopping: false,
            bounces_lost: 0,
            tap,
            stall: Stall::from_env(STALL_ENV),
            feed: setup.feed.map(Feed::new),
            session: setup.session,
            session_seen: Instant::now(),
            status,
        };
        if let Some(i) = state.engine.installed() {
            // Kept from an earlier activation: the report starts out naming it.
            let (info, provider) = (i.info.clone(), i.provider.clone());
            state.status.report(|r| {
                r.model = Some(info);
                r.provider = Some(provider);
            });
        }
        if let Some(request) = setup.load {
            state.engine.loads.start(request, &state.status);
        }
        state
    }

    fn run(mut self, stop: &AtomicBool, tail: &Mutex<Vec<Message>>) -> Engine {
        loop {
            if let Some(request) = self.status.take_load_request() {
                self.engine.loads.start(request, &self.status);
            }
            if self.session_seen.elapsed() >= SESSION_LOOK {
                self.follow_session();
            }
            while let Ok(loaded) = self.engine.loads.incoming.try_recv() {
                self.arrived(loaded);
            }
            self.stopping = stop.load(Ordering::Acquire);
            let generator = self.engine.installed().map(|i| i.info.path.as_path());
            if let Some(Err(e)) = self.feed.as_mut().map(|f| f.tick(&self.status, generator)) {
                self.end_feed(e);
            }
            self.collect(Duration::ZERO);
            self.feed_live();
            self.say_notices();
            match self.side.from_audio.pop() {
                Ok(message) => self.handle(message),
                Err(_) => {
                    // The audio side marks the end of any bounce before it stops us, or
                    // leaves the marks it could not send in the tail.
                    if stop.load(Ordering::Acquire) && self.side.from_audio.is_empty() {
                        let tail =
                            std::mem::take(&mut *tail.lock().unwrap_or_else(|e| e.into_inner()));
                        for message in tail {
                            self.handle(message);
                        }
                        // A bounce still open has all the audio there is.
                        self.take_audio(u64::MAX);
                        self.end_bounce(None);
                        self.say_notices();
                        if let Some(t) = &self.tap {
                            let _ = t.counters(&self.status);
                        }
                        return self.engine;
                    }
                    if self.job_for.is_some() {
                        self.collect(IDLE_WAIT);
                    } else {
                        std::thread::sleep(IDLE_WAIT);
                    }
                }
            }
        }
    }

    /// Load what the session names if it changed under us: a host that opens a saved
    /// session sets the plugin's state while it runs (Ardour does, after activating), and
    /// nothing else tells the plugin.
    fn follow_session(&mut self) {
        self.session_seen = Instant::now();
        let now = self.params.session_choice();
        if now == self.session {
            return;
        }
        self.session = now;
        let Some(path) = self.params.model_to_load() else {
            return;
        };
        let request = LoadRequest {
            path,
            look: self.params.saved_look(),
            config: self.params.runtime_config(),
            save: false,
        };
        if !self.engine.serves(&request) {
            nice_plug::nice_log!("the session changed: loading {}", request.path.display());
            self.engine.loads.start(request, &self.status);
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Frame(packet) => self.frame(packet),
            Message::BounceStart(start) => self.start_bounce(start),
            Message::BounceEnd(end) => self.end_bounce(Some(end)),
            Message::AudioGap {
                audio_mark,
                samples,
            } => {
                self.take_audio(audio_mark);
                if let Some(b) = &mut self.bounce {
                    b.gap(samples);
                }
            }
        }
    }

    /// A loader answered: install the generator if it is the newest load asked for.
    fn arrived(&mut self, loaded: Loaded) {
        let loads = &mut self.engine.loads;
        if loads.waiting != Some(loaded.id) && loads.given_up != Some(loaded.id) {
            nice_plug::nice_log!(
                "model {} superseded by a newer request; dropped",
                loaded.request.path.display()
            );
            return;
        }
        loads.arrived();
        match loaded.result {
            Ok(g) => {
                nice_plug::nice_log!(
                    "model {} on {} (first run {:.0} ms)",
                    g.info().display_name(),
                    g.provider(),
                    g.warmup().as_secs_f64() * 1e3
                );
                let (info, provider) = (g.info().clone(), g.provider().clone());
                self.engine.install(g, Some(&loaded.request));
                // The report names the model before the session does: whoever sees the
                // session name it can rely on the report.
                self.status.report(|r| {
                    r.loading = None;
                    r.error = None;
                    r.model = Some(info);
                    r.provider = Some(provider);
                    r.look = loaded.look.clone();
                    r.look_note = loaded.note.clone();
                });
                if loaded.request.save {
                    self.params.set_model(&loaded.path);
                    self.params.set_look(loaded.look.clone());
                    if loaded.look.is_none() {
                        self.params.remember_model(&loaded.path, RECENT_MODELS);
                    }
                    // Our own change of the session is not a session to follow.
                    self.session = self.params.session_choice();
                }
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
        let Some(id) = self.engine.loads.waiting else {
            return;
        };
        let wait = if self.stopping {
            PROBE_LIMIT
        } else {
            OFFLINE_LOAD_WAIT
        };
        let deadline = Instant::now() + wait;
        while self.engine.loads.waiting == Some(id) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.engine.loads.incoming.recv_timeout(left) {
                Ok(loaded) => self.arrived(loaded),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let message = format!(
                        "the model was still loading after {} s: this bounce goes on without it",
                        wait.as_secs()
                    );
                    nice_plug::nice_log!("{message}");
                    self.tap_error(&message);
                    self.status.report(|r| r.error = Some(message));
                    let loads = &mut self.engine.loads;
                    loads.given_up = loads.waiting.take();
                }
            }
        }
    }

    fn start_bounce(&mut self, start: BounceStart) {
        // A session opened just before the render: its model is the one to wait for.
        self.follow_session();
        self.end_bounce(None);
        self.generator_stalled = false;
        if start.export {
            let instance = self.status.instance_name();
            self.bounce = Some(Bounce::new(
                self.export.clone(),
                start,
                self.status.clone(),
                instance,
            ));
        } else {
            let message = "offline render not exported: Export on bounce is off".to_string();
            nice_plug::nice_log!("{message}");
            self.tap_error(&message);
            self.status.report(|r| r.error = Some(message));
        }
    }

    /// The bounce's audio is what was written before its end mark (what it has, without
    /// one); finish it off the worker's thread.
    fn end_bounce(&mut self, end: Option<BounceEnd>) {
        if let Some(end) = end {
            self.take_audio(end.audio_mark);
        }
        if let Some(mut bounce) = self.bounce.take() {
            bounce.ended(end);
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

    fn frame(&mut self, packet: FramePacket) {
        self.take_audio(packet.audio_mark);
        if let Some(stall) = &self.stall {
            stall.before(packet.frame);
        }
        if self.bounce.is_some() {
            self.bounce_frame(packet);
        } else {
            self.live_frame(packet);
        }
    }

    fn bounce_frame(&mut self, packet: FramePacket) {
        self.wait_for_load();
        let at = job_frame(&packet);
        let made = self.generate(at, &packet.window);
        let image = match &made {
            Ok(elapsed) => {
                let ms = elapsed.as_secs_f32() * 1e3;
                self.status.report(|r| r.inference_ms = ms);
                self.engine.last().map(|(_, image)| image)
            }
            Err(e) => {
                if !matches!(e, JobError::NoModel | JobError::Loading) {
                    Status::add(&self.status.frames_failed, 1);
                }
                None
            }
        };
        let image = image.cloned();
        if let (Err(e), Some(t)) = (&made, &self.tap) {
            let _ = t.error(&format!("frame {}: {e}", packet.frame));
        }
        if let Some(b) = &mut self.bounce {
            if let Some(i) = self.engine.installed() {
                b.set_model(i, packet.frame);
            }
            b.frame(
                &packet,
                image.as_ref().ok_or_else(|| {
                    made.as_ref()
                        .err()
                        .map_or("no frame".into(), |e| e.to_string())
                }),
            );
        }
        self.publish(at, &packet.window, image.as_ref());
        self.finished(at, &packet.window, image.as_ref());
        // The queue holds the whole pool, so the window always fits.
        let _ = self.side.to_audio.push(packet.window);
    }

    /// Have the generator make a bounce's frame, waiting as the module says.
    fn generate(&mut self, at: JobFrame, window: &SpectrogramWindow) -> Result<Duration, JobError> {
        if let Some(busy) = self.engine.busy_with() {
            // A live frame finishes first; a frame the generator stalled on may answer.
            let wait = if self.generator_stalled {
                Duration::ZERO
            } else {
                self.generator_limit()
            };
            self.collect(wait);
            if self.engine.busy_with().is_some() {
                self.generator_stalled = true;
                return Err(JobError::Busy(busy));
            }
        }
        if self.engine.installed().is_none() {
            return Err(if self.engine.loads.waiting.is_some() {
                JobError::Loading
            } else {
                JobError::NoModel
            });
        }
        if !self.engine.submit(at, window) {
            return Err(JobError::Failed(
                "the generator's thread has stopped".into(),
            ));
        }
        self.job_for = Some(JobFor::Bounce);
        let limit = if self.generator_stalled {
            PROBE_LIMIT
        } else {
            self.generator_limit()
        };
        match self.engine.poll(limit) {
            Some((_, result)) => {
                self.job_for = None;
                if result.is_ok() {
                    self.generator_stalled = false;
                }
                result
            }
            None => {
                self.generator_stalled = true;
                Err(JobError::Stalled(limit))
            }
        }
    }

    /// How long a frame waits for a generator that has not stalled: less once told to stop.
    fn generator_limit(&self) -> Duration {
        if self.stopping {
            PROBE_LIMIT
        } else {
            GENERATOR_WAIT_LIMIT
        }
    }

    /// Take the engine's answer if it comes within `wait`: a live frame is published, a
    /// bounce's frame that came too late is dropped (it is already listed as missing).
    fn collect(&mut self, wait: Duration) {
        if self.job_for.is_none() {
            return;
        }
        let Some((at, result)) = self.engine.poll(wait) else {
            return;
        };
        if self.job_for.take() != Some(JobFor::Live) {
            return;
        }
        let Some((window, image)) = self.engine.last() else {
            return;
        };
        let (window, image) = (window.clone(), image.clone());
        let image = match result {
            Ok(elapsed) => {
                let ms = elapsed.as_secs_f32() * 1e3;
                self.status.report(|r| r.inference_ms = ms);
                Some(image)
            }
            Err(e) => {
                if !matches!(e, JobError::NoModel | JobError::Loading) {
                    Status::add(&self.status.frames_failed, 1);
                    let message = format!("frame {}: {e}", at.frame);
                    self.tap_error(&message);
                    self.status.report(|r| r.error = Some(message));
                }
                None
            }
        };
        self.publish(at, &window, image.as_ref());
        self.finished(at, &window, image.as_ref());
    }

    /// A live window: the newest waits for the generator while someone watches.
    fn live_frame(&mut self, packet: FramePacket) {
        if !self.status.is_watched() {
            // Nobody watches: no generator, but the tests still see every window.
            let at = job_frame(&packet);
            self.finished(at, &packet.window, None);
            let _ = self.side.to_audio.push(packet.window);
            return;
        }
        if let Some(stale) = self.live.replace(packet) {
            let _ = self.side.to_audio.push(stale.window);
            Status::add(&self.status.windows_skipped, 1);
        }
        self.feed_live();
    }

    /// Hand the newest live window to the generator when it is idle.
    fn feed_live(&mut self) {
        if self.engine.busy_with().is_some() {
            return;
        }
        let Some(packet) = self.live.take() else {
            return;
        };
        if self.engine.submit(job_frame(&packet), &packet.window) {
            self.job_for = Some(JobFor::Live);
        }
        let _ = self.side.to_audio.push(packet.window);
    }

    fn publish(&mut self, at: JobFrame, window: &SpectrogramWindow, image: Option<&Frame>) {
        let out = self.publish.input_buffer_mut();
        out.sequence = self.status.frames_published.fetch_add(1, Ordering::Relaxed) + 1;
        out.frame = at.frame;
        out.band_levels = band_levels(window);
        if self.status.editor_open() {
            out.spectrogram
                .get_or_insert_with(SpectrogramWindow::default)
                .clone_from(window);
        } else {
            out.spectrogram = None;
        }
        match image {
            Some(image) => out
                .image
                .get_or_insert_with(Frame::default)
                .clone_from(image),
            None => out.image = None,
        }
        self.publish.publish();
        // Smoothed and written only while a stage watches (a bounce's frames too).
        if let (Some(feed), Some(image)) = (&mut self.feed, image) {
            if self.status.stage_watching() {
                let fps = mvgen_core::Fps::from(self.params.fps.value()).per_second() as f32;
                let smoothing = self.params.smoothing.value();
                if let Err(e) = feed.publish(at, image, smoothing, fps) {
                    self.end_feed(e);
                }
            }
        }
        self.status.notify_editor();
    }

    /// The feed's slot cannot be written: stages lose this instance, said once.
    fn end_feed(&mut self, e: std::io::Error) {
        if let Some(feed) = self.feed.take() {
            let path = feed.slot.path().display().to_string();
            nice_plug::nice_log!("live feed to stages ended: {path}: {e}");
            self.status.set_stage_watching(false);
        }
    }

    /// A window is done with: counted, and written to the tap.
    fn finished(&mut self, at: JobFrame, window: &SpectrogramWindow, image: Option<&Frame>) {
        if let Some(t) = &mut self.tap {
            if let Err(e) = t.write(at, window, image) {
                nice_plug::nice_log!("window tap disabled: {e}");
                self.tap = None;
            }
        }
        self.status.last_frame.store(at.frame, Ordering::Relaxed);
        Status::add(&self.status.windows_processed, 1);
    }

    /// What the audio thread could not say itself: offline audio it did not bounce, and
    /// why.
    fn say_notices(&mut self) {
        let take = |field: &std::sync::atomic::AtomicU64| field.swap(0, Ordering::Relaxed);
        let mut said = Vec::new();
        let short = take(&self.status.short_render_ms);
        if short > 0 {
            said.push(format!(
                "offline audio of {:.2} s without a moving timeline was not exported: a \
                 render without one must last at least {} s (shorter runs are a host trying \
                 the plugin)",
                short as f64 / 1e3,
                crate::capture::MIN_UNTIMED_SECONDS
            ));
        }
        let cut = take(&self.status.cut_render_ms);
        if cut > 0 {
            said.push(format!(
                "offline audio of {:.2} s without a moving timeline was not exported: the \
                 host went back to real time before it ended (render again, and let the host \
                 stop or deactivate the plugin when it is done)",
                cut as f64 / 1e3
            ));
        }
        let lost = Status::get(&self.status.bounces_lost);
        if lost > self.bounces_lost {
            said.push(format!(
                "{} offline render(s) were not exported: the worker did not answer during \
                 any of it",
                lost - self.bounces_lost
            ));
            self.bounces_lost = lost;
        }
        for message in said {
            nice_plug::nice_log!("{message}");
            self.tap_error(&message);
            self.status.report(|r| r.error = Some(message));
        }
    }

    fn tap_error(&self, message: &str) {
        if let Some(t) = &self.tap {
            let _ = t.error(message);
        }
    }
}

fn job_frame(packet: &FramePacket) -> JobFrame {
    JobFrame {
        frame: packet.frame,
        timeline_sample: packet.timeline_sample,
        window_end: packet.window_end,
        sound_at_ns: packet.sound_at_ns,
    }
}

fn band_levels(window: &SpectrogramWindow) -> [f32; NUM_BANDS] {
    let pixels = window.pixels();
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

struct Tap {
    dir: PathBuf,
    index: std::fs::File,
    sequence: u64,
    /// Writes each window's and frame's pixels, not only the index.
    pixels: bool,
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
                pixels: std::env::var_os(TAP_INDEX_ONLY_ENV).is_none_or(|v| v != "1"),
            })
        };
        open()
            .map_err(|e| nice_plug::nice_log!("window tap at {} disabled: {e}", dir.display()))
            .ok()
    }

    fn write(
        &mut self,
        at: JobFrame,
        window: &SpectrogramWindow,
        image: Option<&Frame>,
    ) -> std::io::Result<()> {
        let raw = |values: &[f32]| {
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        if self.pixels {
            std::fs::write(
                self.dir.join(format!("{:06}.f32", self.sequence)),
                raw(window.pixels()),
            )?;
            if let Some(image) = image {
                std::fs::write(
                    self.dir.join(format!("{:06}.frame.f32", self.sequence)),
                    raw(image.planes()),
                )?;
            }
        }
        let levels: Vec<String> = band_levels(window)
            .iter()
            .map(|l| format!("{l:.6}"))
            .collect();
        writeln!(
            self.index,
            "{},{},{},{},{},{}",
            self.sequence,
            at.frame,
            at.timeline_sample,
            at.window_end.samples(),
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
            ("offline_waits", get(&status.offline_waits)),
            (
                "export_samples_dropped",
                get(&status.export_samples_dropped),
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
                engine: Engine::start(None).unwrap(),
                load: None,
                export: ExportSetup {
                    rate_hz: 48_000,
                    channels: 2,
                    params: params.clone(),
                    errors_file: None,
                },
                params: params.clone(),
                finishers: Arc::default(),
                feed: None,
                session: params.session_choice(),
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
            look: None,
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
        let started = Instant::now();
        while params.saved_model().is_none() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(params.saved_model().as_deref(), Some(model.as_path()));

        let bad = PathBuf::from("/nonexistent/model.onnx");
        status.request_load(LoadRequest {
            path: bad.clone(),
            look: None,
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
        let engine = worker
            .stop(Vec::new())
            .expect("the worker hands back its engine");
        assert_eq!(
            engine.installed().map(|i| &i.config),
            Some(&cpu()),
            "it carries its own settings"
        );
        engine.shut_down();
    }

    /// A look is found again by name and hash wherever it is now, becomes the session's
    /// look once loaded, and a session's look missing here runs the default look, says
    /// so, and stays the session's look.
    #[test]
    fn looks_are_found_again_and_a_missing_one_runs_the_default() {
        let folder =
            std::env::temp_dir().join(format!("mvgen-worker-looks-{}", std::process::id()));
        // A name no shipped look has: those are found too (the project's `looks/`).
        let made = folder.join("worker-test");
        std::fs::create_dir_all(&made).unwrap();
        std::fs::write(
            made.join("look.json"),
            r#"{"format": 1, "name": "Worker test"}"#,
        )
        .unwrap();
        std::fs::write(made.join("generator.onnx"), mvgen_default_model::ONNX).unwrap();
        // SAFETY (edition 2021 API): the only test of this process that reads it.
        std::env::set_var(mvgen_look::LOOKS_DIR_ENV, &folder);
        let catalogue = mvgen_look::Catalogue::load();
        let id = catalogue.find("Worker test").unwrap().id();

        let status = Arc::new(Status::new());
        let params = Arc::new(MvGenParams::default());
        let worker = spawn(&status, &params);
        status.request_load(LoadRequest {
            path: PathBuf::from("/where/it/was/on/another/machine/generator.onnx"),
            look: Some(id.clone()),
            config: cpu(),
            save: true,
        });
        assert!(
            wait_for(&status, |r| r.look.is_some()),
            "the look never loaded"
        );
        let report = status.worker_report();
        assert_eq!(report.model.unwrap().path, made.join("generator.onnx"));
        assert_eq!(report.look.as_ref(), Some(&id));
        assert!(
            report
                .look_note
                .as_deref()
                .is_some_and(|n| n.contains("no enhancer")),
            "{:?}",
            report.look_note
        );
        let started = Instant::now();
        while params.saved_look().is_none() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(params.saved_look().as_ref(), Some(&id));
        assert_eq!(
            params.saved_model().as_deref(),
            Some(made.join("generator.onnx").as_path())
        );
        assert!(
            params.recent_models().is_empty(),
            "looks are not recent files"
        );

        let gone = mvgen_look::LookId {
            name: "Gone".into(),
            sha256: "0".repeat(64),
        };
        status.request_load(LoadRequest {
            path: PathBuf::from("/nowhere/generator.onnx"),
            look: Some(gone),
            config: cpu(),
            save: false,
        });
        assert!(
            wait_for(&status, |r| r
                .look_note
                .as_deref()
                .is_some_and(|n| n.contains("\"Gone\" is not on this machine"))),
            "{:?}",
            status.worker_report().look_note
        );
        let report = status.worker_report();
        assert_eq!(
            report.look.map(|l| l.name),
            Some(mvgen_look::DEFAULT_NAME.to_string())
        );
        assert!(mvgen_default_model::is_default(&report.model.unwrap().path));
        assert_eq!(
            params.saved_look().as_ref(),
            Some(&id),
            "the session keeps its look"
        );
        worker.stop(Vec::new()).unwrap().shut_down();
        let _ = std::fs::remove_dir_all(&folder);
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
            look: None,
            config: cpu(),
            save: false,
        });
        // Let the worker take the first request before the second replaces it.
        assert!(wait_for(&status, |r| r.loading.is_some()));
        status.request_load(LoadRequest {
            path: fast.clone(),
            look: None,
            config: cpu(),
            save: false,
        });
        assert!(wait_for(&status, |r| r.model.is_some() && r.loading.is_none()));
        // Give the first load time to land, if it wrongly could.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(status.worker_report().model.unwrap().path, fast);
        if let Some(engine) = worker.stop(Vec::new()) {
            engine.shut_down();
        }
        let _ = std::fs::remove_dir_all(fast_dir);
    }
}
