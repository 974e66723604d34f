#!/usr/bin/env bash
# Times one large simulated run: wall time, CPU time and peak memory of grapevine-sim, with the
# load average before and after (the figures of Docs/benchmarks/SIMULATION.md, "Larger clusters").
#
#   scripts/sim-scale.sh NODES [SCENARIO] [grapevine-sim options...]
#   scripts/sim-scale.sh 10000 crash --join-seconds 60
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:?usage: scripts/sim-scale.sh NODES [SCENARIO] [options...]}
scenario=${2:-crash}
shift $(( $# >= 2 ? 2 : 1 ))
swift build -c release --product grapevine-sim >/dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "wall %e s, CPU %U s user + %S s system, peak memory %M KB" \
    .build/release/grapevine-sim "$scenario" --nodes "$nodes" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
