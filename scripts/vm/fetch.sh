#!/usr/bin/env bash
# Fetches what the test VM needs into a cache dir and unpacks it there (dpkg-deb -x): Debian's
# kernel with its modules, qemu-system-x86 with the libraries this host lacks, busybox-static.
# Nothing is installed into the host system. Idempotent: a package already unpacked is skipped,
# so a second run downloads nothing. Prints the cache dir.
# Usage: scripts/vm/fetch.sh [CACHE]   (default $TSNET_VM_CACHE or /var/cache/tsnet-vm)
set -euo pipefail
CACHE=${1:-${TSNET_VM_CACHE:-/var/cache/tsnet-vm}}
mkdir -p "$CACHE/debs" "$CACHE/root" "$CACHE/stamps"

ver_of() { local k; k=$(cat "$CACHE/stamps/.kernel"); echo "${k#linux-image-}"; }
if [[ -e $CACHE/stamps/.kernel && -e $CACHE/stamps/.qemu && -e $CACHE/stamps/busybox-static &&
  -e $CACHE/root/lib/modules/$(ver_of)/modules.dep ]]; then
  echo "$CACHE"; exit 0 # all there: no apt call at all
fi

# Packages installed on this host (apt-cache and dpkg-query cost ~1 s each: asked once).
declare -A have=()
while read -r name status; do
  [[ $status == installed ]] && have[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n')
apt-cache show linux-image-amd64 > /dev/null 2>&1 || apt-get update -qq

# The kernel package behind linux-image-amd64, by its exact name (a wildcard pulls every flavour).
kernel_pkg() {
  apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# qemu-system-x86 and, recursively, the Depends this host does not have installed; one
# apt-cache call per level. qemu-system-common is unpacked for its accel modules only (its UI
# libraries are not needed), so its own Depends are not followed.
qemu_pkgs() {
  local level=(qemu-system-x86) next follow d
  declare -A seen=([qemu-system-x86]=1)
  while ((${#level[@]} > 0)); do
    printf '%s\n' "${level[@]}"
    next=() follow=()
    for d in "${level[@]}"; do [[ $d == qemu-system-common ]] || follow+=("$d"); done
    ((${#follow[@]} > 0)) || break
    while read -r d; do
      [[ -n ${seen[$d]:-} || -n ${have[$d]:-} ]] && continue
      seen[$d]=1; next+=("$d")
    done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "${follow[@]}" | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }')
    level=("${next[@]}")
  done
}

fetch() { # PKG...: download (once, in one apt call) and unpack (once) into $CACHE/root
  local p deb missing=()
  for p in "$@"; do
    [[ -e $CACHE/stamps/$p ]] || compgen -G "$CACHE/debs/${p}_*.deb" > /dev/null || missing+=("$p")
  done
  if ((${#missing[@]} > 0)); then
    (cd "$CACHE/debs" && apt-get download -q=2 -o APT::Sandbox::User=root "${missing[@]}") || {
      echo "fetch.sh: apt-get download ${missing[*]} failed; retrying after apt-get update" >&2
      apt-get update -qq && (cd "$CACHE/debs" && apt-get download -q=2 -o APT::Sandbox::User=root "${missing[@]}")
    }
  fi
  for p in "$@"; do
    [[ -e $CACHE/stamps/$p ]] && continue
    deb=$(compgen -G "$CACHE/debs/${p}_*.deb" | head -n1)
    dpkg-deb -x "$deb" "$CACHE/root"
    touch "$CACHE/stamps/$p"
  done
}

if [[ ! -e $CACHE/stamps/.kernel ]]; then
  kpkg=$(kernel_pkg)
  [[ -n $kpkg ]] || { echo "fetch.sh: apt-cache depends linux-image-amd64 names no kernel package" >&2; exit 1; }
  fetch "$kpkg"
  echo "$kpkg" > "$CACHE/stamps/.kernel"
fi
if [[ ! -e $CACHE/stamps/.qemu ]]; then
  mapfile -t qpkgs < <(qemu_pkgs)
  fetch "${qpkgs[@]}"
  printf '%s\n' "${qpkgs[@]}" > "$CACHE/stamps/.qemu"
fi
fetch busybox-static
# The kernel package ships no modules.dep and the host has no kmod.
ver=$(ver_of)
[[ -e $CACHE/root/lib/modules/$ver/modules.dep ]] || "$CACHE/root/bin/busybox" depmod -b "$CACHE/root" "$ver"
echo "$CACHE"
