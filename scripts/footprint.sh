#!/bin/bash
# Resident memory of idle agents, by mapping (Docs/benchmarks/FOOTPRINT.md): three
# `grapevine agent`s and three `serf agent`s in the same three host namespaces (a fourth holds
# the switch), each cluster joined, measured after 20 s. Needs root, serf and a built
# grapevine. Usage: scripts/footprint.sh GRAPEVINE_BINARY OUTPUT_DIRECTORY
# Writes OUTPUT_DIRECTORY/summary.txt (Rss, Pss, RssAnon, RssFile in KiB per process) and each
# process's smaps_rollup and `pmap -x` sorted by resident size. Removes what it made at exit.
set -u
if [ $# -ne 2 ]; then echo "usage: $0 GRAPEVINE_BINARY OUTPUT_DIRECTORY" >&2; exit 64; fi
BIN=$1; OUT=$2; mkdir -p $OUT
D=$(mktemp -d /tmp/gvfp.XXXXXX)
KEY=$($BIN keygen)
echo "$KEY" > $D/key
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for i in 0 1 2 3; do ip netns del gvfp$i 2>/dev/null; done
  rm -rf "$D"
}
trap cleanup EXIT
ip netns add gvfp0
ip -n gvfp0 link add gvfpbr type bridge
for i in 1 2 3; do
  ip netns add gvfp$i
  ip -n gvfp$i link set lo up
  ip -n gvfp0 link add gvfpv$i type veth peer name eth0 netns gvfp$i
  ip -n gvfp0 link set gvfpv$i master gvfpbr up
  ip -n gvfp$i addr add 10.78.0.$i/24 dev eth0
  ip -n gvfp$i link set eth0 up
done
ip -n gvfp0 link set gvfpbr up
for i in 1 2 3; do
  args=(agent --name h$i --bind 10.78.0.$i:7946 --key-file $D/key --data-dir $D/h$i --api-socket $D/h$i.sock --log-level notice --network blue:100)
  [ $i != 1 ] && args+=(--join 10.78.0.1:7946)
  ip netns exec gvfp$i $BIN "${args[@]}" > $D/h$i.log 2>&1 &
  pids+=($!)
  for t in $(seq 100); do $BIN info --socket $D/h$i.sock >/dev/null 2>&1 && break; sleep 0.2; done
done
SKEY=$(head -c 32 /dev/urandom | base64)
for i in 1 2 3; do
  sargs=(agent -node s$i -bind 10.78.0.$i:7947 -rpc-addr 127.0.0.1:7373 -encrypt $SKEY -log-level warn)
  [ $i != 1 ] && sargs+=(-join 10.78.0.1:7947)
  ip netns exec gvfp$i serf "${sargs[@]}" > $D/s$i.log 2>&1 &
  pids+=($!)
  sleep 0.5
done
sleep 20
$BIN members --socket $D/h1.sock > $OUT/members.txt 2>&1
ip netns exec gvfp1 serf members -rpc-addr 127.0.0.1:7373 >> $OUT/members.txt 2>&1
: > $OUT/summary.txt
for n in 0 1 2 3 4 5; do
  p=${pids[$n]}; name=$( [ $n -lt 3 ] && echo grapevine-h$((n+1)) || echo serf-s$((n-2)) )
  # the ip-netns-exec process execs the program, so the pid is the program's
  cat /proc/$p/smaps_rollup > $OUT/$name.smaps_rollup
  pmap -x $p | sort -k3 -n -r > $OUT/$name.pmap
  echo "$name $(grep -E '^(Rss|Pss|Anonymous|Pss_Anon|Pss_File):' /proc/$p/smaps_rollup | awk '{printf "%s %s ", $1, $2}') $(grep -E 'RssAnon|RssFile' /proc/$p/status | awk '{printf "%s %s ", $1, $2}')" >> $OUT/summary.txt
done
cat $OUT/summary.txt
