//! The generator's own thread: it runs the model on one window at a time and swaps in the
//! models the loader threads make.
//!
//! **Why a thread of its own.** A generator can hang (a GPU driver, a provider that never
//! returns). The worker hands it one job at a time and waits with a limit, so a hung
//! generator costs missing frames, never a worker that stops draining the audio thread's
//! queue or finishing a bounce. A hung engine is abandoned when the plugin goes (its
//! thread keeps running code that stays mapped: the plugin is linked `-z nodelete`).
//!
//! **It outlives activations.** The plugin keeps its [`Engine`] between activations, so a
//! reactivation (a rate change, a bounce in a JUCE host) neither reloads the model nor
//! waits for a load in progress. Only the plugin's destruction stops it, and joins every
//! thread it started, each within a stated limit ([`Engine::shut_down`]).
//!
//! `MVGEN_TEST_STALL_GENERATOR` (`<ms>` or `<ms>@<frame>`) makes the generator sleep
//! before every frame, or before one: a hung generator, for the tests.

use crate::status::{LoadRequest, Status};
use mvgen_core::{Frame, ModelInfo, SpectrogramWindow, WindowEnd};
use mvgen_look::{LookId, Resolution};
use mvgen_runtime::{Generator, ProviderReport, RuntimeConfig};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The environment variable of the generator's stall hook (tests only).
pub const STALL_GENERATOR_ENV: &str = "MVGEN_TEST_STALL_GENERATOR";
/// How long the plugin's destruction waits for the generator's thread to stop.
pub const ENGINE_STOP_LIMIT: Duration = Duration::from_secs(2);
/// How long the plugin's destruction waits for model loads still running (a large model
/// loads in about a second on the CPU).
pub const LOADER_STOP_LIMIT: Duration = Duration::from_secs(10);

/// Where a job's frame sits, for the worker's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobFrame {
    pub frame: i64,
    pub timeline_sample: i64,
    pub window_end: WindowEnd,
    /// When its sound reached the plugin ([`mvgen_feed::now_ns`]).
    pub sound_at_ns: u64,
}

/// One window to generate from, and the frame it becomes. The buffers go back and forth
/// between the worker and the engine, so neither allocates per frame.
struct Job {
    at: JobFrame,
    window: Box<SpectrogramWindow>,
    image: Box<Frame>,
}

enum Order {
    Run(Box<Job>),
    Install(Box<Generator>),
    Stop,
}

struct Done {
    job: Box<Job>,
    result: Result<Duration, JobError>,
}

/// Why a frame was not generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("no model loaded")]
    NoModel,
    #[error("the model was still loading")]
    Loading,
    #[error("the generator was still busy with frame {0}, on which it stalled")]
    Busy(i64),
    #[error("the generator did not answer within {} s (it stalled)", .0.as_secs_f64())]
    Stalled(Duration),
    #[error("{0}")]
    Failed(String),
}

/// The generator that runs, as the worker and the editor describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    pub info: ModelInfo,
    pub provider: ProviderReport,
    pub config: RuntimeConfig,
    /// What was asked for: a model, and the look it stands for. A look's generator may be
    /// found elsewhere (`info.path`), and a look asked for with the model that runs
    /// already is still a new load.
    pub asked: (PathBuf, Option<LookId>),
}

/// The worker's handle on the generator's thread and the loads in progress.
pub struct Engine {
    orders: Sender<Order>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// The job buffers while the engine is idle; `None` while it holds them.
    job: Option<Box<Job>>,
    /// The frame the engine is working on, while it is.
    busy_with: Option<i64>,
    installed: Option<Installed>,
    pub loads: Loads,
}

impl Engine {
    /// Start the generator's thread, with `generator` installed if there is one.
    pub fn start(generator: Option<Generator>) -> std::io::Result<Self> {
        let (orders, incoming) = channel();
        let (finished, done) = channel();
        let stall = Stall::from_env(STALL_GENERATOR_ENV);
        let thread = std::thread::Builder::new()
            .name("mvgen-engine".into())
            .spawn(move || run(incoming, finished, stall))?;
        let mut engine = Self {
            orders,
            done,
            thread: Some(thread),
            job: Some(Box::new(Job {
                at: JobFrame {
                    frame: 0,
                    timeline_sample: 0,
                    window_end: WindowEnd::from_first_column(0),
                    sound_at_ns: 0,
                },
                window: Box::default(),
                image: Box::default(),
            })),
            busy_with: None,
            installed: None,
            loads: Loads::new(),
        };
        if let Some(g) = generator {
            engine.install(g, None);
        }
        Ok(engine)
    }

    /// What runs, if anything.
    pub fn installed(&self) -> Option<&Installed> {
        self.installed.as_ref()
    }

    /// Whether `request` needs no new load: its model with its settings is installed, or
    /// is loading (a host that reactivates several times in a row waits for one load).
    pub fn serves(&self, request: &LoadRequest) -> bool {
        let same = |path: &std::path::Path, look: &Option<LookId>, config: &RuntimeConfig| {
            path == request.path && *look == request.look && *config == request.config
        };
        self.installed
            .as_ref()
            .is_some_and(|i| same(&i.asked.0, &i.asked.1, &i.config))
            || self
                .loads
                .waiting_for
                .as_ref()
                .is_some_and(|r| same(&r.path, &r.look, &r.config) && r.save == request.save)
    }

    /// Install `generator` for the jobs that follow, loaded for `asked` (else for its own
    /// path and no look).
    pub fn install(&mut self, generator: Generator, asked: Option<&LoadRequest>) {
        self.installed = Some(Installed {
            info: generator.info().clone(),
            provider: generator.provider().clone(),
            config: generator.config().clone(),
            asked: asked.map_or_else(
                || (generator.info().path.clone(), None),
                |r| (r.path.clone(), r.look.clone()),
            ),
        });
        // The thread only stops when told to, so the order always arrives.
        let _ = self.orders.send(Order::Install(Box::new(generator)));
    }

    /// The frame the engine is busy with, if it is.
    pub fn busy_with(&self) -> Option<i64> {
        self.busy_with
    }

    /// Hand the engine `window` for `at`, if it is idle.
    pub fn submit(&mut self, at: JobFrame, window: &SpectrogramWindow) -> bool {
        let Some(mut job) = self.job.take() else {
            return false;
        };
        job.at = at;
        (*job.window).clone_from(window);
        self.busy_with = Some(at.frame);
        if let Err(e) = self.orders.send(Order::Run(job)) {
            // The thread is gone (it never exits on its own): keep the buffers.
            if let Order::Run(job) = e.0 {
                self.job = Some(job);
            }
            self.busy_with = None;
            return false;
        }
        true
    }

    /// Wait up to `limit` for the job in hand to finish. `None` if it has not (or there is
    /// none); else where the frame sits and how the run went (its time, or why it failed).
    /// The frame and its window are then [`Self::last`].
    pub fn poll(&mut self, limit: Duration) -> Option<(JobFrame, Result<Duration, JobError>)> {
        self.busy_with?;
        let done = match self.done.recv_timeout(limit) {
            Ok(done) => done,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => {
                self.busy_with = None;
                return None;
            }
        };
        let at = done.job.at;
        self.job = Some(done.job);
        self.busy_with = None;
        Some((at, done.result))
    }

    /// The last finished job's window and frame (while the engine is idle).
    pub fn last(&self) -> Option<(&SpectrogramWindow, &Frame)> {
        self.job.as_ref().map(|j| (&*j.window, &*j.image))
    }

    /// Stop the generator's thread and the loads, each within its limit; a thread that
    /// does not stop in time is abandoned (and logged). Dropping an engine does the same.
    pub fn shut_down(self) {}
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.orders.send(Order::Stop);
        if let Some(thread) = self.thread.take() {
            join_within(thread, ENGINE_STOP_LIMIT, "the generator");
        }
        self.loads.join(LOADER_STOP_LIMIT);
    }
}

fn run(orders: Receiver<Order>, done: Sender<Done>, stall: Option<Stall>) {
    let mut generator: Option<Box<Generator>> = None;
    while let Ok(order) = orders.recv() {
        match order {
            Order::Install(g) => generator = Some(g),
            Order::Run(mut job) => {
                if let Some(stall) = &stall {
                    stall.before(job.at.frame);
                }
                let started = Instant::now();
                let result = match &mut generator {
                    Some(g) => g
                        .run(&job.window, &mut job.image)
                        .map(|()| started.elapsed())
                        .map_err(|e| JobError::Failed(e.to_string())),
                    None => Err(JobError::NoModel),
                };
                if done.send(Done { job, result }).is_err() {
                    return;
                }
            }
            Order::Stop => return,
        }
    }
}

/// Where a request's generator is now, which look that is, and what the user should
/// know. A look is found again by name and hash (on the loader's thread: that reads the
/// look folders): it may have moved, as on another machine, or be missing, and then
/// the default look runs and says why.
fn resolve(request: &LoadRequest) -> (PathBuf, Option<LookId>, Option<String>) {
    let Some(id) = &request.look else {
        return (request.path.clone(), None, None);
    };
    let catalogue = mvgen_look::Catalogue::load();
    let (look, note) = match catalogue.resolve(id) {
        Resolution::Found(l) => (Some(l), None),
        Resolution::Renamed(l) => (
            Some(l),
            Some(format!(
                "the session's look \"{}\" is called \"{}\" here",
                id.name,
                l.name()
            )),
        ),
        Resolution::Changed(l) => (
            Some(l),
            Some(format!(
                "the look \"{}\" was remade since the session was saved",
                id.name
            )),
        ),
        Resolution::Missing => (
            catalogue
                .looks
                .iter()
                .find(|l| l.origin == mvgen_look::Origin::Embedded),
            Some(format!(
                "the session's look \"{}\" is not on this machine: the default look runs",
                id.name
            )),
        ),
    };
    match look {
        Some(l) => (
            l.generator.clone(),
            Some(l.id()),
            note.or_else(|| l.notes.first().cloned()),
        ),
        None => (request.path.clone(), None, note),
    }
}

/// A loader's answer.
pub struct Loaded {
    pub id: u64,
    pub request: LoadRequest,
    /// The generator that was loaded (for a look, where it was found).
    pub path: PathBuf,
    pub look: Option<LookId>,
    pub note: Option<String>,
    pub result: Result<Generator, String>,
}

/// Model loads on threads of their own; only the newest asked for may land. Their
/// threads are joined when the plugin goes ([`Engine::shut_down`]).
pub struct Loads {
    sender: Sender<Loaded>,
    pub incoming: Receiver<Loaded>,
    next_id: u64,
    /// The newest load asked for, not yet arrived, and what it loads.
    pub waiting: Option<u64>,
    waiting_for: Option<LoadRequest>,
    /// A load a bounce stopped waiting for (it still lands when it arrives).
    pub given_up: Option<u64>,
    threads: Vec<JoinHandle<()>>,
}

impl Loads {
    fn new() -> Self {
        let (sender, incoming) = channel();
        Self {
            sender,
            incoming,
            next_id: 0,
            waiting: None,
            waiting_for: None,
            given_up: None,
            threads: Vec::new(),
        }
    }

    /// Start loading `request`; it supersedes any load in progress.
    pub fn start(&mut self, request: LoadRequest, status: &Status) {
        self.next_id += 1;
        let id = self.next_id;
        self.waiting = Some(id);
        self.waiting_for = Some(request.clone());
        status.report(|r| r.loading = Some(request.path.clone()));
        let sender = self.sender.clone();
        self.threads.retain(|t| !t.is_finished());
        let spawned = std::thread::Builder::new()
            .name("mvgen-loader".into())
            .spawn(move || {
                let (path, look, note) = resolve(&request);
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
                    path,
                    look,
                    note,
                    result,
                });
            });
        match spawned {
            Ok(thread) => self.threads.push(thread),
            Err(e) => {
                self.waiting = None;
                self.waiting_for = None;
                status.report(|r| {
                    r.loading = None;
                    r.error = Some(format!("could not start the model loader: {e}"));
                });
            }
        }
    }

    /// The load waited for has arrived.
    pub fn arrived(&mut self) {
        self.waiting = None;
        self.waiting_for = None;
        self.given_up = None;
    }

    /// Join the loader threads, all within `limit`.
    fn join(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for thread in self.threads.drain(..) {
            join_within(
                thread,
                deadline.saturating_duration_since(Instant::now()),
                "a model load",
            );
        }
    }
}

/// Join `thread` if it ends within `limit`; otherwise leave it running and say so.
/// Returns what it returned, if it was joined.
pub fn join_within<T>(thread: JoinHandle<T>, limit: Duration, what: &str) -> Option<T> {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            nice_plug::nice_log!(
                "{what} did not stop within {:.1} s: left running",
                limit.as_secs_f64()
            );
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    thread.join().ok()
}

/// A test hook that sleeps before every frame, or before one: `<ms>` or `<ms>@<frame>`.
pub struct Stall {
    delay: Duration,
    frame: Option<i64>,
}

impl Stall {
    pub fn from_env(name: &str) -> Option<Self> {
        let text = std::env::var(name).ok()?;
        let (ms, frame) = match text.split_once('@') {
            Some((ms, frame)) => (ms, Some(frame.trim().parse().ok()?)),
            None => (text.as_str(), None),
        };
        Some(Self {
            delay: Duration::from_millis(ms.trim().parse().ok()?),
            frame,
        })
    }

    pub fn before(&self, frame: i64) {
        if self.frame.is_none_or(|f| f == frame) {
            std::thread::sleep(self.delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvgen_runtime::Execution;

    /// A look asked for with the model that already runs is a new load: the look's
    /// generator is found by name and hash, and may be another. (A session that names
    /// only a look, with `MVGEN_MODEL` set, once kept running that model.)
    #[test]
    fn a_look_is_not_served_by_the_same_model_without_it() {
        let path = mvgen_default_model::path().unwrap();
        let config = RuntimeConfig {
            execution: Execution::Cpu,
            cpu_threads: 1,
        };
        let mut engine = Engine::start(None).unwrap();
        let plain = LoadRequest {
            path: path.clone(),
            look: None,
            config: config.clone(),
            save: false,
        };
        engine.install(Generator::load(&path, &config).unwrap(), Some(&plain));
        assert!(engine.serves(&plain));
        let with_look = LoadRequest {
            look: Some(LookId {
                name: "Ember".into(),
                sha256: "0".repeat(64),
            }),
            ..plain.clone()
        };
        assert!(!engine.serves(&with_look));
        engine.shut_down();
    }
}
