#!/usr/bin/env bash
# Builds cnitool (a real libcni client) from Debian's source package golang-github-appc-cni
# (containernetworking/cni 1.1.2) with Debian's Go, in GOPATH mode, and prints its path.
# Idempotent: the binary is cached under CACHE (default node_modules/.cache/tsnet-cnitool) and
# reused while it answers. apt runs with a private deb-src list, lists and cache dirs:
# /etc/apt and the system's package lists are never touched.
# Needs golang-go and dpkg-dev (scripts/install-deps.sh). Usage: build-cnitool.sh [CACHE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${TSNET_CNITOOL_CACHE:-$root/node_modules/.cache/tsnet-cnitool}}
bin=$cache/bin/cnitool
pkg=golang-github-appc-cni
if [ -x "$bin" ] && "$bin" 2>&1 | grep -q 'cnitool: Add, check, or remove'; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-cnitool: go not found: install golang-go (scripts/install-deps.sh)" >&2; exit 1; }
command -v dpkg-source >/dev/null || { echo "build-cnitool: dpkg-source not found: install dpkg-dev (scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/apt/parts" "$cache/src" "$cache/bin"
list=$cache/apt/sources.list
echo 'deb-src http://deb.debian.org/debian bookworm main' >"$list"
apt_opts=(
  -o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=$cache/apt/parts"
  -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
)
srcdir=$(find "$cache/src" -maxdepth 1 -type d -name "$pkg-*" | head -n1)
if [ -z "$srcdir" ]; then
  apt-get "${apt_opts[@]}" -qq update >&2
  (cd "$cache/src" && apt-get "${apt_opts[@]}" -qq source "$pkg" >&2)
  srcdir=$(find "$cache/src" -maxdepth 1 -type d -name "$pkg-*" | head -n1)
  [ -n "$srcdir" ] || { echo "build-cnitool: apt-get source $pkg unpacked nothing in $cache/src" >&2; exit 1; }
fi
# GOPATH mode: the source tree appears as github.com/containernetworking/cni in a private GOPATH.
gopath=$cache/gopath
mkdir -p "$gopath/src/github.com/containernetworking"
ln -sfn "$srcdir" "$gopath/src/github.com/containernetworking/cni"
(
  cd "$gopath/src/github.com/containernetworking/cni/cnitool"
  GOPATH=$gopath GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE=$cache/gocache go build -o "$bin.tmp" .
)
mv -f "$bin.tmp" "$bin"
echo "$bin"
