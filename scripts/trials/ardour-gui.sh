#!/usr/bin/env bash
# A trial as a new user would make it, not a test: Ardour 7's GUI (Debian's) on a virtual
# screen, a session whose track plays a song through MVGen (the bundle in target/bundled,
# with the shipped looks), so that a person or a script can open MVGen's editor, choose a
# look while Ardour plays, and bounce. Leaves Ardour running on DISPLAY :55 and prints what
# to do next; `scripts/trials/ardour-gui.sh stop` ends it.
#   scripts/trials/ardour-gui.sh SONG.ogg
# Needs the test packages (scripts/setup.sh), xdotool and openbox, and a built debug bundle
# (scripts/test.sh, or `cargo xtask bundle mvgen-plugin`). Ardour's own setup from the
# first trial (its wizard, the "None (Dummy)" audio system) is kept at `stop` in
# target/trials/ardour-config and used by the next.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=target/trials/ardour-gui
display=:55
if [ "${1:-}" = stop ]; then
  pkill -f "ardour-7" || true; pkill -f "Xvfb $display" || true
  if [ -d "$work/home/config/ardour7" ]; then
    rm -rf target/trials/ardour-config
    cp -r "$work/home/config/ardour7" target/trials/ardour-config
  fi
  exit 0
fi
song=${1:?usage: scripts/trials/ardour-gui.sh SONG (a file ffmpeg reads)}
rate=48000
rm -rf "$work"; mkdir -p "$work"
work=$(realpath "$work")
home=$work/home
mkdir -p "$home/.vst3" "$home/config" "$home/cache" "$work/exports"
if [ -d target/trials/ardour-config ]; then
  cp -r target/trials/ardour-config "$home/config/ardour7"
fi
chmod -R 755 "$work"
ln -s "$(realpath target/bundled/MVGen.vst3)" "$home/.vst3/MVGen.vst3"
export HOME=$home XDG_CONFIG_HOME=$home/config XDG_CACHE_HOME=$home/cache MVGEN_EXPORT_DIR=$work/exports
LD_LIBRARY_PATH=/usr/lib/ardour7 /usr/lib/ardour7/ardour-vst3-scanner -f "$home/.vst3/MVGen.vst3" | grep "Found Plugin"
ffmpeg -v error -y -i "$song" -ac 2 -ar $rate -c:a pcm_f32le "$work/song.wav"
samples=$(ffprobe -v error -select_streams a:0 -count_packets -show_entries stream=duration_ts -of csv=p=0 "$work/song.wav")
sources=$(ardour7-lua tests/ardour/new_session.lua "$work/session" trial $rate "$samples" | sed -n 's/^SOURCE //p')
# The song goes into the region's two source files (tests/ardour/new_session.lua says why).
i=0
for source in $sources; do
  ffmpeg -v error -y -i "$work/song.wav" -af "pan=mono|c0=c$i" -c:a pcm_f32le "$work/channel.wav"
  .venv/bin/python - "$work/channel.wav" "$source" <<'PY'
import sys, soundfile
data, _ = soundfile.read(sys.argv[1], dtype="float32")
with soundfile.SoundFile(sys.argv[2], "r+") as f:
    f.seek(0)
    f.write(data[: f.frames])
PY
  i=$((i + 1))
done
# Without Composite: with it baseview picks a 32-bit visual that lavapipe leaves blank
# (tests/src/editor_host.rs). A desktop with a GPU has neither problem.
Xvfb $display -screen 0 1920x1080x24 -nolisten tcp -noreset -extension Composite > "$work/x.log" 2>&1 &
sleep 1
export DISPLAY=$display
openbox > "$work/wm.log" 2>&1 &
ardour "$work/session/trial.ardour" > "$work/ardour.log" 2>&1 &
echo "Ardour is starting on DISPLAY=$display (log: $work/ardour.log); exports go to $work/exports"
echo "screenshot: ffmpeg -v error -y -f x11grab -video_size 1920x1080 -i $display -frames:v 1 shot.png"
