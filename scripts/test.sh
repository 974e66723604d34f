#!/usr/bin/env bash
# Runs every test: installs system packages, then builds the suite in release mode, because
# the simulations of 1,000 nodes are ten times slower in a debug build.
# Kernel tests (network namespaces) need root; set GRAPEVINE_REQUIRE_KERNEL_TESTS=1 to make
# their skip a failure, as CI does. Arguments go to both test processes (swift-testing's
# options, such as --filter).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# -enable-testing lets test targets use @testable imports in a release build.
swift build -c release --build-tests -Xswiftc -enable-testing

# Two kinds of test, by target, run as two processes at the same time. "live" is real
# sockets, processes, namespaces and dockerd, whose liveness bounds are in wall-clock time;
# "compute" is pure code and simulations on virtual time: CPU-bound, with no wall-clock bound
# to miss. In one process the simulations took the concurrency pool from the live tests, so
# each kind has its own process, and the compute one runs at the lowest CPU priority (nice 19):
# the live kind gets the cores whenever it wants them and compute takes what is left, instead
# of waiting for the live kind to end. Both run the test binary directly: `swift test` holds a
# lock on .build for its whole run, so a second one would wait for the first.
compute=(GossipCoreTests GossipWireTests OverlayTests SystemLibraryTests AgentConfigurationTests DNSTests
    GossipSimulatorTests WireSimulationTests)
live=(GossipTests AgentAPITests AgentOpsTests NetlinkTests OverlayAgentTests AgentEndToEndTests)
# Every test target is in exactly one kind: a new target must be placed, not silently left out.
for dir in Tests/*Tests; do
    target=$(basename "$dir")
    n=0
    for t in "${compute[@]}" "${live[@]}"; do [ "$t" = "$target" ] && n=$((n + 1)); done
    if [ "$n" -ne 1 ]; then
        echo "scripts/test.sh: test target $target is in $n kinds of test; put it in exactly one" >&2
        exit 1
    fi
done
filter() { local IFS='|'; echo "^($*)\\."; }

logs=.build/test-logs
mkdir -p "$logs"
tests="$(swift build -c release --show-bin-path)/GrapevinePackageTests.xctest"
# run KIND [nice]: one test process for KIND's targets, its lines prefixed with the kind;
# writes its exit status and seconds to $logs/KIND.status.
run() {
    local kind=$1 priority=${2:-0}
    local -n targets=$kind
    local start=$SECONDS
    {
        nice -n "$priority" "$tests" --testing-library swift-testing --filter "$(filter "${targets[@]}")" \
            "${extra[@]}" 2>&1 && echo 0 > "$logs/$kind.status" || echo $? > "$logs/$kind.status"
    } | tee "$logs/$kind.log" | sed -u "s/^/[$kind] /"
    echo "$((SECONDS - start))" >> "$logs/$kind.status"
}
extra=("$@")
run compute 19 &
compute_pid=$!
run live
wait "$compute_pid"

# The count, time and outcome of each kind, from Swift Testing's closing line.
failed=0
echo
for kind in compute live; do
    { read -r status; read -r seconds; } < "$logs/$kind.status"
    summary=$(grep -E "Test run with [0-9]+ tests?" "$logs/$kind.log" | tail -1 || true)
    count=$(sed -nE 's/.*Test run with ([0-9]+) tests?.*/\1/p' <<< "$summary")
    echo "tests, $kind: ${count:-?} tests in ${seconds} s, $( [ "$status" -eq 0 ] && echo passed || echo "FAILED (exit $status)")"
    [ "$status" -eq 0 ] && [ -n "$count" ] || failed=1
done
if [ "$failed" -ne 0 ]; then
    echo "scripts/test.sh: a kind of test failed (logs in $logs)" >&2
    exit 1
fi

# The examples of Docs/LIBRARY.md and Docs/SIMULATION.md: the pages show them verbatim, and
# they build from outside this package as a user's would (only what `Gossip` exports is
# visible, with the library-only trait set); the check runs them, the simulation example's
# test and the daemon's start-up errors.
./scripts/check-docs-examples.sh
