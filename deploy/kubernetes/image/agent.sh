#!/bin/sh
# The agent container of the tsnet DaemonSet (tsnet-agent): `tsnet overlay agent` for the store
# in $TSNET_STORE, with the TLS files of the Secret (mounted at $TSNET_STORE_TLS_DIR) passed as
# --store-ca/--store-key/--store-cert when present and not empty (an etcd:// store needs none).
set -eu
tls_dir=${TSNET_STORE_TLS_DIR:-/etc/tsnet/store}
: "${TSNET_STORE:?TSNET_STORE (ConfigMap key store) must name the etcd store}"
export TSNET_WORKER=0
set -- overlay agent "$@"
for k in ca key cert; do
  if [ -s "$tls_dir/$k.pem" ]; then set -- "--store-$k" "$tls_dir/$k.pem" "$@"; fi
done
exec tsnet "$@"
