//! The CLAP bundle in a real CLAP host (ours, on clack-host).
//!
//! Strategy: feed seeded stereo audio at several host rates and block-size patterns with
//! a playing transport, and read back every window the plugin's worker received through
//! its tap. Each must equal the offline contract (`mvgen_core`) computed on the same
//! audio at that frame's position: the resampler and the column maths are the same code
//! in both, so the stated tolerance, 1e-5 per pixel, only covers compiler differences.
//! The audio must come out bit for bit as it went in. The bundle is a debug build with
//! `assert_process_allocs`, so any allocation on the audio thread aborts these tests.
//!
//! The tap is switched on with an environment variable read when the plugin activates,
//! so the tests that use it run one after another inside a single test function.

use mvgen_core::resample::StreamResampler;
use mvgen_core::spectrogram::{window_from_signal, ColumnAnalyser};
use mvgen_core::Frame;
use mvgen_core::{Fps, FrameClock, WindowEnd};
use mvgen_runtime::{Execution, Generator, RuntimeConfig};
use mvgen_tests::clap_host::{Block, Host, ParamChange, Run, MAX_BLOCK};
use mvgen_tests::signals::{bit_exact, stereo};
use mvgen_tests::{clap_bundle, models, scratch, signals, tap};
use std::sync::Mutex;

/// Serialises the tests that set `MVGEN_TAP_DIR`.
static TAP_ENV: Mutex<()> = Mutex::new(());
const TOLERANCE: f32 = 1e-5;

/// What a run with the tap on gives back.
struct Tapped {
    output: Vec<Vec<f32>>,
    windows: Vec<tap::TappedWindow>,
    /// Errors the worker reported (a refused model, a failed frame).
    errors: Vec<String>,
}

/// Run with the tap on.
fn run_tapped(host: &mut Host, name: &str, run: &Run, input: &[Vec<f32>]) -> Tapped {
    let dir = scratch(name);
    // SAFETY (edition 2021 API): tests touching the environment hold TAP_ENV.
    std::env::set_var("MVGEN_TAP_DIR", &dir);
    let output = host.run(run, input).expect("processing");
    std::env::remove_var("MVGEN_TAP_DIR");
    let windows = tap::read(&dir).expect("reading the tap");
    let errors = tap::errors(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    Tapped {
        output,
        windows,
        errors,
    }
}

/// Run `f` with `MVGEN_MODEL` naming `model`, the plugin's model when a session has none.
fn with_model<T>(model: &std::path::Path, f: impl FnOnce() -> T) -> T {
    std::env::set_var("MVGEN_MODEL", model);
    let result = f();
    std::env::remove_var("MVGEN_MODEL");
    result
}

/// Check tapped windows against the offline contract; returns the largest difference.
fn check_windows(
    windows: &[tap::TappedWindow],
    input: &[Vec<f32>],
    rate_hz: u32,
    fps: Fps,
    what: &str,
) -> f32 {
    let len = input[0].len();
    let mono: Vec<f32> = (0..len)
        .map(|i| input.iter().map(|c| c[i]).sum::<f32>() * (1.0 / input.len() as f32))
        .collect();
    let signal = StreamResampler::resample_all(rate_hz, &mono).unwrap();
    let clock = FrameClock::new(fps, rate_hz);
    let expected = clock.num_frames(len as i64);
    assert!(
        (windows.len() as i64 - expected).abs() <= 1,
        "{what}: {} windows, expected {expected} (duration x fps, within one)",
        windows.len()
    );
    let mut columns = ColumnAnalyser::new();
    let mut worst = 0.0f32;
    for (k, w) in windows.iter().enumerate() {
        assert_eq!(
            w.frame, k as i64,
            "{what}: frames arrive in order, none skipped"
        );
        assert_eq!(
            w.timeline_sample,
            clock.frame_position(k as i64),
            "{what}: frame {k} position"
        );
        let end = clock.window_end(w.timeline_sample);
        assert_eq!(
            w.window_end_44k,
            end.samples(),
            "{what}: frame {k} window end"
        );
        let offline = window_from_signal(
            &signal,
            WindowEnd::at_or_before(end.samples()),
            &mut columns,
        );
        let diff = w
            .window
            .pixels()
            .iter()
            .zip(offline.pixels())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            diff <= TOLERANCE,
            "{what}: frame {k} differs from the offline window by {diff}"
        );
        assert!(
            w.window
                .pixels()
                .iter()
                .all(|v| v.is_finite() && (-1.0..=1.0).contains(v)),
            "{what}: frame {k} out of range"
        );
        worst = worst.max(diff);
    }
    worst
}

#[test]
fn bundle_is_a_debug_build_that_asserts_no_allocations() {
    let bytes = std::fs::read(clap_bundle()).unwrap();
    let needle = b"nice_assert_no_alloc..AllocDisabler";
    assert!(
        bytes.windows(needle.len()).any(|w| w == needle),
        "the test bundle must be built with assert_process_allocs (debug)"
    );
}

#[test]
fn windows_equal_the_offline_contract_at_every_rate_and_block_size() {
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    // Block-size patterns: fixed sizes, then a seeded mix with zero-length blocks.
    let patterns: [&[usize]; 5] = [
        &[1],
        &[64],
        &[511],
        &[4096],
        &[0, 17, 4096, 1, 333, 8192, 0, 64, 2, 1000, 511],
    ];
    let mut host = Host::load(&clap_bundle()).unwrap();
    for rate_hz in [44_100u32, 48_000, 96_000] {
        let input = stereo(rate_hz, 2.0, rate_hz as u64);
        for blocks in patterns {
            let what = format!("{rate_hz} Hz, blocks {blocks:?}");
            let Tapped {
                output, windows, ..
            } = run_tapped(
                &mut host,
                "clap-rates",
                &Run::offline(rate_hz, blocks),
                &input,
            );
            assert!(bit_exact(&output, &input), "{what}: audio changed");
            let worst = check_windows(&windows, &input, rate_hz, Fps::F30, &what);
            eprintln!(
                "{what}: {} windows, max |live - offline| = {worst:e}",
                windows.len()
            );
        }
    }
    // Odd rates: one that shares no factor with 44.1 kHz (the resampler switches to its
    // short-chunk sinc path) and the lowest we accept.
    for rate_hz in [44_101u32, 8_000] {
        let input = stereo(rate_hz, 2.0, rate_hz as u64);
        for blocks in [patterns[2], patterns[4]] {
            let what = format!("{rate_hz} Hz, blocks {blocks:?}");
            let Tapped {
                output, windows, ..
            } = run_tapped(
                &mut host,
                "clap-odd-rates",
                &Run::offline(rate_hz, blocks),
                &input,
            );
            assert!(bit_exact(&output, &input), "{what}: audio changed");
            let worst = check_windows(&windows, &input, rate_hz, Fps::F30, &what);
            eprintln!(
                "{what}: {} windows, max |live - offline| = {worst:e}",
                windows.len()
            );
        }
    }
}

#[test]
fn fps_parameter_sets_the_frame_rate() {
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let mut host = Host::load(&clap_bundle()).unwrap();
    let input = stereo(48_000, 2.0, 7);
    // nice-plug exposes an enum parameter to CLAP as its variant index: 4 is 60 fps.
    let params = [ParamChange {
        id: "fps",
        value: 4.0,
    }];
    let Tapped { windows, .. } = run_tapped(
        &mut host,
        "clap-fps",
        &Run {
            params: &params,
            ..Run::offline(48_000, &[512])
        },
        &input,
    );
    check_windows(&windows, &input, 48_000, Fps::F60, "60 fps");
    assert_eq!(windows.len(), 120);
}

#[test]
fn bad_input_never_reaches_a_window_and_audio_passes_untouched() {
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let rate_hz = 48_000u32;
    let len = rate_hz as usize * 2;
    let cases: Vec<(&str, Vec<f32>)> = vec![
        (
            "NaN",
            (0..len)
                .map(|i| if i % 3 == 0 { f32::NAN } else { 0.1 })
                .collect(),
        ),
        (
            "infinity",
            (0..len)
                .map(|i| {
                    if i % 5 == 0 {
                        f32::INFINITY
                    } else {
                        -f32::INFINITY
                    }
                })
                .collect(),
        ),
        ("denormals", vec![1.0e-40; len]),
        ("silence", vec![0.0; len]),
        ("+40 dBFS", signals::sine(1000.0, 100.0, rate_hz, len)),
    ];
    let mut host = Host::load(&clap_bundle()).unwrap();
    for (name, signal) in cases {
        let input = vec![signal.clone(), signal];
        let Tapped {
            output, windows, ..
        } = run_tapped(
            &mut host,
            "clap-bad",
            &Run::offline(rate_hz, &[0, 256, 0, 1024, 3]),
            &input,
        );
        assert!(bit_exact(&output, &input), "{name}: audio changed");
        assert!(
            (windows.len() as i64 - 60).abs() <= 1,
            "{name}: {} windows",
            windows.len()
        );
        for w in &windows {
            assert!(
                w.window
                    .pixels()
                    .iter()
                    .all(|v| v.is_finite() && (-1.0..=1.0).contains(v)),
                "{name}: window {} holds a bad value",
                w.frame
            );
        }
        if name == "silence" {
            assert!(
                windows
                    .iter()
                    .all(|w| w.window.pixels().iter().all(|&v| v == -1.0)),
                "silence is the floor"
            );
        }
    }
}

#[test]
fn sample_rate_can_change_between_activations() {
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let mut host = Host::load(&clap_bundle()).unwrap();
    for rate_hz in [44_100u32, 96_000, 22_050, 192_000, 48_000] {
        let input = stereo(rate_hz, 1.5, 3);
        let Tapped {
            output, windows, ..
        } = run_tapped(
            &mut host,
            "clap-rate-change",
            &Run::offline(rate_hz, &[480]),
            &input,
        );
        assert!(bit_exact(&output, &input), "{rate_hz} Hz: audio changed");
        check_windows(
            &windows,
            &input,
            rate_hz,
            Fps::F30,
            &format!("{rate_hz} Hz after a rate change"),
        );
    }
}

/// With a model, every frame of an offline render equals a direct ONNX Runtime run of the
/// same model on the same window (same library, same CPU provider: tolerance 1e-6), for
/// our tiny model and for a PyTorch-style `unet_256` with BatchNorm.
#[test]
fn frames_equal_a_direct_onnx_runtime_run() {
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    for model in ["tiny.onnx", "unet256_ngf8.onnx"] {
        let path = models().join(model);
        let mut host = Host::load(&clap_bundle()).unwrap();
        let input = stereo(48_000, 1.5, 21);
        let Tapped {
            output, windows, ..
        } = with_model(&path, || {
            run_tapped(
                &mut host,
                "clap-frames",
                &Run::offline(48_000, &[512]),
                &input,
            )
        });
        assert!(bit_exact(&output, &input), "{model}: audio changed");
        check_windows(&windows, &input, 48_000, Fps::F30, model);
        let mut direct = Generator::load(
            &path,
            &RuntimeConfig {
                execution: Execution::Cpu,
                cpu_threads: 2,
            },
        )
        .unwrap();
        let mut expected = Frame::default();
        for w in &windows {
            let got = w
                .frame_image
                .as_ref()
                .unwrap_or_else(|| panic!("{model}: frame {} was not generated", w.frame));
            direct.run(&w.window, &mut expected).unwrap();
            let diff = got
                .planes()
                .iter()
                .zip(expected.planes())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                diff <= 1e-6,
                "{model}: frame {} differs from a direct run by {diff}",
                w.frame
            );
        }
    }
}

/// A bad model never stops the audio: it is refused with a clear error, and the worker
/// keeps making (summary) frames.
#[test]
fn bad_models_are_refused_and_the_audio_flows() {
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let cases = [
        ("missing.onnx", "does not exist"),
        ("bad_not_onnx.onnx", "is not an ONNX model"),
        ("bad_too_large.onnx", "over the"),
        ("bad_input_shape.onnx", "input must be one f32 tensor"),
        ("bad_output_shape.onnx", "output must be one f32 tensor"),
        ("bad_contract.onnx", "contract version 99"),
        ("bad_spectrogram.onnx", "trained on other spectrograms"),
        ("bad_external.onnx", "outside its folder"),
        ("bad_nan.onnx", "NaN or infinity"),
    ];
    let input = stereo(44_100, 1.0, 5);
    for (model, expected) in cases {
        let mut host = Host::load(&clap_bundle()).unwrap();
        let Tapped {
            output,
            windows,
            errors,
        } = with_model(&models().join(model), || {
            run_tapped(
                &mut host,
                "clap-bad-model",
                &Run::offline(44_100, &[256]),
                &input,
            )
        });
        assert!(bit_exact(&output, &input), "{model}: audio changed");
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{model}: errors {errors:?} should say {expected:?}"
        );
        assert_eq!(windows.len(), 30, "{model}: the worker keeps going");
        assert!(
            windows.iter().all(|w| w.frame_image.is_none()),
            "{model}: no frame from a refused model"
        );
    }
}

/// In real time the audio thread never waits, not even for a stalled worker: every
/// `process()` call returns long before the worker's stall ends, and the frames the worker
/// could not take are counted as dropped. (The host runs 1.2 s of audio as fast as it can,
/// under the 1.5 s lead that would make the plugin take it for a render.)
#[test]
fn realtime_never_waits_for_the_worker() {
    const STALL_MS: u64 = 300;
    let _guard = TAP_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let mut host = Host::load(&clap_bundle()).unwrap();
    let input = stereo(48_000, 1.2, 11);
    let dir = scratch("clap-realtime");
    std::env::set_var("MVGEN_TAP_DIR", &dir);
    std::env::set_var("MVGEN_TEST_STALL", STALL_MS.to_string());
    host.set_render_mode(false).unwrap();
    let mut active = host.activate(48_000, 2, MAX_BLOCK).unwrap();
    let mut output = vec![Vec::new(), Vec::new()];
    let mut slowest = std::time::Duration::ZERO;
    for pos in (0..input[0].len()).step_by(64) {
        let end = (pos + 64).min(input[0].len());
        let block: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        let started = std::time::Instant::now();
        let out = active
            .process(
                &block,
                Block {
                    position: pos as u64,
                    playing: true,
                },
                &[],
            )
            .unwrap();
        slowest = slowest.max(started.elapsed());
        for (o, b) in output.iter_mut().zip(out) {
            o.extend(b);
        }
    }
    active.deactivate();
    std::env::remove_var("MVGEN_TEST_STALL");
    std::env::remove_var("MVGEN_TAP_DIR");
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        slowest.as_millis() < (STALL_MS / 2) as u128,
        "a process() call took {slowest:?}: the audio thread waited for the stalled worker"
    );
    let counters = tap::counters(&dir);
    assert!(
        counters.get("windows_dropped").copied().unwrap_or(0) > 0,
        "the frames the stalled worker could not take are counted: {counters:?}"
    );
    let windows = tap::read(&dir).unwrap();
    assert!(!windows.is_empty(), "the worker made no frame at all");
    for w in &windows {
        assert_eq!(
            w.window_end_44k,
            FrameClock::new(Fps::F30, 48_000)
                .window_end(w.timeline_sample)
                .samples()
        );
    }
}
