//! The enhancer as an ONNX model that meets the contract (`mvgen_core::model::ENHANCER`:
//! `[1,3,256,256]` in, `[1,3,1024,1024]` out, both in [-1, 1]), written by hand from the
//! module's fields with the generator's graph writer. Opset-17 ops only: `Conv`, `Relu`,
//! `Concat`, `ConvTranspose` (the sub-pixel layer), `Resize` (linear, half-pixel: the
//! bilinear base), `Add` and `Clip`.
//! Every export is run in ONNX Runtime and compared with burn before it is reported
//! written.

use super::net::EnhanceNet;
use crate::train::export::{Graph, PARITY_TOLERANCE};
use anyhow::{ensure, Context};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use mvgen_core::model::{keys, CONTRACT_VERSION, ENHANCED_SHAPE, OUTPUT_SHAPE};
use mvgen_core::Frame;
use std::path::Path;

pub const INPUT_NAME: &str = "frame";
pub const OUTPUT_NAME: &str = "enhanced";

/// What an export records about the enhancer.
#[derive(Debug, Clone)]
pub struct EnhancerInfo {
    pub name: String,
    pub steps: u64,
    /// What it learned from (the songs' folder, or the dataset).
    pub dataset: String,
    /// The SHA-256 of the generator whose frames it learned to enlarge.
    pub generator_sha256: String,
}

/// The ONNX bytes of `net`, mirroring [`EnhanceNet::forward`].
pub fn to_onnx(net: &EnhanceNet, info: &EnhancerInfo) -> Vec<u8> {
    let mut graph = Graph::default();
    let f = graph.conv("features", &net.features, INPUT_NAME.into());
    let f = graph.node("Relu", vec![f], vec![]);
    let f = graph.conv("refine", &net.refine, f);
    let f = graph.node("Relu", vec![f], vec![]);
    let both = graph.node(
        "Concat",
        vec![f, INPUT_NAME.into()],
        vec![crate::train::export::int("axis", 1)],
    );
    let detail = graph.sub_pixel("shuffle", net.shuffle.val(), both);
    let base = graph.resize_linear(INPUT_NAME.into(), super::net::SCALE as f32);
    let sum = graph.node("Add", vec![base, detail], vec![]);
    graph.clip_unit(sum);
    graph.model(
        "mvgen_enhancer",
        (INPUT_NAME, OUTPUT_SHAPE),
        (OUTPUT_NAME, ENHANCED_SHAPE),
        &[
            (keys::CONTRACT_VERSION, CONTRACT_VERSION.to_string()),
            (keys::KIND, "enhancer".into()),
            (keys::NAME, info.name.clone()),
            (keys::DATASET, info.dataset.clone()),
            ("mvgen.channels", net.channels().to_string()),
            ("mvgen.steps", info.steps.to_string()),
            ("mvgen.generator_sha256", info.generator_sha256.clone()),
        ],
    )
}

/// The largest difference between burn's forward pass and ONNX Runtime's (CPU) on the
/// enhancer at `path`, over `frames`.
pub fn parity(net: &EnhanceNet, path: &Path, frames: &[Frame]) -> anyhow::Result<f32> {
    let config = mvgen_runtime::RuntimeConfig {
        execution: mvgen_runtime::Execution::Cpu,
        ..Default::default()
    };
    let mut onnx = mvgen_runtime::Enhancer::load(path, &config)
        .with_context(|| format!("loading the export {} in ONNX Runtime", path.display()))?;
    let device = Device::flex();
    let net = net.clone().to_device(&device);
    let mut enhanced = mvgen_runtime::Enhanced::default();
    let mut worst = 0f32;
    for frame in frames {
        onnx.run(frame, &mut enhanced)?;
        let x = Tensor::<4>::from_data(
            TensorData::new(frame.planes().to_vec(), OUTPUT_SHAPE.map(|d| d as usize)),
            &device,
        );
        let ours: Vec<f32> = net
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 frame");
        for (a, b) in ours.iter().zip(enhanced.planes()) {
            worst = worst.max((a - b).abs());
        }
    }
    Ok(worst)
}

/// Write `net` to `out` and check it in ONNX Runtime. Returns the parity measured.
pub fn export(
    net: &EnhanceNet,
    info: &EnhancerInfo,
    out: &Path,
    frames: &[Frame],
) -> anyhow::Result<f32> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::files::write_atomic(out, &to_onnx(net, info))?;
    let worst = parity(net, out, frames)?;
    ensure!(
        worst <= PARITY_TOLERANCE,
        "the enhancer's export differs from the trained network by {worst} (limit \
         {PARITY_TOLERANCE}): not usable"
    );
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// burn's forward pass and ONNX Runtime's agree, and the file passes the enhancer's
    /// contract (and is refused as a generator).
    #[test]
    fn export_matches_burn() {
        let dir = std::env::temp_dir().join(format!("mvgen-enh-export-{}", std::process::id()));
        let device = Device::flex();
        let mut net = EnhanceNet::new(8, 5, &device);
        // Trained-looking weights, so the learned detail matters.
        let noise: Vec<f32> = (0..11 * 3 * 16)
            .map(|i| ((i as f32) * 0.71).sin() * 0.05)
            .collect();
        net.shuffle = burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(noise, [11, 3, 4, 4]),
            &device,
        ));
        let info = EnhancerInfo {
            name: "parity".into(),
            steps: 0,
            dataset: "none".into(),
            generator_sha256: "0".repeat(64),
        };
        let mut frame = Frame::default();
        for (i, v) in frame.planes_mut().iter_mut().enumerate() {
            *v = ((i as f32) * 0.013).sin();
        }
        let path = dir.join("enhancer.onnx");
        let worst = export(&net, &info, &path, &[frame, Frame::default()]).unwrap();
        assert!(worst <= PARITY_TOLERANCE, "{worst}");
        let read = mvgen_core::model::read(&path, &mvgen_core::model::ENHANCER)
            .unwrap()
            .0;
        assert_eq!(read.name.as_deref(), Some("parity"));
        let refused = mvgen_core::model::inspect(&path).unwrap_err().to_string();
        assert!(
            refused.contains("[1, 1, 256, 256]") || refused.contains("enhancer"),
            "{refused}"
        );
        eprintln!("max |burn - onnx| = {worst:e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
