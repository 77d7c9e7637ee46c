#!/usr/bin/env bash
# The seeds' scenario with the real tsnet CLI: a secure network where frontend and backend talk,
# a payment service on another network that cannot reach them, and a published port reachable
# from the host. It all runs inside a private "host" namespace with its own state dir, so the
# machine's own interfaces and firewall are never touched, and everything is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
HOST="tsnet-scenario-$$"
STATE=$(mktemp -d)
RUNDIR=$(mktemp -d) # the warm worker's socket dir for this run, apart from a real install's
TSNET="$PWD/native/build/bin/tsnet" # the launcher, as users run it (npm run build makes it)
NETTOOL="$PWD/scripts/nettool.mjs"
failed=0
cleanup() {
  h tsnet rm -f backend payment >/dev/null 2>&1
  h tsnet network rm secure-network payments >/dev/null 2>&1
  ip netns pids "$HOST" 2>/dev/null | xargs -r kill -9 # the warm worker lives in the namespace
  ip netns del "$HOST" 2>/dev/null
  rm -rf "$STATE" "$RUNDIR"
}
trap cleanup EXIT
h() { # run in the private host namespace; `tsnet` is the built launcher
  if [ "$1" = tsnet ]; then shift; set -- "$TSNET" "$@"; fi
  nsenter --net="/run/netns/$HOST" env TSNET_STATE_DIR="$STATE" TSNET_RUN_DIR="$RUNDIR" TSNET_NETNS_PREFIX="tsnet-scenario-c-" "$@"
}
say() { printf '\n$ %s\n' "$*"; }
check() { # check "what" expected-exit command...
  local what=$1 want=$2; shift 2
  local out; out=$("$@" 2>&1); local rc=$?
  if { [ "$want" = ok ] && [ $rc -eq 0 ]; } || { [ "$want" = fail ] && [ $rc -ne 0 ]; }; then
    printf 'ok    %s%s\n' "$what" "${out:+: $(echo "$out" | tr -d '\r' | head -1)}"
  else
    printf 'FAIL  %s (exit %s): %s\n' "$what" "$rc" "$out"; failed=1
  fi
}

ip netns add "$HOST" && ip -n "$HOST" link set lo up || exit 1
say tsnet create secure-network;  h tsnet create secure-network >/dev/null
say tsnet network create payments; h tsnet network create payments >/dev/null
say tsnet run -d --network secure-network --name backend -p 8080:80 -- node nettool.mjs serve-http 80 hello-from-backend
h tsnet run -d --network secure-network --name backend -p 8080:80 -- node "$NETTOOL" serve-http 80 hello-from-backend >/dev/null
say tsnet run -d --network payments --name payment -- node nettool.mjs serve-http 80 hello-from-payment
h tsnet run -d --network payments --name payment -- node "$NETTOOL" serve-http 80 hello-from-payment >/dev/null
say tsnet ps; h tsnet ps
say tsnet network ls; h tsnet network ls
backend=$(h tsnet --format json network inspect secure-network | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].containers[0].addresses[0].split("/")[0]))')
payment=$(h tsnet --format json network inspect payments | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].containers[0].addresses[0].split("/")[0]))')
for _ in $(seq 20); do h curl -s -m 1 "http://$backend/" >/dev/null && break; sleep 0.2; done

echo; echo "checks:"
check "frontend -> backend over secure-network (HTTP)" ok h tsnet run --network secure-network --name frontend -- curl -s -m 2 "http://$backend/"
check "frontend -> backend (ping)" ok h tsnet run --network secure-network -- ping -c 1 -W 1 "$backend"
check "payment -> backend is blocked (HTTP)" fail h tsnet run --network payments -- curl -s -m 2 "http://$backend/"
check "payment -> backend is blocked (ping)" fail h tsnet run --network payments -- ping -c 1 -W 1 "$backend"
check "frontend -> payment is blocked" fail h tsnet run --network secure-network -- curl -s -m 2 "http://$payment/"
check "host -> published port 127.0.0.1:8080" ok h curl -s -m 2 http://127.0.0.1:8080/
echo
say tsnet rm -f backend payment; h tsnet rm -f backend payment
say tsnet network rm secure-network payments; h tsnet network rm secure-network payments
left=$(ip -n "$HOST" -br link | grep -vc '^lo ')
if [ "$left" -ne 0 ]; then echo "FAIL  $left interfaces left behind"; failed=1; else echo "ok    nothing left behind"; fi
[ $failed -eq 0 ] && echo "scenario OK" || { echo "scenario FAILED"; exit 1; }
