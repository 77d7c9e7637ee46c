#!/usr/bin/env bash
# Fetches what the test VM needs into a cache dir and unpacks it there (dpkg-deb -x): Debian's
# kernel with its modules, qemu-system-x86 with the libraries this host lacks, busybox-static.
# Nothing is installed into the host system. Idempotent: a package already unpacked is skipped,
# so a second run downloads nothing. Prints the cache dir.
# Usage: scripts/vm/fetch.sh [CACHE]   (default $TSNET_VM_CACHE or /var/cache/tsnet-vm)
set -euo pipefail
CACHE=${1:-${TSNET_VM_CACHE:-/var/cache/tsnet-vm}}
mkdir -p "$CACHE/debs" "$CACHE/root" "$CACHE/stamps"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# The kernel package behind linux-image-amd64, by its exact name (a wildcard pulls every flavour).
kernel_pkg() {
  apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# qemu-system-x86 and, recursively, the Depends this host does not have installed.
qemu_pkgs() {
  local queue=(qemu-system-x86) seen=" " p d
  while ((${#queue[@]} > 0)); do
    p=${queue[0]}; queue=("${queue[@]:1}")
    [[ $seen == *" $p "* ]] && continue
    seen+="$p "; echo "$p"
    # qemu-system-common is unpacked for its accel modules only (its UI libraries are not needed)
    [[ $p == qemu-system-common ]] && continue
    while read -r d; do
      installed "$d" || queue+=("$d")
    done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "$p" | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }')
  done
}

fetch() { # PKG: download (once) and unpack (once) into $CACHE/root
  local p=$1
  [[ -e $CACHE/stamps/$p ]] && return 0
  local deb
  deb=$(ls "$CACHE/debs/${p}_"*.deb 2>/dev/null | head -n1 || true)
  if [[ -z $deb ]]; then
    (cd "$CACHE/debs" && apt-get download -q=2 -o APT::Sandbox::User=root "$p") || {
      echo "fetch.sh: apt-get download $p failed; retrying after apt-get update" >&2
      apt-get update -qq && (cd "$CACHE/debs" && apt-get download -q=2 -o APT::Sandbox::User=root "$p")
    }
    deb=$(ls "$CACHE/debs/${p}_"*.deb | head -n1)
  fi
  dpkg-deb -x "$deb" "$CACHE/root"
  touch "$CACHE/stamps/$p"
}

if [[ ! -e $CACHE/stamps/.kernel ]]; then
  kpkg=$(kernel_pkg)
  [[ -n $kpkg ]] || { echo "fetch.sh: apt-cache depends linux-image-amd64 names no kernel package" >&2; exit 1; }
  fetch "$kpkg"
  echo "$kpkg" > "$CACHE/stamps/.kernel"
fi
if [[ ! -e $CACHE/stamps/.qemu ]]; then
  mapfile -t qpkgs < <(qemu_pkgs)
  for p in "${qpkgs[@]}"; do fetch "$p"; done
  printf '%s\n' "${qpkgs[@]}" > "$CACHE/stamps/.qemu"
fi
fetch busybox-static
# The kernel package ships no modules.dep and the host has no kmod.
ver=$(cat "$CACHE/stamps/.kernel"); ver=${ver#linux-image-}
[[ -e $CACHE/root/lib/modules/$ver/modules.dep ]] || "$CACHE/root/bin/busybox" depmod -b "$CACHE/root" "$ver"
echo "$CACHE"
