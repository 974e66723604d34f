#!/usr/bin/env bash
# A local multi-host overlay on this machine: three "hosts" (network namespaces on one switch),
# a real `grapevine agent` in each, two "containers" (namespaces with a veth into the host's
# bridge) per host, one VXLAN network. Shows the members and the FDB rows the agents wrote,
# pings every container from every other across hosts, and removes everything it made, also
# when interrupted (Ctrl-C). Needs root. Usage: scripts/demo.sh [HOSTS] (default 3, at most 9).
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-3}
if ! [[ "$HOSTS" =~ ^[2-9]$ ]]; then echo "usage: $0 [HOSTS 2-9]" >&2; exit 64; fi
if [ "$(id -u)" -ne 0 ]; then echo "demo: needs root (network namespaces)" >&2; exit 1; fi
./scripts/setup.sh demo >/dev/null
# A debug build: on a fresh 2-core machine it takes about half the time of a release build
# (the README's first command in about 3 minutes instead of 5.5), and three agents gossiping
# and programming a few rows need no optimiser. The tests build in release on their own.
swift build --product grapevine 2>&1 | grep -E "error|Compiling|Build" | tail -1
BIN="$(swift build --show-bin-path)/grapevine"

P="gvdemo$$"                       # every name this run makes starts with this
WORK="$(mktemp -d /tmp/grapevine-demo.XXXXXX)"
PIDS=()
NAMESPACES=()

cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for (( i=${#NAMESPACES[@]}-1; i>=0; i-- )); do ip netns del "${NAMESPACES[$i]}" 2>/dev/null || true; done
  rm -rf "$WORK"
  echo "demo: cleaned up (agents stopped, ${#NAMESPACES[@]} namespaces deleted)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

addns() { ip netns add "$1"; NAMESPACES+=("$1"); }

echo "== underlay: $HOSTS hosts on one switch (10.77.0.0/24)"
addns "$P-sw"
ip -n "$P-sw" link add br0 type bridge && ip -n "$P-sw" link set br0 up
"$BIN" keygen --output "$WORK/key" >/dev/null
for h in $(seq 1 "$HOSTS"); do
  addns "$P-h$h"
  ip link add eth0 netns "$P-h$h" type veth peer name "p$h" netns "$P-sw"
  ip -n "$P-sw" link set "p$h" master br0 up
  ip -n "$P-h$h" addr add "10.77.0.$h/24" dev eth0
  ip -n "$P-h$h" link set eth0 up && ip -n "$P-h$h" link set lo up
done

echo "== agents: one per host, encrypted, network blue (VNI 100)"
for h in $(seq 1 "$HOSTS"); do
  JOIN=(); [ "$h" -gt 1 ] && JOIN=(--join 10.77.0.1)
  ip netns exec "$P-h$h" "$BIN" agent --name "host$h" --bind "10.77.0.$h:7946" "${JOIN[@]}" \
    --key-file "$WORK/key" --data-dir "$WORK/h$h" --api-socket "$WORK/h$h.sock" --network blue:100 \
    >"$WORK/h$h.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do "$BIN" info --socket "$WORK/h$h.sock" >/dev/null 2>&1 && break; sleep 0.05; done
done

echo "== containers: two per host, registered with their host's agent"
IPS=()
for h in $(seq 1 "$HOSTS"); do
  for c in 1 2; do
    ns="$P-h$h-c$c"; addns "$ns"
    ip link add eth0 netns "$ns" type veth peer name "c$c" netns "$P-h$h"
    ip -n "$P-h$h" link set "c$c" master gvbr100 mtu 1450 up
    ip -n "$ns" link set eth0 address "02:00:00:00:0$h:0$c" mtu 1450 up
    ip -n "$ns" addr add "10.10.100.$h$c/24" dev eth0 && ip -n "$ns" link set lo up
    "$BIN" endpoint add --socket "$WORK/h$h.sock" --network blue --mac "02:00:00:00:0$h:0$c" \
      --ip "10.10.100.$h$c" --name "c$h$c" >/dev/null
    IPS+=("$h:$c:10.10.100.$h$c")
  done
done

echo "== members, as host1 sees them"
for _ in $(seq 1 200); do
  [ "$("$BIN" members --socket "$WORK/h1.sock" --status alive --format json | grep -c '"name"')" -ge "$HOSTS" ] && break
  sleep 0.05
done
"$BIN" members --socket "$WORK/h1.sock"

echo "== host1's rows for blue: desired (from gossip) against the kernel's"
for _ in $(seq 1 200); do "$BIN" fdb blue --check --socket "$WORK/h1.sock" >/dev/null 2>&1 && break; sleep 0.05; done
"$BIN" fdb blue --socket "$WORK/h1.sock"
echo "-- bridge fdb show dev gvx100 (host1's kernel)"
ip netns exec "$P-h1" bridge fdb show dev gvx100 | grep dst

echo "== ping every container from every other, across hosts"
ok=0; fail=0
for a in "${IPS[@]}"; do
  IFS=: read -r ha ca _ <<<"$a"
  for b in "${IPS[@]}"; do
    IFS=: read -r hb _ ipb <<<"$b"
    [ "$ha" = "$hb" ] && continue
    if ip netns exec "$P-h$ha-c$ca" ping -c 1 -W 2 "$ipb" >/dev/null; then ok=$((ok+1)); else fail=$((fail+1)); echo "   c$ha$ca -> $ipb FAILED"; fi
  done
done
echo "== $ok pings across hosts succeeded, $fail failed"
[ "$fail" -eq 0 ]
