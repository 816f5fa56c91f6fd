#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, build the debug bundles (with
# assert_process_allocs), run the Rust tests, then the host tests in Python.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== bundle (debug: allocation checks on the audio thread)"
cargo xtask bundle mvgen-plugin
echo "== cargo test"
cargo test --workspace
echo "== host tests (pedalboard, dawdreamer, scipy)"
.venv/bin/python -m pytest -q tests/python
