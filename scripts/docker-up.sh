#!/usr/bin/env bash
# Starts dockerd if it is not answering, and makes the image tsnet-busybox:latest with
# `docker import` from a rootfs built here from Debian's busybox-static (no registry pull).
# Idempotent; run as root. Used by the Docker integration tests and the Docker benchmark.
set -euo pipefail
if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup dockerd >/var/log/tsnet-dockerd.log 2>&1 &
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/tsnet-dockerd.log" >&2; tail -20 /var/log/tsnet-dockerd.log >&2; exit 1; }
fi
if ! docker image inspect tsnet-busybox:latest >/dev/null 2>&1; then
  tar=$(mktemp --suffix=.tar)
  trap 'rm -f "$tar"' EXIT
  "$(dirname "$0")/busybox-rootfs.sh" "$tar"
  docker import "$tar" tsnet-busybox:latest >/dev/null
fi
