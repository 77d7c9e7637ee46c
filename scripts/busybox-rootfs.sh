#!/usr/bin/env bash
# Writes a minimal root filesystem tarball built from Debian's busybox-static: /bin/busybox and
# its applets as relative links. Used to make local images (docker import, podman import),
# never pulled from a registry. Usage: busybox-rootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
"$root/bin/busybox" --install -s "$root/bin"
for l in "$root"/bin/*; do [ -L "$l" ] && ln -sf busybox "$l"; done
tar -C "$root" -cf "$out" .
