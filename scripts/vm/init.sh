#!/bin/busybox sh
# /init of the test VM's initramfs (stage 1). Loads virtio/9p/overlay, mounts the host's / (9p,
# read-only) under a tmpfs overlay, binds the unpacked kernel modules on /lib/modules, mounts the
# writable "out" share on /run/vm/out and switch_roots into the overlay to run stage2.sh.
# Any failure is written to the out share (if it is mounted) and the VM powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs dev /dev
mount -t sysfs sys /sys
fail() {
  echo "tsnet-vm init: $*" >&2
  [ -d /out/. ] && mountpoint -q /out && { echo "init: $*" > /out/error; sync; }
  poweroff -f
}
for a in $(cat /proc/cmdline); do case $a in tsnet.cache=*) CACHE=${a#*=} ;; esac; done
VER=$(uname -r)
modprobe -a virtio_pci 9pnet_virtio 9p overlay || fail "modprobe of the boot modules failed"
mkdir -p /host /out /rw /newroot
# Uncached, so what the command writes reaches the host even if the VM is killed.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out || fail "mount of the out share failed"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host || fail "mount of hostroot failed"
mount -t tmpfs -o mode=0755 tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
# The host's /run (its netns files, sockets) must not show through. /tmp does (a checkout there
# must stay visible); what the VM writes anywhere lands in the tmpfs upper layer.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/vm/out /newroot/usr/lib/modules/$VER
mount --move /out /newroot/run/vm/out
mount --bind "/host$CACHE/root/lib/modules/$VER" /newroot/usr/lib/modules/$VER || fail "bind of the modules from $CACHE failed"
cp /bin/busybox /stage2.sh /newroot/run/vm/
ln -s busybox /newroot/run/vm/modprobe
exec switch_root /newroot /run/vm/busybox sh /run/vm/stage2.sh
