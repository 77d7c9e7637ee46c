#!/bin/sh
# The init container of the tsnet DaemonSet (tsnet-install-cni). In order, so that the runtime
# never sees a conflist whose plugin is not there yet:
#  1. copies this image's release (/opt/tsnet/RELEASE) to the node's /opt/tsnet (mounted at
#     $TSNET_HOST_OPT): into a temporary directory, then renamed, so a release directory on the
#     node is always complete; an existing one is kept as it is. The CNI launchers on the node
#     exec Node from there. Releases other than this one and the one it replaces are removed
#     unless a process still runs from them.
#  2. `tsnet cni install` of $TSNET_CNI_PLUGINS (default: only `tsnet`, the plugin the conflist
#     names; "all" for every plugin, which replaces the node's own bridge, loopback, ...) into
#     $TSNET_CNI_BIN_DIR, each file replaced atomically (core/src/install/launcher.ts).
#  3. with TSNET_CREATE_NETWORK=true, creates the network in the store if it is not there
#     (`network create -d overlay`; another node creating it at the same moment is fine).
#  4. tsnet-write-conflist: the conflist, atomically, only when it changed.
# Every step is idempotent: a restarted init container, or a new pod of the same image, changes
# nothing.
set -eu
: "${TSNET_NETWORK:?TSNET_NETWORK (ConfigMap key network) must name the tsnet network}"
bin_dir=${TSNET_CNI_BIN_DIR:-/host/opt/cni/bin}
net_dir=${TSNET_CNI_NET_DIR:-/host/etc/cni/net.d}
host_opt=${TSNET_HOST_OPT:-/host/opt/tsnet}
conf_name=${TSNET_CNI_CONF_NAME:-10-tsnet.conflist}
plugins=${TSNET_CNI_PLUGINS:-tsnet}
tls_dir=${TSNET_STORE_TLS_DIR:-/etc/tsnet/store}
image_opt=${TSNET_IMAGE_OPT:-/opt/tsnet} # the image's releases (tests point it elsewhere)
export TSNET_WORKER=0
log() { echo "tsnet-install-cni: $*"; }
proc=${TSNET_PROC_DIR:-/proc} # tests point it elsewhere
# Whether any process's command line contains $1.
in_use() {
  for c in "$proc"/[0-9]*/cmdline; do
    [ -r "$c" ] || continue
    case "$(tr '\0' ' ' <"$c" 2>/dev/null)" in *"$1"*) return 0 ;; esac
  done
  return 1
}

case "$conf_name" in
  */* | .* | '') echo "tsnet-install-cni: TSNET_CNI_CONF_NAME must be a file name: $conf_name" >&2; exit 2 ;;
  *.conflist) ;;
  *) echo "tsnet-install-cni: TSNET_CNI_CONF_NAME must end in .conflist: $conf_name" >&2; exit 2 ;;
esac

# 1. The release on the node.
release=$(cat "$image_opt/RELEASE-ID")
mkdir -p "$host_opt"
if [ -d "$host_opt/$release" ]; then
  log "release $release is on the node"
else
  tmp="$host_opt/.$release.tmp.$$"
  rm -rf "$tmp"
  cp -a "$image_opt/$release" "$tmp"
  sync 2>/dev/null || true
  mv -T "$tmp" "$host_opt/$release"
  log "copied release $release to the node"
fi
previous=$(readlink "$host_opt/current" 2>/dev/null || true)
if [ "$previous" != "$release" ]; then
  ln -s "$release" "$host_opt/.current.tmp.$$"
  mv -T -f "$host_opt/.current.tmp.$$" "$host_opt/current"
fi
for d in "$host_opt"/* "$host_opt"/.*.tmp.*; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  name=$(basename "$d")
  [ "$name" = "$release" ] || [ "$name" = "$previous" ] && continue
  # Only what a release looks like, never anything else someone put there, and none a running
  # process still uses (the resolver or an agent started by an older release's plugin: the pod
  # has hostPID, so /proc shows the node's processes).
  if [ -f "$d/core/package.json" ] && [ -e "$d/bin/node" ]; then
    if in_use "/opt/tsnet/$name/"; then
      log "kept old release $name: a process still runs from it"
      continue
    fi
    rm -rf "$d"
    log "removed old release $name"
  fi
done

# 2. The plugins.
set --
if [ "$plugins" != all ]; then
  for p in $(echo "$plugins" | tr ',' ' '); do set -- "$@" --only "$p"; done
fi
tsnet cni install --dir "$bin_dir" "$@" >/dev/null
log "installed CNI plugins ($plugins) into $bin_dir"

# 3. The network.
if [ "${TSNET_CREATE_NETWORK:-false}" = true ]; then
  set -- network create -d "${TSNET_DRIVER:-overlay}"
  [ -n "${TSNET_SUBNET:-}" ] && set -- "$@" --subnet "$TSNET_SUBNET"
  [ -n "${TSNET_HOST_PREFIX:-}" ] && set -- "$@" --host-prefix "$TSNET_HOST_PREFIX"
  [ -n "${TSNET_VNI:-}" ] && set -- "$@" --vni "$TSNET_VNI"
  [ -n "${TSNET_MTU:-}" ] && set -- "$@" --mtu "$TSNET_MTU"
  for k in ca key cert; do
    if [ -s "$tls_dir/$k.pem" ]; then set -- "--store-$k" "$tls_dir/$k.pem" "$@"; fi
  done
  rc=0
  tsnet "$@" "$TSNET_NETWORK" >/dev/null || rc=$?
  case $rc in
    0) log "created network $TSNET_NETWORK" ;;
    3) log "network $TSNET_NETWORK exists" ;; # ALREADY_EXISTS: another node made it
    *) echo "tsnet-install-cni: creating network $TSNET_NETWORK failed (exit $rc); the pod retries" >&2; exit "$rc" ;;
  esac
fi

# 4. The conflist, last.
tsnet-write-conflist "$TSNET_NETWORK" "$net_dir/$conf_name"
