#!/usr/bin/env bash
# Installs every Debian package tapflow's build, tests and benchmarks need (Debian 12), then builds.
# Usage: sudo scripts/setup.sh [--no-build]
# TAPFLOW_VM_TESTS=1 also installs what tests/vm needs (qemu, a Debian kernel, busybox-static): about
# 70 MB to download but ~500 MB on disk and several minutes to unpack (the kernel's modules and its
# initramfs), too heavy for every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git python3
  libpcap-dev libboost-dev libfmt-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libsctp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nfdump tshark libfixbuf-tools pmacct softflowd tcpreplay
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
)
if [ "${TAPFLOW_VM_TESTS:-0}" = 1 ]; then
  packages+=(qemu-system-x86 linux-image-amd64 busybox-static)
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | "${sudo_cmd[@]}" debconf-set-selections
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" != "--no-build" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TAPFLOW_CMAKE_ARGS:-}
  cmake --build build -j"$(nproc)"
fi
