#!/usr/bin/env bash
# Build cmemu's Linux guest for the QEMU aarch64 ivshmem peer, from Debian packages only:
#   build/linux-guest/Image              Debian bookworm's arm64 kernel (linux-image-*-arm64)
#   build/linux-guest/initramfs.cpio.gz  busybox-static:arm64, the vfio modules from the same
#                                        kernel package, scripts/linux-guest/init, our guest program
#   build/linux-guest/ivshmem-peer       guest/ivshmem-peer.c, static aarch64
# The .debs are fetched once into build/linux-guest/debs with a private apt configuration for
# arm64 (the system's dpkg architectures and apt sources are left alone; the approach of
# scripts/fetch-unicorn.sh). Everything else is rebuilt only when an input changes (a hash of the
# inputs in build/linux-guest/.inputs). `rm -rf build/linux-guest/debs` fetches a newer kernel.
# Needs: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross (scripts/ensure-debs.sh), python3.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out="$here/build/linux-guest"
debs="$out/debs"
mkdir -p "$out"
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-objcopy dpkg-deb apt-get python3; do
  command -v "$tool" >/dev/null || { echo "cmemu: $tool is missing (run scripts/ensure-debs.sh, or make deps)" >&2; exit 1; }
done

# ---- 1. Debian packages (once) ----
if [ ! -f "$debs/.complete" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/etc"
  : > "$work/status"
  uri=$(grep -h -m1 -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -n1 | awk '{print $2}' || true)
  uri=${uri:-http://deb.debian.org/debian}
  echo "deb [trusted=yes arch=arm64] $uri bookworm main" > "$work/etc/sources.list"
  aptopts=(-o "Dir::Etc::sourcelist=$work/etc/sources.list" -o "Dir::Etc::sourceparts=-"
           -o "Dir::State::Lists=$work/lists" -o "Dir::State::status=$work/status"
           -o "Dir::Cache::archives=$work/archives"
           -o "Dir::Cache::pkgcache=$work/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$work/srcpkgcache.bin"
           -o "APT::Get::List-Cleanup=0" -o "Acquire::Languages=none"
           -o "APT::Architecture=arm64" -o "APT::Architectures=arm64"
           -o "APT::Sandbox::User=root")
  echo "cmemu: fetching Debian bookworm arm64 kernel and busybox-static ($uri) into build/linux-guest/debs" >&2
  apt-get "${aptopts[@]}" update -qq >&2
  # The metapackage names the current kernel ABI package (linux-image-6.1.0-NN-arm64).
  kpkg=$(apt-cache "${aptopts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$kpkg" ] || { echo "cmemu: cannot resolve linux-image-arm64 in bookworm" >&2; exit 1; }
  ( cd "$work/archives" && apt-get "${aptopts[@]}" download "$kpkg" busybox-static >&2 )
  rm -rf "$debs"; mkdir -p "$debs"
  mv "$work"/archives/*.deb "$debs/"
  touch "$debs/.complete"
fi
kdeb=$(ls "$debs"/linux-image-*-arm64_*.deb | head -n1)
bdeb=$(ls "$debs"/busybox-static_*.deb | head -n1)

# ---- 2. Rebuild only when an input changed ----
inputs=("$here/scripts/linux-guest/build.sh" "$here/scripts/linux-guest/init" "$here/scripts/linux-guest/mkcpio.py"
        "$here"/guest/*.c "$here"/guest/*.h "$here"/include/*.h)
sum=$( { for f in "${inputs[@]}"; do [ -f "$f" ] && { echo "$f"; cat "$f"; }; done
         basename "$kdeb"; basename "$bdeb"; aarch64-linux-gnu-gcc --version | head -n1; } | sha256sum | cut -c1-64)
if [ -f "$out/.inputs" ] && [ "$(cat "$out/.inputs")" = "$sum" ] \
   && [ -f "$out/Image" ] && [ -f "$out/initramfs.cpio.gz" ]; then
  exit 0
fi
echo "cmemu: building the Linux guest in build/linux-guest" >&2
rm -f "$out/.inputs"

# ---- 3. Our guest program ----
aarch64-linux-gnu-gcc -static -O2 -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation -I"$here/include" -o "$out/ivshmem-peer" "$here/guest/ivshmem-peer.c"

# ---- 4. Kernel and modules ----
x=$(mktemp -d)
trap 'rm -rf "$x" "${work:-}"' EXIT
# Unpacked once per package (the kernel's is 60 MB of xz): build/linux-guest/unpacked/<deb name>.
unpack() {
  local dir="$out/unpacked/$(basename "$1" .deb)"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$out/unpacked"/"$2"_* "$dir"; mkdir -p "$dir"
    dpkg-deb -x "$1" "$dir"; touch "$dir/.complete"
  fi
  ln -sfn "$dir" "$x/$3"
}
unpack "$kdeb" linux-image k
unpack "$bdeb" busybox-static b
kver=$(ls "$x/k/lib/modules" | head -n1)
# Debian's arm64 vmlinuz is an uncompressed arm64 Image (QEMU's -kernel boots it directly).
cp "$x/k/boot/vmlinuz-$kver" "$out/Image"
echo "$kver" > "$out/KERNEL_VERSION"
# The guest needs vfio-pci and what it depends on; the SMMUv3 driver, irqbypass, the PCI host and
# MSI (GICv3 ITS) are built into Debian's kernel (CONFIG_ARM_SMMU_V3=y, ...: checked below).
for opt in CONFIG_ARM_SMMU_V3=y CONFIG_ARM_GIC_V3_ITS_PCI=y CONFIG_PCI_HOST_GENERIC=y CONFIG_EVENTFD=y \
           CONFIG_IRQ_BYPASS_MANAGER=y CONFIG_VFIO=m CONFIG_VFIO_PCI=m CONFIG_VFIO_IOMMU_TYPE1=m; do
  grep -qx "$opt" "$x/k/boot/config-$kver" || { echo "cmemu: kernel $kver lacks $opt (the guest needs it)" >&2; exit 1; }
done
# Resolve module dependencies from each module's own .modinfo (no depmod/kmod on the host), and
# write them in load order.
declare -A path_of
while IFS= read -r ko; do
  name=$(basename "$ko" .ko); path_of[${name//-/_}]=$ko
done < <(find "$x/k/lib/modules/$kver/kernel" -name '*.ko')
order=()
declare -A seen
add_mod() {
  local n=${1//-/_} ko dep
  [ -n "${seen[$n]:-}" ] && return 0
  ko=${path_of[$n]:-}
  [ -n "$ko" ] || { echo "cmemu: module $n not in $kdeb" >&2; exit 1; }
  seen[$n]=1
  aarch64-linux-gnu-objcopy -O binary --only-section=.modinfo "$ko" "$x/modinfo"
  for dep in $(tr '\0' '\n' < "$x/modinfo" | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$dep"; done
  order+=("$n")
}
for m in vfio vfio_iommu_type1 vfio_pci; do add_mod "$m"; done
# vfio_iommu_type1 is loaded by vfio on demand through modprobe; we have none, so load it.

# ---- 5. initramfs ----
spec="$x/spec"
{
  echo "dir /bin 0755"; echo "dir /dev 0755"; echo "dir /proc 0755"; echo "dir /sys 0755"
  echo "dir /tmp 01777"; echo "dir /lib 0755"; echo "dir /lib/modules 0755"
  echo "nod /dev/console 0600 c 5 1"; echo "nod /dev/null 0666 c 1 3"
  echo "file /bin/busybox $x/b/bin/busybox 0755"
  echo "slink /bin/sh busybox 0777"
  echo "file /init $here/scripts/linux-guest/init 0755"
  echo "file /bin/ivshmem-peer $out/ivshmem-peer 0755"
  for n in "${order[@]}"; do echo "file /lib/modules/$n.ko ${path_of[$n]} 0644"; done
} > "$spec"
printf '%s\n' "${order[@]}" > "$x/order"
echo "file /lib/modules/order $x/order 0644" >> "$spec"
python3 "$here/scripts/linux-guest/mkcpio.py" "$out/initramfs.cpio.gz" "$spec"
echo "$sum" > "$out/.inputs"
echo "cmemu: Linux guest ready: kernel $kver, modules: ${order[*]}, initramfs $(stat -c %s "$out/initramfs.cpio.gz") bytes" >&2
