#!/run/vm/busybox sh
# Stage 2 of the test VM, in the switched root (the host's files under a tmpfs overlay): mounts
# the kernel file systems, loads the network kinds, runs /run/vm/out/cmd with the host's shell
# and writes its output, exit code and timings to the out share, then powers off. The command
# finds the share (and whatever the host put there) at $TSNET_VM_OUT.
BB=/run/vm/busybox
OUT=/run/vm/out
$BB mount -t proc proc /proc
$BB cut -d' ' -f1 /proc/uptime > $OUT/boot-seconds
$BB mount -t sysfs sys /sys
$BB mount -t devtmpfs dev /dev
$BB mkdir -p /dev/pts /dev/shm /run/netns
$BB mount -t devpts devpts /dev/pts
$BB mount -t tmpfs tmpfs /dev/shm
$BB mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
$BB mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# The kernel's module autoload (ip link add type X, nft) goes through busybox modprobe.
echo /run/vm/modprobe > /proc/sys/kernel/modprobe
$BB modprobe -a ipvlan 8021q vrf dummy macvlan veth bridge tun nf_tables 2> $OUT/modprobe.err
$BB hostname tsnet-vm
$BB ip link set lo up
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TSNET_IN_VM=1 TSNET_VM_OUT=$OUT
cd /
/bin/sh $OUT/cmd > $OUT/output 2>&1
echo $? > $OUT/rc.tmp
$BB cut -d' ' -f1 /proc/uptime > $OUT/end-seconds
$BB mv $OUT/rc.tmp $OUT/rc
$BB sync
$BB poweroff -f
