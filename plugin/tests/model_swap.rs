//! Swapping the generator while someone watches live frames: the worker keeps making
//! frames from the old model until the new one has loaded on its loader thread, then
//! switches between two frames, and the session names the new model only once it runs
//! (and only after the worker's report does, so whoever reads the session can trust the
//! report).
//!
//! The models come from the e2e crate's builder (`tests/python/make_models.py`): run
//! through `scripts/test.sh`, which sets up the venv first.

use mvgen_core::WindowEnd;
use mvgen_plugin::engine::Engine;
use mvgen_plugin::export::ExportSetup;
use mvgen_plugin::handoff::{handoff, FramePacket};
use mvgen_plugin::params::MvGenParams;
use mvgen_plugin::status::{LoadRequest, Status};
use mvgen_plugin::worker::{Published, Worker, WorkerSetup};
use mvgen_runtime::{Execution, Generator, RuntimeConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn models() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target/test-models");
    let status = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python/make_models.py"))
        .arg(&dir)
        .status()
        .expect("the test venv (scripts/setup.sh)");
    assert!(status.success());
    dir
}

#[test]
fn a_model_swaps_between_frames_without_losing_any() {
    let dir = models();
    let cpu = RuntimeConfig {
        execution: Execution::Cpu,
        cpu_threads: 1,
    };
    let first = Generator::load(&dir.join("tiny.onnx"), &cpu).unwrap();
    let status = Arc::new(Status::new());
    let params = Arc::new(MvGenParams::default());
    let (mut audio, worker_side) = handoff();
    let (input, mut output) = triple_buffer::triple_buffer(&Published::default());
    let worker = Worker::spawn(
        worker_side,
        status.clone(),
        input,
        WorkerSetup {
            engine: Engine::start(Some(first)).unwrap(),
            load: None,
            export: ExportSetup {
                rate_hz: 44_100,
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
    .unwrap();
    // Someone watches live frames (as the open editor does): the generator runs.
    let _watch = status.watch();

    let mut send = |frame: i64| {
        let started = Instant::now();
        let window = loop {
            if let Some(w) = audio.take_window() {
                break w;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the worker stopped returning windows"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(audio.send(FramePacket {
            frame,
            timeline_sample: frame,
            next_timeline_sample: frame + 1,
            window_end: WindowEnd::from_first_column(frame),
            window,
            audio_mark: 0,
            sound_at_ns: 0,
            params: Default::default(),
        }));
    };
    // Live, a window is either made into a frame (processed) or skipped for a newer one,
    // counted apart.
    let handled = || Status::get(&status.windows_processed) + Status::get(&status.windows_skipped);
    let wait_for = |n: u64| {
        let started = Instant::now();
        while handled() < n {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "worker stalled at {n}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };

    for frame in 0..20 {
        send(frame);
    }
    wait_for(20);
    let before = output
        .read()
        .image
        .clone()
        .expect("frames from the first model");
    assert_eq!(
        status.worker_report().model.and_then(|m| m.name),
        Some("test tiny".into())
    );

    let second = dir.join("unet256_ngf8.onnx");
    status.request_load(LoadRequest {
        path: second.clone(),
        look: None,
        config: cpu.clone(),
        save: true,
    });
    let mut frame = 20;
    let started = Instant::now();
    while status
        .worker_report()
        .model
        .is_none_or(|m| m.name.is_some())
    {
        assert_eq!(params.saved_model(), None, "saved before it loaded");
        send(frame);
        frame += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the new model never arrived"
        );
    }
    // The report named it first; the session follows.
    let named = Instant::now();
    while params.saved_model().is_none() {
        assert!(
            named.elapsed() < Duration::from_secs(10),
            "the loaded model was never saved in the session"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(params.saved_model(), Some(second));
    for _ in 0..5 {
        send(frame);
        frame += 1;
    }
    wait_for(frame as u64);
    assert_eq!(handled(), frame as u64, "no window lost across the swap");
    assert_eq!(Status::get(&status.windows_dropped), 0);
    assert_eq!(Status::get(&status.frames_failed), 0);
    assert_eq!(
        Status::get(&status.frames_published),
        Status::get(&status.windows_processed),
        "every processed window became a published frame; skipped ones did not"
    );
    let after = output
        .read()
        .image
        .clone()
        .expect("frames from the second model");
    assert_ne!(before, after, "the second model makes other frames");
    let engine = worker
        .stop(Vec::new())
        .expect("the worker hands its engine back");
    assert!(
        engine.installed().is_some(),
        "with the second model installed"
    );
    engine.shut_down();
}
