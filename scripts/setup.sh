#!/usr/bin/env bash
# Installs the Debian packages tapflow needs (Debian 12), then builds it.
# Usage: scripts/setup.sh [--test] [--no-build]   (as root, or as a user who may sudo: it asks sudo
# only when not root)
#   default: what building and running the probe needs (compiler, cmake, libpcap, the libraries);
#            the tests are left out of the build (no GoogleTest).
#   --test:  also what the tests, the fuzz targets and the benchmarks use (GoogleTest, Google
#            Benchmark, nfdump, tshark, libfixbuf-tools, pmacct, softflowd, tcpreplay, clang-14 and
#            libFuzzer), and the build then includes the tests. scripts/test.sh runs this itself.
# TAPFLOW_VM_TESTS=1 also installs what tests/vm needs (qemu and busybox-static) and unpacks Debian's
# kernel package into build-vm/ (dpkg-deb -x: no install, no initramfs generation; ~10 s), so the
# SCTP round trip runs under qemu even where the host kernel has no SCTP.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
build=1
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1 ;;
    --no-build) build=0 ;;
    *) echo "setup: unknown argument '$arg' (usage: scripts/setup.sh [--test] [--no-build])" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config python3
  libpcap-dev libboost-dev libfmt-dev libcli11-dev nlohmann-json3-dev libsctp-dev libtomlplusplus-dev libdpdk-dev libssl-dev
)
if [ "$with_tests" = 1 ]; then
  packages+=(
    libgtest-dev libgmock-dev libbenchmark-dev
    nfdump tshark libfixbuf-tools pmacct softflowd tcpreplay time
    clang-14 libfuzzer-14-dev libclang-rt-14-dev
  )
fi
if [ "${TAPFLOW_VM_TESTS:-0}" = 1 ]; then
  packages+=(qemu-system-x86 busybox-static zstd)
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

if [ "${TAPFLOW_VM_TESTS:-0}" = 1 ] && ! ls build-vm/boot/vmlinuz-* >/dev/null 2>&1; then
  kernel_package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
  echo "setup: unpacking $kernel_package into build-vm/ for tests/vm"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt downloads as _apt
  (cd "$tmp" && apt-get download "$kernel_package" >/dev/null)
  mkdir -p build-vm
  dpkg-deb -x "$tmp"/*.deb build-vm
  rm -rf "$tmp"
fi

if [ "$build" = 1 ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TAPFLOW_CMAKE_ARGS:-}
  cmake --build build -j"$(nproc)"
fi
