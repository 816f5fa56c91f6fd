//! The generator's thread outlives activations: a worker stopped while the generator was
//! still busy with a frame hands the engine on, and the next activation's worker collects
//! that stale answer and goes on generating, instead of finding the engine busy for good.
//!
//! The models come from the e2e crate's builder (`tests/python/make_models.py`): run
//! through `scripts/test.sh`, which sets up the venv first.

use mvgen_core::{Fps, WindowEnd};
use mvgen_plugin::engine::Engine;
use mvgen_plugin::export::ExportSetup;
use mvgen_plugin::handoff::{
    handoff, BounceCounts, BounceEnd, BounceStart, Detection, EndReason, FramePacket, Message,
};
use mvgen_plugin::params::MvGenParams;
use mvgen_plugin::status::Status;
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
        .expect("the test venv (scripts/setup-tests.sh)");
    assert!(status.success());
    dir
}

fn packet(frame: i64, window: Box<mvgen_core::SpectrogramWindow>) -> FramePacket {
    FramePacket {
        frame,
        timeline_sample: frame * 1470,
        next_timeline_sample: (frame + 1) * 1470,
        window_end: WindowEnd::from_first_column(frame),
        window,
        audio_mark: 0,
        sound_at_ns: 0,
        params: Default::default(),
    }
}

#[test]
fn a_job_in_flight_at_deactivation_does_not_block_the_next_activation() {
    // The generator sleeps 300 ms before frame 0 only: it is still busy with it when the
    // first worker stops.
    std::env::set_var("MVGEN_TEST_STALL_GENERATOR", "300@0");
    let cpu = RuntimeConfig {
        execution: Execution::Cpu,
        cpu_threads: 1,
    };
    let generator = Generator::load(&models().join("tiny.onnx"), &cpu).unwrap();
    let engine = Engine::start(Some(generator)).unwrap();
    std::env::remove_var("MVGEN_TEST_STALL_GENERATOR");
    let status = Arc::new(Status::new());
    let params = Arc::new(MvGenParams::default());
    let export_dir =
        std::env::temp_dir().join(format!("mvgen-engine-reuse-{}", std::process::id()));
    params.set_export_folder(&export_dir);
    let setup = |engine: Engine| WorkerSetup {
        engine,
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
    };

    // First activation: someone watches, one live frame goes to the generator.
    let (mut audio, worker_side) = handoff();
    let (input, _output) = triple_buffer::triple_buffer(&Published::default());
    let worker = Worker::spawn(worker_side, status.clone(), input, setup(engine)).unwrap();
    let watch = status.watch();
    let window = audio.take_window().unwrap();
    assert!(audio.send(packet(0, window)));
    std::thread::sleep(Duration::from_millis(50));
    let engine = worker.stop(Vec::new()).expect("the worker stops in time");
    assert_eq!(
        engine.busy_with(),
        Some(0),
        "the generator is still on frame 0"
    );
    drop(watch);

    // Second activation: a bounce of 10 frames, every one generated.
    let (mut audio, worker_side) = handoff();
    let (input, _output) = triple_buffer::triple_buffer(&Published::default());
    let worker = Worker::spawn(worker_side, status.clone(), input, setup(engine)).unwrap();
    let start = BounceStart {
        timeline_sample: 0,
        first_frame: 0,
        fps: Fps::F30,
        export: true,
        detected: Detection::HostMode,
        render_id: 1,
    };
    assert!(audio.mark(Message::BounceStart(start)));
    for frame in 0..10 {
        let started = Instant::now();
        let window = loop {
            if let Some(w) = audio.take_window() {
                break w;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the worker stopped"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(audio.send(packet(frame, window)));
    }
    assert!(audio.mark(Message::BounceEnd(BounceEnd {
        audio_mark: 0,
        counts: BounceCounts::default(),
        reason: EndReason::Deactivated,
    })));
    let engine = worker.stop(Vec::new()).expect("the worker stops in time");
    assert_eq!(engine.busy_with(), None);
    assert_eq!(
        Status::get(&status.frames_failed),
        0,
        "no frame failed: the stale job was collected, not mistaken for a stall"
    );
    assert_eq!(
        status.worker_report().error,
        None,
        "nothing went wrong: {:?}",
        status.worker_report().error
    );
    let _ = std::fs::remove_dir_all(export_dir);
}
