#!/usr/bin/env bash
# The main job on a fresh machine: build the release plugin bundles, install them where
# Linux DAWs look (~/.clap, ~/.vst3), make a demo song, and render it to a music video
# with the embedded default model.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== building the release bundles"
cargo xtask bundle mvgen-plugin --release
mkdir -p ~/.clap ~/.vst3
rm -rf ~/.vst3/MVGen.vst3 ~/.clap/mvgen-libs
cp target/bundled/MVGen.clap ~/.clap/
cp -r target/bundled/mvgen-libs ~/.clap/
cp -r target/bundled/MVGen.vst3 ~/.vst3/
echo "installed ~/.clap/MVGen.clap (with ~/.clap/mvgen-libs) and ~/.vst3/MVGen.vst3"

cargo build --release -p mvgen
mkdir -p demo
# Eight seconds of demo music: a chord progression over a kick and hi-hat pattern.
chord='0.2*sin(2*PI*(220+27*floor(mod(t,8)/2))*t)+0.15*sin(2*PI*(277+31*floor(mod(t,8)/2))*t)'
kick='0.6*sin(2*PI*(55+90*exp(-30*mod(t,0.5)))*t)*exp(-12*mod(t,0.5))'
hat='0.15*(random(0)-0.5)*exp(-60*mod(t+0.25,0.5))'
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "aevalsrc='$chord+$kick+$hat':s=44100:d=8" demo/demo-song.wav
target/release/mvgen spectrogram demo/demo-song.wav --at 4.0 -o demo/demo-spectrogram.png
target/release/mvgen render demo/demo-song.wav -o demo/demo-video.mp4 --smoothing 0.3
echo "wrote demo/demo-video.mp4 (the embedded default model) and demo/demo-spectrogram.png (what it sees 4.0 s in)"
