#!/usr/bin/env bash
# Builds the tsnet node image offline, from this checkout's build (npm run build) and the build
# host's Node and libraries: no registry pull, no Dockerfile. image/rootfs.mjs assembles the root
# filesystem; `docker import` or `podman import` makes it an image.
#
# Usage: deploy/kubernetes/build-image.sh [--runtime docker|podman] [--tag NAME:TAG] [--rootfs-tar FILE]
#   --runtime     which runtime imports it (default: docker when `docker info` answers, else podman)
#   --tag         image name (default tsnet:VERSION, VERSION from core/package.json, as the
#                 DaemonSet names it; the release hash is in the image's /opt/tsnet/RELEASE-ID)
#   --rootfs-tar  only write the root filesystem tarball to FILE (no runtime needed)
# Needs: node, patchelf, busybox-static, nftables, iptables (scripts/install-deps.sh installs them).
# Prints the image name and the release on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runtime=""
tag=""
rootfs_tar=""
while (($# > 0)); do
  case "$1" in
    --runtime) runtime=${2:?--runtime needs docker or podman}; shift 2 ;;
    --tag) tag=${2:?--tag needs NAME:TAG}; shift 2 ;;
    --rootfs-tar) rootfs_tar=${2:?--rootfs-tar needs a file}; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
version=$(node -p "require('$repo/core/package.json').version")
tag=${tag:-tsnet:$version}
if [[ -z "$rootfs_tar" && -z "$runtime" ]]; then
  if docker info >/dev/null 2>&1; then runtime=docker; elif command -v podman >/dev/null; then runtime=podman; else
    echo "build-image.sh: neither dockerd (docker info) nor podman answers; use --rootfs-tar FILE" >&2; exit 1
  fi
fi
case "$runtime" in "" | docker | podman) ;; *) echo "build-image.sh: --runtime must be docker or podman" >&2; exit 2 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
release=$(node "$here/image/rootfs.mjs" "$work/rootfs")
tar=${rootfs_tar:-$work/rootfs.tar}
tar --numeric-owner --owner=0 --group=0 -C "$work/rootfs" -cf "$tar" .
if [[ -n "$rootfs_tar" ]]; then
  echo "rootfs $rootfs_tar"
  echo "release $release"
  exit 0
fi
"$runtime" import \
  --change "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV TSNET_WORKER=0" \
  --change "ENV XTABLES_LIBDIR=/opt/tsnet/$release/lib/xtables" \
  --change "ENV TSNET_RELEASE=$release" \
  --change 'CMD ["tsnet", "--help"]' \
  "$tar" "$tag" >/dev/null
echo "image $tag"
echo "release $release"
