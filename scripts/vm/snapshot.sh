#!/usr/bin/env bash
# Copies a working tree into DEST for the VM to test one consistent state of it: the files git
# sees (tracked and untracked, not ignored) plus the build outputs the tests run (dist dirs,
# the native launcher), with node_modules linked back (~7 MB, well under a second). Without it
# the VM, reading the live tree through 9p for a minute, catches files others are saving.
# Usage: scripts/vm/snapshot.sh SRC DEST
set -euo pipefail
SRC=$(cd "$1" && pwd); DEST=$2
mkdir -p "$DEST"
cd "$SRC"
git ls-files -z -co --exclude-standard |
  while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
  xargs -0 -r cp -P --parents -t "$DEST"
for d in core/dist worker/dist plugins/dist conformance/dist native/build; do
  [[ -d $d ]] && cp -a --parents "$d" "$DEST"
done
ln -sfn "$SRC/node_modules" "$DEST/node_modules"
