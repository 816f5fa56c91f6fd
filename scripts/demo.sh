#!/usr/bin/env bash
# The main job on a fresh machine: install what rendering needs (ffmpeg, ONNX Runtime),
# build and install the release plugin bundles where Linux DAWs look (~/.clap, ~/.vst3)
# and the `mvgen` command line (~/.local/bin, with its ONNX Runtime and the shipped looks in
# ~/.local/lib/mvgen),
# then render 20 s of a real song the default model never saw to a 1080p 16:9 music video.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --render
echo "== building the release bundles"
cargo xtask bundle mvgen-plugin --release
mkdir -p ~/.clap ~/.vst3
rm -rf ~/.vst3/MVGen.vst3 ~/.clap/mvgen-libs
cp target/bundled/MVGen.clap ~/.clap/
cp -r target/bundled/mvgen-libs ~/.clap/
cp -r target/bundled/MVGen.vst3 ~/.vst3/
echo "installed ~/.clap/MVGen.clap (with ~/.clap/mvgen-libs) and ~/.vst3/MVGen.vst3"

echo "== building mvgen"
cargo build --release -p mvgen
mkdir -p ~/.local/bin ~/.local/lib/mvgen
install -m 755 target/release/mvgen ~/.local/bin/mvgen
cp .deps/onnxruntime/*.so* ~/.local/lib/mvgen/
rm -rf ~/.local/lib/mvgen/looks
[ -d looks ] && cp -r looks ~/.local/lib/mvgen/looks   # the shipped looks (mvgen look list)
echo "installed ~/.local/bin/mvgen (with ~/.local/lib/mvgen: ONNX Runtime and the shipped looks)"

mkdir -p demo
song=assets/demo/xeon-excerpt.ogg   # "xeon" by bart, CC BY-SA 3.0: assets/demo/README.md
~/.local/bin/mvgen spectrogram "$song" --at 10.0 -o demo/demo-spectrogram.png
~/.local/bin/mvgen render "$song" -o demo/demo-video.mp4 --size 1080p --aspect 16:9 --smoothing 0.3
echo "wrote $PWD/demo/demo-video.mp4: 20 s of \"xeon\" (by bart, CC BY-SA 3.0; see"
echo "assets/demo/README.md) at 1920x1080, with the embedded default model, which never heard it"
echo "and $PWD/demo/demo-spectrogram.png (what the model sees 10 s in)"
