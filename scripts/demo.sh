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
# 24 seconds of demo music in four sections of 6 s, so the reaction shows: a dark pad;
# the pad with a kick; a bright lead, hi-hats and the kick (the drop); the lead alone.
pad='(0.5-0.1*floor(t/6))*(0.3*sin(2*PI*110*t)+0.2*sin(2*PI*164.8*t)+0.15*sin(2*PI*220*t))'
kick='between(t,6,18)*0.7*sin(2*PI*(50+100*exp(-30*mod(t,0.5)))*t)*exp(-10*mod(t,0.5))'
lead='gte(t,12)*(0.5-0.25*gte(t,18))*(0.2*sin(2*PI*880*t)+0.12*sin(2*PI*1320*t)+0.1*sin(2*PI*2640*t))*(0.6+0.4*sin(2*PI*4*t))'
hat='between(t,12,18)*0.25*(random(0)-0.5)*exp(-50*mod(t+0.25,0.5))'
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "aevalsrc='$pad+$kick+$lead+$hat':s=44100:d=24" demo/demo-song.wav
target/release/mvgen spectrogram demo/demo-song.wav --at 14.0 -o demo/demo-spectrogram.png
target/release/mvgen render demo/demo-song.wav -o demo/demo-video.mp4 --smoothing 0.3
echo "wrote $PWD/demo/demo-video.mp4 (the embedded default model; the music changes every 6 s)"
echo "and $PWD/demo/demo-spectrogram.png (what the model sees 14 s in, during the drop)"
