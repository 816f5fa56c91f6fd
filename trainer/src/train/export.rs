//! `mvgen export`: the generator as an ONNX model that meets the contract
//! (`mvgen_core::model`), written by hand from the module's fields.
//!
//! Why by hand: the architecture is fixed, and burn's ONNX export lowers neither
//! `ConvTranspose` nor `LeakyRelu`. The graph uses standard opset-17 ops only: `Conv`,
//! `LeakyRelu`, `InstanceNormalization` (our [`Norm`](crate::train::net::Norm)), `Relu`,
//! `ConvTranspose`, `Concat` and `Tanh`. Dropout is left out: inference is deterministic
//! (see `net.rs`). Every export is checked against burn's own forward pass in ONNX
//! Runtime before it is reported written.

use crate::train::net::{Generator, Norm, DEPTH, LEAKY_SLOPE, NORM_EPS};
use anyhow::{ensure, Context};
use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::{Device, Tensor};
use mvgen_core::model::{keys, spectrogram_signature, CONTRACT_VERSION, INPUT_SHAPE, OUTPUT_SHAPE};
use mvgen_core::onnx::{self, AttributeProto, NodeProto, TensorProto, ValueInfoProto};
use prost::Message;
use std::path::Path;

pub const OPSET: i64 = 17;
/// ONNX IR version 8 goes with opset 17.
pub const IR_VERSION: i64 = 8;
pub const INPUT_NAME: &str = "spectrogram";
pub const OUTPUT_NAME: &str = "frame";
/// The largest difference between burn and ONNX Runtime we accept on an export.
pub const PARITY_TOLERANCE: f32 = 1e-4;

/// What an export records about the model.
#[derive(Debug, Clone)]
pub struct ExportInfo {
    pub name: String,
    pub epochs: usize,
    pub dataset: String,
}

/// An ONNX graph being written: nodes in order and their weights. The generator's and the
/// enhancer's exporters both write through it.
#[derive(Default)]
pub(crate) struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

pub(crate) fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: onnx::ATTR_INTS,
        ..Default::default()
    }
}

pub(crate) fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: onnx::ATTR_FLOAT,
        ..Default::default()
    }
}

pub(crate) fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: s.as_bytes().to_vec(),
        r#type: onnx::ATTR_STRING,
        ..Default::default()
    }
}

pub(crate) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: onnx::ATTR_INT,
        ..Default::default()
    }
}

impl Graph {
    pub(crate) fn weight<const D: usize>(&mut self, name: String, t: Tensor<D>) -> String {
        let dims = t.dims().iter().map(|&d| d as i64).collect();
        let values: Vec<f32> = t
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 weights");
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims,
            data_type: onnx::FLOAT,
            name: name.clone(),
            raw_data: raw.into(),
            ..Default::default()
        });
        name
    }

    pub(crate) fn node(
        &mut self,
        op: &str,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        let output = format!("{}_{}", op.to_lowercase(), self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        output
    }

    /// A convolution with padding 1 (every one mvgen's networks have), its kernel as its
    /// weights have it.
    pub(crate) fn conv(&mut self, name: &str, c: &Conv2d, x: String) -> String {
        let [_, _, kh, kw] = c.weight.dims().map(|d| d as i64);
        let mut inputs = vec![x, self.weight(format!("{name}.weight"), c.weight.val())];
        if let Some(b) = &c.bias {
            inputs.push(self.weight(format!("{name}.bias"), b.val()));
        }
        let s = c.stride.map(|v| v as i64);
        self.node(
            "Conv",
            inputs,
            vec![
                ints("kernel_shape", &[kh, kw]),
                ints("strides", &s),
                ints("pads", &[1, 1, 1, 1]),
            ],
        )
    }

    /// A transposed convolution with `weight`, no bias and no padding, whose stride is
    /// its kernel: each input pixel becomes a block (a sub-pixel layer).
    pub(crate) fn sub_pixel(&mut self, name: &str, weight: Tensor<4>, x: String) -> String {
        let [_, _, kh, kw] = weight.dims().map(|d| d as i64);
        let inputs = vec![x, self.weight(format!("{name}.weight"), weight)];
        self.node(
            "ConvTranspose",
            inputs,
            vec![ints("kernel_shape", &[kh, kw]), ints("strides", &[kh, kw])],
        )
    }

    /// A bilinear enlargement by `scale` with half-pixel centres (`Resize`, mode linear).
    pub(crate) fn resize_linear(&mut self, x: String, scale: f32) -> String {
        let scales = format!("resize{}.scales", self.nodes.len());
        self.initializers.push(TensorProto {
            dims: vec![4],
            data_type: onnx::FLOAT,
            name: scales.clone(),
            raw_data: [1.0f32, 1.0, scale, scale]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
            ..Default::default()
        });
        self.node(
            "Resize",
            vec![x, String::new(), scales],
            vec![string("mode", "linear")],
        )
    }

    /// Clip to [-1, 1].
    pub(crate) fn clip_unit(&mut self, x: String) -> String {
        let lo = self.scalar("clip.min", -1.0);
        let hi = self.scalar("clip.max", 1.0);
        self.node("Clip", vec![x, lo, hi], vec![])
    }

    /// A scalar f32 initialiser.
    fn scalar(&mut self, name: &str, v: f32) -> String {
        self.initializers.push(TensorProto {
            dims: vec![],
            data_type: onnx::FLOAT,
            name: name.into(),
            raw_data: v.to_le_bytes().to_vec().into(),
            ..Default::default()
        });
        name.into()
    }

    fn conv_transpose(&mut self, name: &str, c: &ConvTranspose2d, x: String) -> String {
        let mut inputs = vec![x, self.weight(format!("{name}.weight"), c.weight.val())];
        if let Some(b) = &c.bias {
            inputs.push(self.weight(format!("{name}.bias"), b.val()));
        }
        self.node(
            "ConvTranspose",
            inputs,
            vec![
                ints("kernel_shape", &[4, 4]),
                ints("strides", &[2, 2]),
                ints("pads", &[1, 1, 1, 1]),
            ],
        )
    }

    fn norm(&mut self, name: &str, n: &Norm, x: String) -> String {
        let inputs = vec![
            x,
            self.weight(format!("{name}.scale"), n.gamma.val()),
            self.weight(format!("{name}.bias"), n.beta.val()),
        ];
        self.node(
            "InstanceNormalization",
            inputs,
            vec![float("epsilon", NORM_EPS as f32)],
        )
    }
}

pub(crate) fn value(name: &str, shape: [i64; 4]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(onnx::TypeProto {
            tensor_type: Some(onnx::TensorTypeProto {
                elem_type: onnx::FLOAT,
                shape: Some(onnx::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| onnx::Dimension {
                            dim_value: Some(d),
                            dim_param: None,
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// The ONNX bytes of `g`, mirroring `Generator::forward` without dropout.
pub fn to_onnx(g: &Generator, info: &ExportInfo) -> Vec<u8> {
    let mut graph = Graph::default();
    let mut x = graph.conv("down0", &g.down[0], INPUT_NAME.into());
    let mut skips = vec![x.clone()];
    for i in 1..DEPTH {
        x = graph.node(
            "LeakyRelu",
            vec![x],
            vec![float("alpha", LEAKY_SLOPE as f32)],
        );
        x = graph.conv(&format!("down{i}"), &g.down[i], x);
        if i < DEPTH - 1 {
            x = graph.norm(&format!("down{i}.norm"), &g.down_norm[i - 1], x);
            skips.push(x.clone());
        }
    }
    for j in 0..DEPTH {
        x = graph.node("Relu", vec![x], vec![]);
        x = graph.conv_transpose(&format!("up{j}"), &g.up[j], x);
        if j == DEPTH - 1 {
            graph.node("Tanh", vec![x], vec![]);
            break;
        }
        x = graph.norm(&format!("up{j}.norm"), &g.up_norm[j], x);
        x = graph.node(
            "Concat",
            vec![skips[DEPTH - 2 - j].clone(), x],
            vec![int("axis", 1)],
        );
    }
    graph.model(
        "unet_256",
        (INPUT_NAME, INPUT_SHAPE),
        (OUTPUT_NAME, OUTPUT_SHAPE),
        &[
            (keys::CONTRACT_VERSION, CONTRACT_VERSION.to_string()),
            (keys::KIND, "generator".into()),
            (keys::SPECTROGRAM, spectrogram_signature()),
            (keys::NGF, g.ngf().to_string()),
            (keys::EPOCHS, info.epochs.to_string()),
            (keys::DATASET, info.dataset.clone()),
            (keys::NAME, info.name.clone()),
        ],
    )
}

impl Graph {
    /// The model's bytes: the last node writes the graph's one output, opset 17, with
    /// `metadata` as `metadata_props`.
    pub(crate) fn model(
        mut self,
        name: &str,
        (input, input_shape): (&str, [i64; 4]),
        (output, output_shape): (&str, [i64; 4]),
        metadata: &[(&str, String)],
    ) -> Vec<u8> {
        let last = self.nodes.last_mut().expect("nodes");
        last.output = vec![output.into()];
        let model = onnx::ModelProto {
            ir_version: IR_VERSION,
            producer_name: format!("mvgen {}", env!("CARGO_PKG_VERSION")),
            graph: Some(onnx::GraphProto {
                node: self.nodes,
                name: name.into(),
                initializer: self.initializers,
                input: vec![value(input, input_shape)],
                output: vec![value(output, output_shape)],
            }),
            opset_import: vec![onnx::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            metadata_props: metadata
                .iter()
                .map(|(key, value)| onnx::StringStringEntryProto {
                    key: (*key).into(),
                    value: value.clone(),
                })
                .collect(),
        };
        model.encode_to_vec()
    }
}

/// The largest difference between burn's forward pass and ONNX Runtime's (CPU) on the
/// model at `path`, over `inputs`.
pub fn parity(
    g: &Generator,
    path: &Path,
    inputs: &[mvgen_core::SpectrogramWindow],
) -> anyhow::Result<f32> {
    let config = mvgen_runtime::RuntimeConfig {
        execution: mvgen_runtime::Execution::Cpu,
        ..Default::default()
    };
    let mut onnx = mvgen_runtime::Generator::load(path, &config)
        .with_context(|| format!("loading the export {} in ONNX Runtime", path.display()))?;
    let device = Device::flex();
    let g = g.valid().to_device(&device);
    let mut frame = mvgen_core::Frame::default();
    let mut worst = 0f32;
    for window in inputs {
        onnx.run(window, &mut frame)?;
        let x = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(
                window.pixels().to_vec(),
                INPUT_SHAPE.map(|d| d as usize),
            ),
            &device,
        );
        let ours: Vec<f32> = g
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 frame");
        for (a, b) in ours.iter().zip(frame.planes()) {
            worst = worst.max((a - b).abs());
        }
    }
    Ok(worst)
}

/// Write `g` to `out` and check it in ONNX Runtime. Returns the parity measured.
pub fn export(
    g: &Generator,
    info: &ExportInfo,
    out: &Path,
    inputs: &[mvgen_core::SpectrogramWindow],
) -> anyhow::Result<f32> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::files::write_atomic(out, &to_onnx(g, info))?;
    let worst = parity(g, out, inputs)?;
    ensure!(
        worst <= PARITY_TOLERANCE,
        "the export differs from the trained network by {worst} (limit {PARITY_TOLERANCE}): not usable"
    );
    Ok(worst)
}

/// The generator in an ONNX file that `to_onnx` wrote (an mvgen look's): its weights
/// read back by their names into a `Generator`. Fine-tuning a look starts here; its
/// discriminator is not in the file and starts fresh.
pub fn from_onnx(path: &Path, device: &Device) -> anyhow::Result<Generator> {
    let (info, bytes) = mvgen_core::model::read(path, &mvgen_core::model::GENERATOR)
        .with_context(|| format!("{}", path.display()))?;
    let model = onnx::ModelProto::decode(bytes)?;
    let weights: std::collections::HashMap<&str, &TensorProto> = model
        .graph
        .as_ref()
        .map(|g| g.initializer.iter().map(|t| (t.name.as_str(), t)).collect())
        .unwrap_or_default();
    let not_ours = || {
        format!(
            "{} is not a generator mvgen exported (its weights are not unet_256's as `mvgen export` names them): a look can only be fine-tuned from mvgen's own",
            path.display()
        )
    };
    let ngf = weights
        .get("down0.weight")
        .and_then(|t| t.dims.first())
        .map(|&d| d as usize)
        .with_context(not_ours)?;
    ensure!(info.ngf.is_none_or(|n| n as usize == ngf), not_ours());
    let mut g = Generator::new(ngf, 0, device);
    let take = |name: String, expected: Vec<usize>| -> anyhow::Result<Vec<f32>> {
        let t = weights.get(name.as_str()).with_context(not_ours)?;
        let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        ensure!(
            t.data_type == onnx::FLOAT
                && dims == expected
                && t.raw_data.len() == 4 * expected.iter().product::<usize>(),
            "{}: the weight {name} is {dims:?}, where ngf {ngf} needs {expected:?}",
            path.display()
        );
        Ok(t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    fn param<const D: usize>(
        values: Vec<f32>,
        like: &burn::module::Param<Tensor<D>>,
        device: &Device,
    ) -> burn::module::Param<Tensor<D>> {
        let shape: [usize; D] = like.dims();
        burn::module::Param::from_tensor(Tensor::from_data(
            burn::tensor::TensorData::new(values, shape),
            device,
        ))
    }
    for (i, c) in g.down.iter_mut().enumerate() {
        c.weight = param(
            take(format!("down{i}.weight"), c.weight.dims().to_vec())?,
            &c.weight,
            device,
        );
    }
    for (j, c) in g.up.iter_mut().enumerate() {
        c.weight = param(
            take(format!("up{j}.weight"), c.weight.dims().to_vec())?,
            &c.weight,
            device,
        );
        if let Some(b) = c.bias.take() {
            c.bias = Some(param(
                take(format!("up{j}.bias"), b.dims().to_vec())?,
                &b,
                device,
            ));
        }
    }
    let down = g.down_norm.iter_mut().enumerate();
    let norms = (down.map(|(i, n)| (format!("down{}.norm", i + 1), n))).chain(
        g.up_norm
            .iter_mut()
            .enumerate()
            .map(|(j, n)| (format!("up{j}.norm"), n)),
    );
    for (name, n) in norms {
        n.gamma = param(
            take(format!("{name}.scale"), n.gamma.dims().to_vec())?,
            &n.gamma,
            device,
        );
        n.beta = param(
            take(format!("{name}.bias"), n.beta.dims().to_vec())?,
            &n.beta,
            device,
        );
    }
    Ok(g)
}

/// `mvgen export`.
pub fn command(a: &crate::cli::ExportArgs) -> anyhow::Result<()> {
    let name = a.name.clone().unwrap_or_else(|| {
        a.run
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "mvgen".into())
    });
    export_run(&a.run, a.epoch, name, &a.output)?;
    Ok(())
}

/// Write the generator of the run in `run` (at a snapshot `epoch`, or its latest
/// checkpoint) to `output` as `name`, checked in ONNX Runtime. Returns the epoch.
pub fn export_run(
    run: &Path,
    epoch: Option<usize>,
    name: String,
    output: &Path,
) -> anyhow::Result<usize> {
    let cfg = crate::train::read_config(run)?;
    let device = Device::flex();
    let (g, epochs) = match epoch {
        Some(epoch) => (
            crate::train::eval::load_snapshot(run, &cfg, epoch, &device)?,
            epoch,
        ),
        None => {
            let ck = crate::train::checkpoint::read(&run.join(crate::train::CHECKPOINT))?
                .with_context(|| format!("{} has no checkpoint yet", run.display()))?;
            let g = crate::train::checkpoint::load_module(
                Generator::new(cfg.ngf, 0, &device),
                ck.generator,
            )?;
            (g, ck.epoch)
        }
    };
    // Check on real inputs where the dataset is at hand.
    let mut inputs: Vec<mvgen_core::SpectrogramWindow> =
        crate::train::load_split(&cfg.dataset, "val", Some(4))
            .unwrap_or_default()
            .iter()
            .filter_map(|e| mvgen_core::SpectrogramWindow::from_gray8(&e.gray))
            .collect();
    inputs.push(mvgen_core::SpectrogramWindow::default());
    let info = ExportInfo {
        name,
        epochs,
        dataset: cfg.dataset_name.clone(),
    };
    let worst = export(&g, &info, output, &inputs)?;
    eprintln!(
        "{} (ngf {}, epoch {epochs}) -> {}: ONNX Runtime matches burn within {worst:.1e} on {} inputs",
        info.name,
        cfg.ngf,
        output.display(),
        inputs.len()
    );
    Ok(epochs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvgen_core::SpectrogramWindow;

    fn inputs() -> Vec<SpectrogramWindow> {
        // A swept pattern and a flat one: structure and the silence floor.
        let swept: Vec<f32> = (0..256 * 256)
            .map(|i| {
                (((i % 256) as f32 * 0.05).sin() * ((i / 256) as f32 * 0.03).cos()).clamp(-1.0, 1.0)
            })
            .collect();
        vec![
            SpectrogramWindow::from_pixels(&swept).unwrap(),
            SpectrogramWindow::default(),
        ]
    }

    /// burn's forward pass and ONNX Runtime's agree for every generator size we ship.
    #[test]
    fn export_matches_burn_for_each_ngf() {
        let dir = std::env::temp_dir().join(format!("mvgen-export-{}", std::process::id()));
        for ngf in [16, 32, 64] {
            let g = Generator::new(ngf, ngf as u64, &Device::flex());
            let info = ExportInfo {
                name: format!("parity-{ngf}"),
                epochs: 0,
                dataset: "none".into(),
            };
            let path = dir.join(format!("g{ngf}.onnx"));
            let worst = export(&g, &info, &path, &inputs()).unwrap();
            assert!(worst <= PARITY_TOLERANCE, "ngf {ngf}: {worst}");
            let meta = mvgen_core::model::inspect(&path).unwrap();
            assert_eq!(meta.ngf, Some(ngf as u32));
            assert_eq!(meta.name.as_deref(), Some(info.name.as_str()));
            assert!(!meta.is_foreign());
            eprintln!("ngf {ngf}: max |burn - onnx| = {worst:e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The default look read back into burn makes the frames ONNX Runtime makes from the
    /// file, and exports to the same weights: fine-tuning starts from the look itself.
    #[test]
    fn a_look_reads_back_into_the_network_it_was_exported_from() {
        let path = mvgen_default_model::path().unwrap();
        let g = from_onnx(&path, &Device::flex()).unwrap();
        assert_eq!(g.ngf(), 16);
        let worst = parity(&g, &path, &inputs()).unwrap();
        assert!(worst <= PARITY_TOLERANCE, "{worst}");
        let weights = |bytes: &[u8]| -> Vec<(String, Vec<u8>)> {
            let m = onnx::ModelProto::decode(bytes).unwrap();
            let mut w: Vec<_> = m
                .graph
                .unwrap()
                .initializer
                .into_iter()
                .map(|t| (t.name, t.raw_data.to_vec()))
                .collect();
            w.sort();
            w
        };
        let info = ExportInfo {
            name: "again".into(),
            epochs: 0,
            dataset: "none".into(),
        };
        assert_eq!(
            weights(&to_onnx(&g, &info)),
            weights(mvgen_default_model::ONNX)
        );
        // A generator of another make is refused with the reason.
        let dir = std::env::temp_dir().join(format!("mvgen-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let enhancer = dir.join("enhancer.onnx");
        std::fs::write(&enhancer, mvgen_default_model::ENHANCER).unwrap();
        assert!(from_onnx(&enhancer, &Device::flex()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
