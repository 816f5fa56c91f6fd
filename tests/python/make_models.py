"""Builds the ONNX generators the tests use, with the `onnx` package and seeded random
weights. Nothing here is a trained model: these check loading, running, refusing and
timing, not looks.

    python make_models.py OUT_DIR [--bench]

- `tiny.onnx`: a two-layer generator with mvgen's metadata.
- `unet256_ngf8.onnx`: pix2pix's `unet_256` as `torch.onnx.export` writes it in eval mode
  (opset 17; BatchNormalization with running statistics, Dropout folded away), with no
  mvgen metadata: a foreign model that must load.
- `bad_*`: one model per way a file can fail the contract.
- with `--bench`: `unet256_ngf{16,32,64}.onnx` for the runtime benchmark.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SIGNATURE = "fs=44100;window=tukey0.25;nperseg=510;hop=257;samples=66150;db=-120..-10"


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def weight(self, shape, std=0.02):
        name = self.name("w")
        self.inits.append(numpy_helper.from_array((self.rng.standard_normal(shape) * std).astype(np.float32), name))
        return name

    def const(self, values):
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=np.float32), name))
        return name

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, bias):
        ins = [x, self.weight((cout, cin, 4, 4))] + ([self.const(np.zeros(cout))] if bias else [])
        return self.op("Conv", ins, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])

    def deconv(self, x, cin, cout, bias):
        ins = [x, self.weight((cin, cout, 4, 4))] + ([self.const(np.zeros(cout))] if bias else [])
        return self.op("ConvTranspose", ins, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])

    def bn(self, x, c):
        scale = self.const(1.0 + 0.02 * self.rng.standard_normal(c))
        bias = self.const(np.zeros(c))
        mean = self.const(0.01 * self.rng.standard_normal(c))
        var = self.const(1.0 + 0.1 * self.rng.random(c))
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def model(self, x_name, y_name, out_shape=(1, 3, 256, 256), in_shape=(1, 1, 256, 256), metadata=None):
        graph = helper.make_graph(
            self.nodes, "generator",
            [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, list(in_shape))],
            [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, list(out_shape))],
            self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mvgen tests")
        m.ir_version = 8
        for k, v in (metadata or {}).items():
            m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
        return m


def mvgen_metadata(**over):
    meta = {"mvgen.contract_version": 1, "mvgen.spectrogram": SIGNATURE, "mvgen.ngf": 4,
            "mvgen.epochs": 0, "mvgen.dataset": "none (random weights)", "mvgen.name": "test tiny"}
    meta.update(over)
    return meta


def tiny(seed=1, **meta):
    g = Graph(seed)
    h = g.op("LeakyRelu", [g.conv("spectrogram", 1, 8, True)], alpha=0.2)
    y = g.op("Tanh", [g.deconv(h, 8, 3, True)])
    return g, y


def unet256(ngf, seed=0):
    """pix2pix unet_256 (eval export): see shared/anchors/pix2pix_torch.py."""
    g = Graph(seed)

    def block(x, outer, inner, level, in_nc=None):
        in_nc = in_nc or outer
        if level == 0:  # outermost
            d = g.conv(x, in_nc, inner, bias=False)
            s = sub(d, inner, level)
            return g.op("Tanh", [g.deconv(g.op("Relu", [s]), inner * 2, outer, bias=True)])
        h = g.op("LeakyRelu", [x], alpha=0.2)
        d = g.conv(h, outer, inner, bias=False)
        if level == 7:  # innermost
            u = g.bn(g.deconv(g.op("Relu", [d]), inner, outer, bias=False), outer)
        else:
            s = sub(g.bn(d, inner), inner, level)
            u = g.bn(g.deconv(g.op("Relu", [s]), inner * 2, outer, bias=False), outer)
        return g.op("Concat", [x, u], axis=1)

    widths = [ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8, ngf * 8, ngf * 8, ngf * 8]

    def sub(x, channels, level):
        return block(x, channels, widths[level + 1], level + 1)

    y = block("spectrogram", 3, ngf, 0, in_nc=1)
    return g, y


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main(out, bench=False):
    os.makedirs(out, exist_ok=True)
    g, y = tiny()
    save(g.model("spectrogram", y, metadata=mvgen_metadata()), f"{out}/tiny.onnx")
    g, y = unet256(8)
    save(g.model("spectrogram", y), f"{out}/unet256_ngf8.onnx")
    if bench:
        for ngf in (16, 32, 64):
            g, y = unet256(ngf)
            save(g.model("spectrogram", y), f"{out}/unet256_ngf{ngf}.onnx")

    # Bad models: each fails the contract in one way.
    g, y = tiny()
    save(g.model("spectrogram", y, metadata=mvgen_metadata(**{"mvgen.contract_version": 99})), f"{out}/bad_contract.onnx")
    g, y = tiny()
    save(g.model("spectrogram", y, metadata=mvgen_metadata(**{"mvgen.spectrogram": "fs=22050"})), f"{out}/bad_spectrogram.onnx")
    g = Graph(2)
    h = g.op("LeakyRelu", [g.conv("spectrogram", 3, 8, True)], alpha=0.2)
    y = g.op("Tanh", [g.deconv(h, 8, 3, True)])
    save(g.model("spectrogram", y, in_shape=(1, 3, 256, 256)), f"{out}/bad_input_shape.onnx")
    g = Graph(3)
    y = g.op("Tanh", [g.conv("spectrogram", 1, 3, True)])
    save(g.model("spectrogram", y, out_shape=(1, 3, 128, 128)), f"{out}/bad_output_shape.onnx")
    # log(-1 - |x|) is NaN everywhere.
    g, y = tiny()
    y = g.op("Log", [g.op("Sub", [g.const(-1.0), g.op("Abs", [y])])])
    save(g.model("spectrogram", y, metadata=mvgen_metadata()), f"{out}/bad_nan.onnx")
    # Weights stored "outside" the model's folder.
    g, y = tiny()
    m = g.model("spectrogram", y, metadata=mvgen_metadata())
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.append(onnx.StringStringEntryProto(key="location", value="../../../../etc/passwd"))
    onnx.save(m, f"{out}/bad_external.onnx")
    with open(f"{out}/bad_not_onnx.onnx", "wb") as f:
        f.write(np.random.default_rng(4).bytes(4096))
    # Over the size limit without using the disk: a sparse file.
    with open(f"{out}/bad_too_large.onnx", "wb") as f:
        f.truncate((1 << 30) + 1)


if __name__ == "__main__":
    main(sys.argv[1], bench="--bench" in sys.argv)
