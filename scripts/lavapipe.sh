#!/usr/bin/env bash
# Mesa 25's lavapipe (Vulkan on the CPU) unpacked into .deps/mesa, for one test: ONNX
# Runtime's WebGPU provider can run on it (Dawn refuses Debian 12's Mesa 22 lavapipe: it
# lacks shaderSampledImageArrayDynamicIndexing), so the GPU code path (upload, provider,
# read-back) runs in CI without a GPU. It comes from Debian's bookworm-backports, from the
# archive this machine's apt already uses, and touches nothing outside .deps/mesa: the
# system's Mesa, the editor tests' driver, stays as it is.
#
# Use it with: VK_DRIVER_FILES=.deps/mesa/lvp_icd.json
#   LD_LIBRARY_PATH=.deps/mesa/root/usr/lib/x86_64-linux-gnu
#   ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER=1 (ONNX Runtime's own switch for CPU adapters)
set -euo pipefail
cd "$(dirname "$0")/.."

out=.deps/mesa
# Done, unless the checkout moved (the driver file names the library by its full path).
grep -qs "\"$PWD/$out/" "$out/lvp_icd.json" && exit 0
rm -rf "$out"

# The Debian archive apt uses here (deb822 or one-line sources), for its backports suite.
archive=$(awk '/^URIs:/ {uri = $2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == "bookworm") print uri}' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
if [ -z "$archive" ]; then
  archive=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$archive" ] || { echo "lavapipe: no Debian 12 (bookworm) archive in apt's sources" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$out/root"
echo "deb $archive bookworm-backports main" > "$work/sources.list"
apt_options=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=/nonexistent
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root -qq)
echo "setup: fetching Mesa's lavapipe from bookworm-backports into $out"
apt-get "${apt_options[@]}" update
(cd "$work/debs" && apt-get "${apt_options[@]}" download \
  mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports)
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$out/root"; done
lib="$PWD/$out/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
[ -f "$lib" ] || { echo "lavapipe: no libvulkan_lvp.so in the packages" >&2; exit 1; }
icd=$(ls "$out"/root/usr/share/vulkan/icd.d/lvp_icd*.json | head -n 1)
sed "s#\"library_path\": \"[^\"]*\"#\"library_path\": \"$lib\"#" "$icd" > "$out/lvp_icd.json.tmp"
mv "$out/lvp_icd.json.tmp" "$out/lvp_icd.json"
