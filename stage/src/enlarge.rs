//! The look's enhancer on the stage. An instance names its look's enhancer in its slot
//! ([`mvgen_feed::Slot::enhancer`]); the stage loads it with ONNX Runtime, as `mvgen
//! render` does, and enlarges each new frame from 256 to 1024 on a thread of its own, so
//! that a paint never waits for it and a slow enhancer drops frames instead of falling
//! behind (the newest frame wins).
//!
//! [`Enhance::Auto`] enlarges only where ONNX Runtime has a GPU: on the CPU the shader's
//! filter enlarges the 256 frame instead, which costs a paint almost nothing.

use mvgen_core::model::ENHANCED_SIDE;
use mvgen_core::Frame;
use mvgen_runtime::{Enhanced, Enhancer, Execution, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The side of an enlarged frame.
pub const SIDE: usize = ENHANCED_SIDE;
/// An enlarged frame's RGBA bytes.
pub const BYTES: usize = SIDE * SIDE * 4;

/// When the stage enlarges with the look's enhancer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Enhance {
    /// Where ONNX Runtime has a GPU.
    #[default]
    Auto,
    /// Also on the CPU (about 15 ms a frame on 2 cores).
    Always,
    /// Never: the shader's filter.
    Never,
}

impl std::str::FromStr for Enhance {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => anyhow::bail!("unknown --enhance {s:?}: use auto, always or never"),
        }
    }
}

/// A frame enlarged: what it was, and its 1024x1024 RGBA.
pub struct Enlarged {
    pub sequence: u64,
    pub sound_at_ns: u64,
    pub rgba: Vec<u8>,
}

/// Where the enlarger is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Loading,
    /// Enlarging, on this provider (as ONNX Runtime names it, with its device).
    Running(String),
    /// It cannot enlarge, and why: the stage filters in the shader.
    Failed(String),
}

#[derive(Default)]
struct Shared {
    /// The frame to enlarge next: its sequence, its sound, its RGBA (256).
    job: Option<(u64, u64, Vec<u8>)>,
    done: Option<Enlarged>,
    /// A buffer the stage gave back, for the next enlarged frame.
    spare: Option<Vec<u8>>,
    state: Option<State>,
    quit: bool,
}

/// A thread that holds one enhancer and enlarges the frames handed to it. Dropped, it
/// tells the thread to end and does not wait: the thread ends after the load or the frame
/// in hand.
pub struct Enlarger {
    path: PathBuf,
    shared: Arc<(Mutex<Shared>, Condvar)>,
}

impl Enlarger {
    /// Load the enhancer at `path` on a thread of its own (a load takes about a second).
    pub fn start(path: &Path, enhance: Enhance) -> Self {
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let spawned = {
            let (shared, path) = (shared.clone(), path.to_path_buf());
            std::thread::Builder::new()
                .name("mvgen-stage-enhancer".into())
                .spawn(move || work(&path, enhance, &shared))
        };
        let enlarger = Self {
            path: path.to_path_buf(),
            shared,
        };
        if let Err(e) = spawned {
            enlarger.lock().state = Some(State::Failed(format!("no thread for it: {e}")));
        }
        enlarger
    }

    /// The enhancer's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state(&self) -> State {
        self.lock().state.clone().unwrap_or(State::Loading)
    }

    /// Hand over a new frame (256x256 RGBA); one waiting from before is dropped.
    pub fn submit(&self, sequence: u64, sound_at_ns: u64, rgba: &[u8]) {
        self.lock().job = Some((sequence, sound_at_ns, rgba.to_vec()));
        self.shared.1.notify_one();
    }

    /// The newest enlarged frame, if one came since the last call.
    pub fn take(&self) -> Option<Enlarged> {
        self.lock().done.take()
    }

    /// Give back a buffer of [`BYTES`] for a later frame: no allocation for each.
    pub fn recycle(&self, buffer: Vec<u8>) {
        if buffer.len() == BYTES {
            self.lock().spare = Some(buffer);
        }
    }

    /// Forget the frame waiting and the one enlarged: they are another instance's.
    pub fn clear(&self) {
        let mut shared = self.lock();
        shared.job = None;
        shared.done = None;
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Enlarger {
    fn drop(&mut self) {
        self.lock().quit = true;
        self.shared.1.notify_one();
    }
}

/// The thread: [`enlarge`], and a panic in it (inside ONNX Runtime, say) is a failure the
/// stage sees, not an enhancer that stays "running" for ever.
fn work(path: &Path, enhance: Enhance, shared: &(Mutex<Shared>, Condvar)) {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        enlarge(path, enhance, shared)
    }));
    if ran.is_err() {
        shared.0.lock().unwrap_or_else(|e| e.into_inner()).state =
            Some(State::Failed("the enhancer's thread panicked".into()));
    }
}

fn enlarge(path: &Path, enhance: Enhance, shared: &(Mutex<Shared>, Condvar)) {
    let lock = || shared.0.lock().unwrap_or_else(|e| e.into_inner());
    let say = |state: State| lock().state = Some(state);
    let config = RuntimeConfig {
        // `Never` starts no enlarger: `auto` asks for the GPU, `always` takes what there is.
        execution: if enhance == Enhance::Auto {
            Execution::Gpu
        } else {
            Execution::Auto
        },
        cpu_threads: 2,
    };
    let mut enhancer = match Enhancer::load(path, &config) {
        Ok(e) => e,
        Err(e) => return say(State::Failed(format!("{}: {e}", path.display()))),
    };
    let provider = enhancer.provider().clone();
    if enhance == Enhance::Auto && provider.fallback.is_some() {
        return say(State::Failed(format!(
            "ONNX Runtime has no GPU here ({}); --enhance always enlarges on the CPU",
            provider.fallback.as_deref().unwrap_or_default()
        )));
    }
    say(State::Running(provider.to_string()));
    let mut rgb = Vec::with_capacity(3 * mvgen_feed::SIDE * mvgen_feed::SIDE);
    let mut enhanced = Enhanced::default();
    let mut out_rgb = Vec::with_capacity(3 * SIDE * SIDE);
    loop {
        let (sequence, sound_at_ns, rgba) = {
            let mut s = lock();
            loop {
                if s.quit {
                    return;
                }
                if let Some(job) = s.job.take() {
                    break job;
                }
                s = shared.1.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        rgb.clear();
        rgb.extend(rgba.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]));
        let Some(frame) = Frame::from_rgb8(&rgb) else {
            return say(State::Failed("a frame of the wrong size".into()));
        };
        if let Err(e) = enhancer.run(&frame, &mut enhanced) {
            return say(State::Failed(format!("the enhancer failed: {e}")));
        }
        enhanced.to_rgb8_into(&mut out_rgb);
        let mut out = {
            let mut s = lock();
            s.done
                .take()
                .map(|d| d.rgba)
                .or_else(|| s.spare.take())
                .unwrap_or_else(|| vec![0; BYTES])
        };
        for (o, px) in out.chunks_exact_mut(4).zip(out_rgb.chunks_exact(3)) {
            o[..3].copy_from_slice(px);
            o[3] = 255;
        }
        lock().done = Some(Enlarged {
            sequence,
            sound_at_ns,
            rgba: out,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = ready() {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited for {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn picture(seed: u32) -> Vec<u8> {
        (0..mvgen_feed::FRAME_BYTES as u32)
            .map(|i| {
                if i % 4 == 3 {
                    255
                } else {
                    (i / 4 * seed % 251) as u8
                }
            })
            .collect()
    }

    /// The stage's enlarged frame is the look's enhancer's, pixel for pixel, and the
    /// newest frame handed over is the one enlarged.
    #[test]
    fn frames_come_back_as_the_enhancer_makes_them() {
        let path = mvgen_default_model::enhancer_path().unwrap();
        let enlarger = Enlarger::start(&path, Enhance::Always);
        let provider = wait("the enhancer to load", || match enlarger.state() {
            State::Loading => None,
            State::Running(p) => Some(p),
            State::Failed(why) => panic!("{why}"),
        });
        assert!(!provider.is_empty());
        let (a, b) = (picture(7), picture(13));
        enlarger.submit(1, 100, &a);
        enlarger.submit(2, 200, &b);
        let got = wait("an enlarged frame", || {
            enlarger.take().filter(|e| e.sequence == 2)
        });
        assert_eq!(got.sound_at_ns, 200);
        let config = RuntimeConfig {
            execution: Execution::Cpu,
            cpu_threads: 2,
        };
        let mut direct = Enhancer::load(&path, &config).unwrap();
        let rgb: Vec<u8> = b.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        let mut enhanced = Enhanced::default();
        direct
            .run(&Frame::from_rgb8(&rgb).unwrap(), &mut enhanced)
            .unwrap();
        let mut want = Vec::new();
        enhanced.to_rgb8_into(&mut want);
        let got_rgb: Vec<u8> = got
            .rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        let differ = got_rgb
            .iter()
            .zip(&want)
            .filter(|(g, w)| g.abs_diff(**w) > 1)
            .count();
        assert!(
            differ * 1000 < want.len(),
            "{differ} of {} levels differ from the enhancer's",
            want.len()
        );
    }

    /// `auto` enlarges only where ONNX Runtime has a GPU; elsewhere it says why.
    #[test]
    fn auto_enlarges_only_on_a_gpu() {
        let path = mvgen_default_model::enhancer_path().unwrap();
        let enlarger = Enlarger::start(&path, Enhance::Auto);
        match wait("the enhancer to load", || match enlarger.state() {
            State::Loading => None,
            s => Some(s),
        }) {
            State::Running(provider) => assert!(
                !provider.starts_with("CPU"),
                "auto runs on a GPU only: {provider}"
            ),
            State::Failed(why) => {
                eprintln!("no GPU for ONNX Runtime here: {why}");
                assert!(why.contains("no GPU"), "{why}");
            }
            State::Loading => unreachable!(),
        }
    }

    #[test]
    fn a_broken_enhancer_says_why() {
        let dir = std::env::temp_dir().join(format!("mvgen-stage-enh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("enhancer.onnx");
        std::fs::write(&path, b"not a model").unwrap();
        let enlarger = Enlarger::start(&path, Enhance::Always);
        let why = wait("the load to fail", || match enlarger.state() {
            State::Failed(why) => Some(why),
            State::Running(p) => panic!("a broken file ran on {p}"),
            State::Loading => None,
        });
        assert!(why.contains("enhancer.onnx"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
