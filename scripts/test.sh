#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, build the debug bundles (with
# assert_process_allocs), run the Rust tests, then the host tests in Python.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# A fresh clone gains nothing from incremental compilation but gigabytes of its caches on
# disk (a CI run once ran out of disk). Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "== build the tests and the debug bundles (allocation checks on the audio thread)"
# One cargo build for both: built alone, the plugin resolves its dependencies' features
# apart from the workspace's, and cargo test would build wgpu, egui, ONNX Runtime's
# bindings and the rest a second time. nice-plug-xtask passes the flags on to its cargo
# build; --lib makes cargo put the plugin's library where the bundler looks for it.
# mvgen/torch: the trainer's libtorch backend is tested too.
cargo xtask bundle mvgen-plugin --workspace --lib --tests --features mvgen/torch
echo "== cargo test"
cargo test --workspace --features mvgen/torch
echo "== host tests (pedalboard, dawdreamer, scipy)"
.venv/bin/python -m pytest -q tests/python
