#!/usr/bin/env bash
# The stage's cost and latency, and what a stage costs the plugin, on Xorg's dummy driver
# with two monitors at 1920x1080 (60 Hz), drawn by whatever wgpu finds (lavapipe here).
# Runs as root (Xorg). Build first: cargo build -p mvgen -p mvgen-tests --bins && cargo
# xtask bundle mvgen-plugin (debug builds: the numbers say so).
#
#   scripts/bench/stage.sh            # prints the numbers for BENCHMARKS.md
#   STAGE_ARGS="--enhance always" scripts/bench/stage.sh   # with the look's enhancer on the CPU
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/mvgen-stage-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
sed -e 's/1280x720/1920x1080/g' \
    -e 's/Modeline "1920x1080" .*/Modeline "1920x1080" 148.50 1920 2008 2052 2200 1080 1084 1089 1125 +hsync +vsync/' \
    -e 's/Virtual 2560 720/Virtual 3840 1080/' tests/stage/two-monitors.conf > "$work/xorg.conf"
display=:$((150 + RANDOM % 50))
Xorg "$display" -config "$work/xorg.conf" -noreset -nolisten tcp -logfile "$work/xorg.log" >/dev/null 2>&1 &
sleep 3
export DISPLAY=$display MVGEN_FEED_DIR="$work/feed"
mkdir -m 700 "$MVGEN_FEED_DIR"
# CPU seconds (user + system) a process used so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
target/debug/clap-play target/bundled/MVGen.clap Drums 120 1 < <(sleep 130) > /dev/null 2> "$work/daw.log" &
daw=$!
sleep 8
a=$(cpu $daw); sleep 20; b=$(cpu $daw)
echo "DAW with MVGen, no stage: $(echo "($b - $a) / 20 * 100" | bc -l | xargs printf '%.0f')% of a core"
target/debug/mvgen stage --monitor 1 --fullscreen --stats ${STAGE_ARGS:-} 2> "$work/stage.log" &
stage=$!
sleep 8
a=$(cpu $daw); s=$(cpu $stage); sleep 20; b=$(cpu $daw); t=$(cpu $stage)
echo "DAW with MVGen, a stage watching: $(echo "($b - $a) / 20 * 100" | bc -l | xargs printf '%.0f')% of a core"
echo "the stage, fullscreen 1920x1080: $(echo "($t - $s) / 20 * 100" | bc -l | xargs printf '%.0f')% of a core"
grep '^stage:' "$work/stage.log" | tail -3
# A frozen stage (stopped, as a hung process is) stops renewing its watch: the plugin's
# live inference ends within the watch's reach, and the stage costs it nothing.
kill -STOP $stage
sleep 3
a=$(cpu $daw); sleep 20; b=$(cpu $daw)
echo "DAW with MVGen, the stage frozen (SIGSTOP): $(echo "($b - $a) / 20 * 100" | bc -l | xargs printf '%.0f')% of a core"
kill -CONT $stage
sleep 5
# What the second monitor shows, at full size.
ffmpeg -v error -y -f x11grab -video_size 1920x1080 -i "$DISPLAY+1920,0" -frames:v 1 \
  "${STAGE_SHOT:-/tmp/mvgen-stage-1080p.png}"
echo "screenshot: ${STAGE_SHOT:-/tmp/mvgen-stage-1080p.png}"
