#!/bin/sh
# The agent container of the tsnet DaemonSet (tsnet-agent): `tsnet overlay agent` for the store
# in $TSNET_STORE, with the TLS files of the Secret (mounted at $TSNET_STORE_TLS_DIR) passed as
# --store-ca/--store-key/--store-cert when present and not empty (an etcd:// store needs none).
#
# With --stay the agent runs before this node has joined any overlay network, holding the state
# dir's lock, so the plugin's first join only kicks it. It exits 0 when another agent holds the
# lock (one the plugin started on the node before this pod came up); this script then starts it
# again after $TSNET_AGENT_RETRY_SECONDS (default 5), so the container stays up instead of
# crash-looping. Any other exit is passed on (the kubelet
# restarts the container). SIGTERM and SIGINT go to the agent, which stops; so does this script.
#
# The tsnet plugin starts an agent on the node itself when it joins a network and none runs
# (between two tries here, say); that one is outside the pod, unsupervised, and keeps its
# release's code across upgrades. So when the lock holder (the pid in
# $TSNET_STATE_DIR/overlay-agent/pid: a node pid, the pod has hostPID) is a tsnet overlay agent
# of a release under /opt/tsnet that this script did not start, it is stopped (SIGTERM: an agent
# that stops leaves the data plane in place) and this pod's agent takes over at once.
set -eu
tls_dir=${TSNET_STORE_TLS_DIR:-/etc/tsnet/store}
retry=${TSNET_AGENT_RETRY_SECONDS:-5}
pidfile=${TSNET_STATE_DIR:-/var/lib/tsnet}/overlay-agent/pid
: "${TSNET_STORE:?TSNET_STORE (ConfigMap key store) must name the etcd store}"
export TSNET_WORKER=0
set -- overlay agent --stay "$@"
for k in ca key cert; do
  if [ -s "$tls_dir/$k.pem" ]; then set -- "--store-$k" "$tls_dir/$k.pem" "$@"; fi
done
stop=0
child=""
on_signal() {
  stop=1
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; fi
}
trap on_signal TERM INT
while :; do
  tsnet "$@" &
  child=$!
  rc=0
  wait "$child" || rc=$?
  # A trapped signal ends `wait` early: wait for the agent itself.
  while kill -0 "$child" 2>/dev/null; do rc=0; wait "$child" || rc=$?; done
  child=""
  if [ "$stop" = 1 ]; then exit 0; fi
  if [ "$rc" != 0 ]; then exit "$rc"; fi
  holder=$(cat "$pidfile" 2>/dev/null || true)
  case "$holder" in '' | *[!0-9]*) holder="" ;; esac
  if [ -n "$holder" ] && [ -r "/proc/$holder/cmdline" ]; then
    cmd=$(tr '\0' ' ' <"/proc/$holder/cmdline")
    case "$cmd" in
      */opt/tsnet/*" overlay agent"*)
        echo "tsnet-agent: taking over from the agent started on the node (pid $holder: $cmd)" >&2
        kill -TERM "$holder" 2>/dev/null || true
        sleep 1
        continue ;;
    esac
  fi
  echo "tsnet-agent: the agent exited (no overlay network joined on this node yet, or another agent runs); again in ${retry}s" >&2
  sleep "$retry" &
  child=$!
  wait "$child" || true
  child=""
  if [ "$stop" = 1 ]; then exit 0; fi
done
