#!/bin/sh
# tsnet-write-conflist NETWORK DEST: writes `tsnet cni conflist NETWORK` to DEST atomically.
# The runtime (containerd, CRI-O) watches DEST's directory and may read a file at any moment,
# so the conflist is written to a temporary file in the same directory, whose name libcni never
# loads (a leading dot and no .conf/.conflist/.json extension), flushed, and renamed over DEST:
# a reader sees the old file or the new one, never a part. If DEST already holds exactly these
# bytes nothing is written (no change event, same inode): running it again is a no-op. On any
# failure DEST is left as it was and the temporary file is removed.
set -eu
network=${1:?usage: tsnet-write-conflist NETWORK DEST}
dest=${2:?usage: tsnet-write-conflist NETWORK DEST}
dir=$(dirname "$dest")
base=$(basename "$dest")
mkdir -p "$dir"
tmp=$(mktemp "$dir/.$base.XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
tsnet cni conflist "$network" >"$tmp"
if [ ! -s "$tmp" ]; then
  echo "tsnet-write-conflist: tsnet cni conflist $network printed nothing" >&2
  exit 1
fi
if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
  echo "tsnet-write-conflist: $dest is up to date"
  exit 0
fi
chmod 0644 "$tmp"
sync "$tmp" 2>/dev/null || true
mv -f "$tmp" "$dest"
sync "$dir" 2>/dev/null || true
echo "tsnet-write-conflist: wrote $dest"
