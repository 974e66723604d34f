#!/usr/bin/env bash
# Runs every test: installs system packages, then builds and runs the suite in release mode,
# because the simulations of 1,000 nodes are ten times slower in a debug build.
# Kernel tests (network namespaces) need root; set GRAPEVINE_REQUIRE_KERNEL_TESTS=1 to make
# their skip a failure, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# -enable-testing lets test targets use @testable imports in a release build.
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build -Xswiftc -enable-testing "$@"
# The examples of Docs/LIBRARY.md: the page shows them verbatim, and they build from outside
# this package as a user's would (only what `Gossip` exports is visible); the quick start runs
# two nodes on loopback, which join and leave, and exits.
./scripts/check-docs-examples.sh
swift build --package-path Examples/library-quickstart --scratch-path .build/quickstart
timeout 120 .build/quickstart/debug/QuickStart
timeout 120 .build/quickstart/debug/Events
