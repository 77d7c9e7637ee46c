#!/usr/bin/env bash
# Builds the test VM's initramfs from the cache that fetch.sh filled: busybox-static, init.sh,
# stage2.sh and the boot modules (virtio_pci, 9pnet_virtio, 9p, overlay and what they depend on,
# as modules.dep says). Rebuilt only when one of its inputs is newer. Prints its path.
# Usage: scripts/vm/initramfs.sh CACHE
set -euo pipefail
CACHE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ver=$(cat "$CACHE/stamps/.kernel"); ver=${ver#linux-image-}
img=$CACHE/initramfs-$ver.cpio
if [[ -e $img && $img -nt $HERE/init.sh && $img -nt $HERE/stage2.sh && $img -nt $HERE/initramfs.sh ]]; then
  echo "$img"; exit 0
fi
mods=$CACHE/root/lib/modules/$ver
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,proc,sys,dev,lib/modules/$ver}
cp "$CACHE/root/bin/busybox" "$work/bin/busybox"
cp "$HERE/init.sh" "$work/init" && cp "$HERE/stage2.sh" "$work/stage2.sh" && chmod +x "$work/init"
cp "$mods"/modules.{dep,alias,symbols,builtin,order} "$work/lib/modules/$ver/"
for m in virtio_pci 9pnet_virtio 9p overlay; do
  line=$(grep -E "/$m\.ko:" "$mods/modules.dep") || { echo "initramfs.sh: no $m in modules.dep" >&2; exit 1; }
  for f in ${line/:/}; do
    mkdir -p "$work/lib/modules/$ver/$(dirname "$f")" && cp "$mods/$f" "$work/lib/modules/$ver/$f"
  done
done
(cd "$work" && find . | "$CACHE/root/bin/busybox" cpio -o -H newc 2>/dev/null) > "$img.tmp"
mv "$img.tmp" "$img"
echo "$img"
