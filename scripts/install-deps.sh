#!/usr/bin/env bash
# Installs the Debian packages tsnet and its tests use. Idempotent and quiet: apt runs only
# when something is missing. Run as root on Debian 12.
set -euo pipefail
pkgs=(
  gcc libc6-dev # the native launcher (native/launcher.c), linked statically
  iproute2     # ip: the tests' independent observer, and `ip netns exec` for pings
  iputils-ping # ping: real packets between namespaces
  curl         # HTTP checks in scripts/scenario.sh
  util-linux   # nsenter: diagnostics run commands inside namespaces
  containernetworking-plugins # the reference CNI plugins (/usr/lib/cni): interop tests and benchmarks
  nftables iptables # the two firewall backends
  docker.io busybox-static # Docker integration tests and benchmarks (image made by scripts/docker-up.sh)
  podman       # runtime integration test (network_backend = "cni")
  dnsperf aardvark-dns dnsmasq-base # bench/dns: the load generator and the two resolvers compared; dnsmasq is also the DHCP server of test/privileged/cni-dhcp.test.ts
  golang-go dpkg-dev # scripts/build-cnitool.sh: cnitool from Debian's libcni source (apt-get source, go build)
  firewalld    # firewall reload tests (a private firewalld on a private D-Bus in a test namespace)
  chromium fonts-dejavu-core # test/privileged/graph.test.ts: a headless screenshot of `tsnet graph --format svg` (the font Graphviz's labels name)
  etcd-server etcd-client # overlay store tests: etcd members in a test namespace (test/helpers/etcd.ts), etcdctl for leader/compact
  zsh          # test/privileged/cli-user.test.ts: the zsh completion script parses (zsh -n) and completes
  patchelf busybox-static nftables iptables # deploy/kubernetes/build-image.sh: the node image's Node and tools use the image's own loader and libraries (patchelf)
  iperf3       # bench/overlay: container-to-container throughput over the overlay vs the underlay
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
