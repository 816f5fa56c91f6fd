//! The plugin's CPU use while it plays live: 10 s of music through the CLAP bundle in our
//! host, paced in real time (48 kHz, 512-frame blocks), with an ngf 16 and an ngf 32
//! generator, editor closed and editor open (under Xvfb, drawn by lavapipe on the CPU).
//! Reports the process's CPU time as a share of one core, after 2 s of warm-up (the model
//! loads then): the analysis, the worker (the generator runs only while the editor is
//! open), the host's own loop and, when open, the editor's drawing (on lavapipe, the CPU
//! draws it). Xvfb itself runs in another process and is not counted.
//!
//! Use a release bundle for numbers a user would see:
//! ```text
//! cargo xtask bundle mvgen-plugin --release && cp -r target/bundled target/bundled-release
//! cargo xtask bundle mvgen-plugin   # the tests' debug bundle again
//! MVGEN_CLAP=target/bundled-release/MVGen.clap cargo bench -p mvgen-tests --bench live_cpu
//! ```

use mvgen_tests::clap_host::{Block, Host, MAX_BLOCK};
use mvgen_tests::editor_host::{EditorWindow, Xvfb};
use mvgen_tests::{bench_models, clap_bundle, scratch, signals};
use std::time::{Duration, Instant};

const RATE_HZ: u32 = 48_000;
const BLOCK: usize = 512;
const SECONDS: f64 = 10.0;

/// User plus system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Play `input` in real time; returns the CPU share of one core over its last `SECONDS`
/// (the first seconds load the model and settle).
fn play(host: &mut Host, input: &[Vec<f32>]) -> f64 {
    host.set_render_mode(false).unwrap();
    let mut active = host.activate(RATE_HZ, 2, MAX_BLOCK).unwrap();
    let warm_up = input[0].len() - (SECONDS * RATE_HZ as f64) as usize;
    let started = Instant::now();
    let mut measured = (started, cpu_time());
    for pos in (0..input[0].len()).step_by(BLOCK) {
        if pos == warm_up {
            measured = (Instant::now(), cpu_time());
        }
        let end = (pos + BLOCK).min(input[0].len());
        let block: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        active
            .process(
                &block,
                Block {
                    position: pos as u64,
                    playing: true,
                },
                &[],
            )
            .unwrap();
        // Real time: the next block is due when this one's audio has played.
        let due = Duration::from_secs_f64(end as f64 / RATE_HZ as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let (wall, cpu) = (measured.0.elapsed(), cpu_time() - measured.1);
    active.deactivate();
    cpu.as_secs_f64() / wall.as_secs_f64()
}

fn main() {
    let models = bench_models();
    let dir = scratch("live-cpu");
    let _x = Xvfb::start(&dir.join("xvfb.log")).unwrap();
    // 2 s of warm-up (512-frame blocks: 93 750 samples is a whole number of them).
    let input = signals::stereo(RATE_HZ, SECONDS + 93_696.0 / RATE_HZ as f64, 3);
    println!(
        "live CPU use, {} ({SECONDS} s at {RATE_HZ} Hz, {BLOCK}-frame blocks, real time)",
        clap_bundle().display()
    );
    for ngf in [16, 32] {
        std::env::set_var("MVGEN_MODEL", models.join(format!("unet256_ngf{ngf}.onnx")));
        for editor in [false, true] {
            let mut host = Host::load(&clap_bundle()).unwrap();
            let window = editor.then(|| EditorWindow::open(&mut host.main_thread(), 1.0).unwrap());
            let share = play(&mut host, &input);
            if let Some(w) = window {
                w.close(&mut host.main_thread()).unwrap();
            }
            println!(
                "ngf {ngf}, editor {}: {:.1} % of one core",
                if editor { "open" } else { "closed" },
                100.0 * share
            );
        }
    }
    // Leave while Xvfb still runs (it dies with us): Mesa's exit handlers use the display.
    std::process::exit(0);
}
