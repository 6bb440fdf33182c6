#!/usr/bin/env bash
# Fetch Debian sid's Unicorn 2.1.x binary packages (libunicorn2t64, libunicorn-dev) into a
# project-local prefix, without touching the system's apt configuration. Bookworm ships 2.0.1,
# which has no virtual TLB (see docs/unicorn.md); 2.1.x runs on bookworm (needs glibc >= 2.34).
# Safe to re-run: does nothing when the prefix already holds the library.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix="$here/native/deps/unicorn"
stamp="$prefix/.complete"
if [ -f "$stamp" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/etc"
# The same mirror the system uses, sid suite only, in a private state directory.
uri=$(grep -h -m1 -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
      | grep -v security | head -n1 | awk '{print $2}' || true)
uri=${uri:-http://deb.debian.org/debian}
echo "deb [trusted=yes] $uri sid main" > "$work/etc/sources.list"
aptopts=(-o "Dir::Etc::sourcelist=$work/etc/sources.list" -o "Dir::Etc::sourceparts=-"
         -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::archives=$work/archives"
         -o "Dir::Cache::pkgcache=$work/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$work/srcpkgcache.bin"
         -o "APT::Get::List-Cleanup=0" -o "Acquire::Languages=none")
echo "cmemu: fetching Unicorn 2.1.x from Debian sid ($uri) into native/deps/unicorn" >&2
apt-get "${aptopts[@]}" update -qq >&2
( cd "$work" && apt-get "${aptopts[@]}" download libunicorn2t64 libunicorn-dev >&2 )
rm -rf "$prefix"; mkdir -p "$prefix"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$prefix/root"; done
libdir=$(dirname "$(find "$prefix/root" -name 'libunicorn.so.2*' | head -n1)")
inc=$(find "$prefix/root" -type d -path '*/include/unicorn' | head -n1)
mkdir -p "$prefix/lib" "$prefix/include"
cp -a "$libdir"/libunicorn.* "$prefix/lib/"
cp -a "$inc" "$prefix/include/"
ver=$(ls "$work"/libunicorn2t64_*.deb | sed -E 's/.*_([^_]+)_[^_]+\.deb/\1/')
echo "$ver" > "$prefix/VERSION"
rm -rf "$prefix/root"
touch "$stamp"
echo "cmemu: Unicorn $ver ready in native/deps/unicorn" >&2
