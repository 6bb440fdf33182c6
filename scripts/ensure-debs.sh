#!/usr/bin/env bash
# Install the Debian packages cmemu needs, only those missing. Safe to re-run.
#   gcc-arm-none-eabi, libnewlib-arm-none-eabi: build our test firmware
#   qemu-system-arm: the reference emulator for parity tests and benchmarks
#   g++, make, python3: the native addon (node-gyp)
#   gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: the Linux guest program (guest/), for the VM
#     peer; qemu-system-aarch64 comes with qemu-system-arm
#   gdb-multiarch: the GDB stub tests drive the real client
#   libcapstone-dev: the disassembler of -d in_asm (its static library is linked into the addon)
#   chromium: the live view (cmemu run --web) is tested in headless Chromium (test/web/)
set -euo pipefail
pkgs=(gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm g++ make python3 gcc-aarch64-linux-gnu libc6-dev-arm64-cross gdb-multiarch libcapstone-dev chromium "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "cmemu: installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "cmemu: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
