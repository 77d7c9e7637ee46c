#!/usr/bin/env bash
# Boots Debian's kernel under qemu (TCG, no network) with the host's / read-only and runs one
# shell command inside; the command sees the host's files under a tmpfs overlay, TSNET_IN_VM=1,
# and the kernel's own modules (ipvlan, 8021q, vrf, dummy, ...). Fetches and builds what it
# needs first (cached). Writes OUT/{output,rc,boot-seconds,end-seconds,console.log} and exits
# with the command's code; 99 when the VM gave no exit code (boot failure, timeout).
# Usage: scripts/vm/run.sh OUT_DIR 'command'   env: TSNET_VM_CACHE, TSNET_VM_MEM (MiB),
#        TSNET_VM_TIMEOUT (seconds, default 600)
set -euo pipefail
OUT=$(mkdir -p "$1" && cd "$1" && pwd); CMD=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${TSNET_VM_CACHE:-/var/cache/tsnet-vm}
mkdir -p "$CACHE"
# One fetch at a time per cache (two test runs may start together on a cold cache).
exec 9> "$CACHE/.lock"
flock 9
t0=$(date +%s.%N)
"$HERE/fetch.sh" "$CACHE" > /dev/null
INITRD=$("$HERE/initramfs.sh" "$CACHE")
flock -u 9
echo "vm: fetch and initramfs $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t0}") s" >&2
ver=$(cat "$CACHE/stamps/.kernel"); ver=${ver#linux-image-}
R=$CACHE/root
rm -f "$OUT"/{output,rc,error,boot-seconds,end-seconds,console.log,modprobe.err}
printf '%s\n' "$CMD" > "$OUT/cmd"
start=$(date +%s.%N)
set +e
LD_LIBRARY_PATH=$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu \
QEMU_MODULE_DIR=$R/usr/lib/x86_64-linux-gnu/qemu \
timeout -k 5 "${TSNET_VM_TIMEOUT:-600}" "$R/usr/bin/qemu-system-x86_64" \
  -L "$R/usr/share/qemu" -L "$R/usr/share/seabios" \
  -accel tcg,thread=multi -cpu max -smp 2 -m "${TSNET_VM_MEM:-2048}" \
  -nographic -no-reboot -nic none -monitor none -serial "file:$OUT/console.log" \
  -kernel "$R/boot/vmlinuz-$ver" -initrd "$INITRD" \
  -append "console=ttyS0 panic=-1 loglevel=4 tsnet.cache=$CACHE" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$OUT,mount_tag=out,security_model=none" \
  > "$OUT/qemu.log" 2>&1
qrc=$?
set -e
end=$(date +%s.%N)
echo "vm: qemu exit $qrc, wall $(awk "BEGIN{printf \"%.1f\", $end-$start}") s; kernel uptime at stage 2 $(cat "$OUT/boot-seconds" 2>/dev/null || echo '?') s, at the command's end $(cat "$OUT/end-seconds" 2>/dev/null || echo '?') s" >&2
if [[ ! -e $OUT/rc ]]; then
  ((qrc == 124)) && echo "vm: timed out after ${TSNET_VM_TIMEOUT:-600} s (TSNET_VM_TIMEOUT)" >&2
  echo "vm: no exit code from the VM (qemu exit $qrc)" >&2
  cat "$OUT/error" "$OUT/qemu.log" >&2 2>/dev/null || true
  tail -n 30 "$OUT/console.log" >&2 2>/dev/null || true
  exit 99
fi
exit "$(cat "$OUT/rc")"
