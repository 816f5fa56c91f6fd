#!/usr/bin/env bash
# The pictures of README's "Publishing" section, from the demo song with the embedded
# default model: docs/formats.png (one moment as 16:9 blur, 9:16 mirror and 1:1) and
# docs/enhancer.png (a 400x400 crop at 100 % of a 1080p frame: Lanczos, then the enhancer).
#   scripts/docs-publishing.sh   (after scripts/setup.sh --render)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mvgen
song=assets/demo/xeon-excerpt.ogg
at=10.0   # seconds into the song
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
render() {  # name, then mvgen render options
  local name=$1; shift
  target/release/mvgen render "$song" -o "$out/$name.mp4" "$@" >/dev/null 2>&1
  ffmpeg -v error -y -ss "$at" -i "$out/$name.mp4" -frames:v 1 "$out/$name.png"
}
render wide --size 1080p --aspect 16:9 --fill blur
render tall --size 1080p --aspect 9:16 --fill mirror
render square --size 1080p --aspect 1:1
render lanczos --size 1080p --aspect 16:9 --fill blur --no-enhancer
# Side by side at one height, with white gaps.
ffmpeg -v error -y -i "$out/wide.png" -i "$out/tall.png" -i "$out/square.png" -filter_complex \
  "[0:v]scale=-2:540,pad=iw+16:ih:0:0:white[a];[1:v]scale=-2:540,pad=iw+16:ih:0:0:white[b];\
   [2:v]scale=-2:540[c];[a][b][c]hstack=inputs=3" docs/formats.png
ffmpeg -v error -y -i "$out/lanczos.png" -i "$out/wide.png" -filter_complex \
  "[0:v]crop=400:400:760:340,pad=iw+8:ih:0:0:white[a];[1:v]crop=400:400:760:340[b];[a][b]hstack=inputs=2" \
  docs/enhancer.png
echo "wrote docs/formats.png and docs/enhancer.png"
