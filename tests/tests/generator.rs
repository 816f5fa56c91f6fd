//! The generator runtime against real ONNX Runtime (1.31.1, the library the bundles ship).
//!
//! Strategy: models are built by `make_models.py` with the `onnx` package and seeded
//! random weights: a tiny one with our metadata, pix2pix's `unet_256` as PyTorch exports
//! it (a foreign model), and one model per way a file can break the contract. Each bad
//! model must be refused with its own error, which names the problem.

use mvgen_core::model::ModelError;
use mvgen_core::{Frame, SpectrogramWindow};
use mvgen_runtime::{Execution, Generator, LoadError, RuntimeConfig};
use mvgen_tests::{models, signals};

fn cpu() -> RuntimeConfig {
    RuntimeConfig {
        execution: Execution::Cpu,
        cpu_threads: 2,
    }
}

fn music_window() -> SpectrogramWindow {
    let x = signals::music(5, 44_100, mvgen_core::spectrogram::WINDOW_SAMPLES);
    mvgen_core::spectrogram::window_from_samples(&x)
}

#[test]
fn our_model_loads_reports_its_metadata_and_runs() {
    let mut g = Generator::load(&models().join("tiny.onnx"), &cpu()).unwrap();
    let info = g.info();
    assert_eq!(info.contract_version, Some(1));
    assert_eq!(info.ngf, Some(4));
    assert_eq!(info.name.as_deref(), Some("test tiny"));
    assert_eq!(g.provider().provider, "CPU");
    let mut frame = Frame::default();
    g.run(&music_window(), &mut frame).unwrap();
    assert!(frame.all_finite());
    assert!(
        frame.planes().iter().all(|v| (-1.0..=1.0).contains(v)),
        "tanh output"
    );
    // Deterministic: the same window gives the same frame.
    let mut again = Frame::default();
    g.run(&music_window(), &mut again).unwrap();
    assert_eq!(frame, again);
}

#[test]
fn a_pytorch_style_unet_without_our_metadata_loads_as_foreign() {
    let mut g = Generator::load(&models().join("unet256_ngf8.onnx"), &cpu()).unwrap();
    assert!(g.info().is_foreign());
    assert_eq!(g.info().opset, 17);
    let mut frame = Frame::default();
    g.run(&music_window(), &mut frame).unwrap();
    let silent = {
        let mut f = Frame::default();
        g.run(&SpectrogramWindow::default(), &mut f).unwrap();
        f
    };
    assert_ne!(frame, silent, "the output depends on the input");
}

#[test]
fn auto_without_a_gpu_falls_back_to_the_cpu_and_says_why() {
    let g = Generator::load(&models().join("tiny.onnx"), &RuntimeConfig::default()).unwrap();
    let report = g.provider();
    if report.provider == "CPU" {
        let why = report
            .fallback
            .as_deref()
            .expect("a fallback names its reason");
        assert!(why.contains("WebGPU"), "{why}");
        eprintln!("no GPU here: {report}");
    } else {
        eprintln!("GPU present: {report}");
        assert!(report.fallback.is_none());
    }
}

#[test]
fn each_bad_model_gets_its_own_clear_error() {
    let dir = models();
    let load = |name: &str| match Generator::load(&dir.join(name), &cpu()) {
        Ok(_) => panic!("{name} loaded"),
        Err(LoadError::Model(e)) => e,
        Err(e) => panic!("{name}: {e}"),
    };
    assert!(matches!(load("missing.onnx"), ModelError::Missing(_)));
    assert!(matches!(load("bad_not_onnx.onnx"), ModelError::NotOnnx(_)));
    assert!(matches!(
        load("bad_too_large.onnx"),
        ModelError::TooLarge { .. }
    ));
    assert!(matches!(
        load("bad_input_shape.onnx"),
        ModelError::WrongShape { which: "input", .. }
    ));
    assert!(matches!(
        load("bad_output_shape.onnx"),
        ModelError::WrongShape {
            which: "output",
            ..
        }
    ));
    assert!(matches!(
        load("bad_contract.onnx"),
        ModelError::WrongContract { .. }
    ));
    assert!(matches!(
        load("bad_spectrogram.onnx"),
        ModelError::WrongSpectrogram { .. }
    ));
    assert!(matches!(
        load("bad_external.onnx"),
        ModelError::ExternalDataEscapes { .. }
    ));
    assert!(matches!(
        load("bad_nan.onnx"),
        ModelError::NonFiniteOutput(_)
    ));
    // And the messages say what is wrong, in words.
    let message = load("bad_contract.onnx").to_string();
    assert!(message.contains("contract version 99"), "{message}");
    let message = load("bad_input_shape.onnx").to_string();
    assert!(
        message.contains("[1, 1, 256, 256]") && message.contains("[1, 3, 256, 256]"),
        "{message}"
    );
}

/// Where a GPU works, its frames equal the CPU's (Auto, the default, runs there first).
/// Without one, the test says so and checks nothing else: `scripts/device/run.sh` runs it
/// on a GPU machine.
/// On a GPU, where there is one: the frames equal the CPU provider's.
#[test]
fn gpu_frames_equal_cpu_frames() {
    let gpu = Generator::load(&models().join("tiny.onnx"), &gpu_config()).unwrap();
    if gpu.provider().provider == "CPU" {
        eprintln!(
            "SKIPPED (no GPU here; the software adapter test below runs the GPU path): {}",
            gpu.provider()
                .fallback
                .as_deref()
                .unwrap_or("no reason given")
        );
        return;
    }
    compare_gpu_with_cpu();
}

/// The GPU code path without a GPU: ONNX Runtime's WebGPU provider on Mesa's lavapipe, a
/// Vulkan adapter on the CPU (`scripts/lavapipe.sh` unpacks one Dawn accepts), in a
/// child process whose environment lets ONNX Runtime list it. The upload, the provider
/// and the read-back all run; the frames equal the CPU provider's. No speed is claimed:
/// the adapter is the CPU.
#[test]
fn webgpu_on_a_cpu_adapter_equals_the_cpu_provider() {
    if std::env::var_os(SOFTWARE_ADAPTER_CHILD).is_some() {
        let gpu = Generator::load(&models().join("tiny.onnx"), &gpu_config()).unwrap();
        assert_eq!(
            gpu.provider().provider,
            "WebGPU",
            "the WebGPU provider did not take the software adapter: {}",
            gpu.provider()
        );
        assert!(
            gpu.provider()
                .device
                .contains("software adapter on the CPU"),
            "{}",
            gpu.provider()
        );
        eprintln!(
            "WebGPU on {} (a CPU adapter: correctness only, no speed)",
            gpu.provider().device
        );
        compare_gpu_with_cpu();
        return;
    }
    let mesa = mvgen_tests::root().join(".deps/mesa");
    let icd = mesa.join("lvp_icd.json");
    assert!(
        icd.is_file(),
        "{} is missing: run scripts/setup.sh (it runs scripts/lavapipe.sh)",
        icd.display()
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "webgpu_on_a_cpu_adapter_equals_the_cpu_provider",
            "--nocapture",
        ])
        .env(SOFTWARE_ADAPTER_CHILD, "1")
        .env("ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER", "1")
        .env("VK_DRIVER_FILES", &icd)
        .env(
            "LD_LIBRARY_PATH",
            mesa.join("root/usr/lib/x86_64-linux-gnu"),
        )
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran nothing: {text}");
    for line in text
        .lines()
        .filter(|l| l.contains("max |GPU - CPU|") || l.contains("WebGPU on"))
    {
        eprintln!("{line}");
    }
}

/// Set in the child process of the software adapter test.
const SOFTWARE_ADAPTER_CHILD: &str = "MVGEN_TEST_SOFTWARE_ADAPTER_CHILD";

fn gpu_config() -> RuntimeConfig {
    RuntimeConfig {
        execution: Execution::Gpu,
        cpu_threads: 2,
    }
}

/// Every test model's frames on the GPU provider equal the CPU provider's.
fn compare_gpu_with_cpu() {
    /// In image units ([-1, 1]): an eighth of an 8-bit level. GPU kernels sum in another
    /// order than the CPU's, so the last bits differ.
    const TOLERANCE: f32 = 1e-3;
    for model in ["tiny.onnx", "unet256_ngf8.onnx"] {
        let path = models().join(model);
        let mut gpu = Generator::load(&path, &gpu_config()).unwrap();
        assert_ne!(gpu.provider().provider, "CPU", "{}", gpu.provider());
        let mut cpu_generator = Generator::load(&path, &cpu()).unwrap();
        let mut worst = 0.0f32;
        for seed in 0..4 {
            let x = signals::music(seed, 44_100, mvgen_core::spectrogram::WINDOW_SAMPLES);
            let window = mvgen_core::spectrogram::window_from_samples(&x);
            let (mut on_gpu, mut on_cpu) = (Frame::default(), Frame::default());
            gpu.run(&window, &mut on_gpu).unwrap();
            cpu_generator.run(&window, &mut on_cpu).unwrap();
            let diff = on_gpu
                .planes()
                .iter()
                .zip(on_cpu.planes())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            worst = worst.max(diff);
        }
        eprintln!("{model} on {}: max |GPU - CPU| = {worst:e}", gpu.provider());
        assert!(
            worst <= TOLERANCE,
            "{model}: GPU frames differ from the CPU's by {worst}"
        );
    }
}
