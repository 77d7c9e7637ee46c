#!/bin/sh
# The agent container of the tsnet DaemonSet (tsnet-agent): `tsnet overlay agent` for the store
# in $TSNET_STORE, with the TLS files of the Secret (mounted at $TSNET_STORE_TLS_DIR) passed as
# --store-ca/--store-key/--store-cert when present and not empty (an etcd:// store needs none).
#
# The agent exits 0 when this node has joined no overlay network yet (the first pod attached
# here joins it) or when another agent holds the state dir's lock (one the plugin started on
# the node); this script then starts it again after $TSNET_AGENT_RETRY_SECONDS (default 5), so
# the container stays up instead of crash-looping. Any other exit is passed on (the kubelet
# restarts the container). SIGTERM and SIGINT go to the agent, which stops; so does this script.
set -eu
tls_dir=${TSNET_STORE_TLS_DIR:-/etc/tsnet/store}
retry=${TSNET_AGENT_RETRY_SECONDS:-5}
: "${TSNET_STORE:?TSNET_STORE (ConfigMap key store) must name the etcd store}"
export TSNET_WORKER=0
set -- overlay agent "$@"
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
  echo "tsnet-agent: the agent exited (no overlay network joined on this node yet, or another agent runs); again in ${retry}s" >&2
  sleep "$retry" &
  child=$!
  wait "$child" || true
  child=""
  if [ "$stop" = 1 ]; then exit 0; fi
done
