#!/usr/bin/env bash
# Times one large simulated run: wall time, CPU time and peak memory of grapevine-sim, with the
# load average before and after (the figures of Docs/benchmarks/SIMULATION.md, "Larger clusters").
#
#   scripts/sim-scale.sh NODES [SCENARIO] [grapevine-sim options...]
#   scripts/sim-scale.sh 10000 crash --join-seconds 60
#   MAX_RSS_GB=12 NICE=10 scripts/sim-scale.sh 10000 join --duration 60
#
# MAX_RSS_GB (default 14): the run is killed, by its process id, once its resident memory
# passes this many GiB, so that a run larger than expected cannot take a shared machine's
# memory (the script then exits 3). NICE (default 10): the run's nice level.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:?usage: scripts/sim-scale.sh NODES [SCENARIO] [options...]}
scenario=${2:-crash}
shift $(( $# >= 2 ? 2 : 1 ))
max_kb=$(( ${MAX_RSS_GB:-14} * 1024 * 1024 ))
swift build -c release --product grapevine-sim >/dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "${NICE:-10}" /usr/bin/time -f "wall %e s, CPU %U s user + %S s system, peak memory %M KB" \
    .build/release/grapevine-sim "$scenario" --nodes "$nodes" "$@" &
timer=$!
# The simulator is the child of /usr/bin/time: watch its resident memory once a second.
sim=""
while [ -z "$sim" ] && kill -0 "$timer" 2>/dev/null; do
    sim=$(pgrep -P "$timer" || true)
    sleep 0.2
done
killed=0
while [ -n "$sim" ] && kill -0 "$sim" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$sim/status" 2>/dev/null || echo 0)
    if [ "${rss:-0}" -gt "$max_kb" ]; then
        echo "resident memory ${rss} KB passed MAX_RSS_GB=${MAX_RSS_GB:-14}: stopping process $sim" >&2
        kill "$sim"
        killed=1
        break
    fi
    sleep 1
done
status=0
wait "$timer" || status=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$killed" = 1 ]; then exit 3; fi
exit "$status"
