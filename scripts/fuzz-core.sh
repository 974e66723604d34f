#!/usr/bin/env bash
# Fuzzes the membership core with libFuzzer (Fuzz/core-fuzz): each input is a script that runs
# 3 to 5 live GossipInstance values on virtual time, delivers, drops, duplicates and reorders
# what they send each other, and injects attacker datagrams and stream frames decoded by the
# real codec, plus forged core messages, joins, leaves, tag changes and restarts. Invariants
# are checked after every input a node handles (Docs/FUZZING.md lists them).
#
#   scripts/fuzz-core.sh [runs] [extra libFuzzer flags...]      default: 10,000,000 runs
#   scripts/fuzz-core.sh 5000000 -jobs=2 -workers=2              two processes, 5,000,000 runs each
#
# Builds the core-fuzz product in release with -sanitize=fuzzer in its own scratch path
# (.build-fuzz-core: its -D flag differs from wire-fuzz's, so sharing .build-fuzz would
# rebuild everything each time one or the other runs), linked with lld, then runs it on a
# corpus in fuzz-artifacts/core-corpus (git-ignored). A crash leaves its input in
# fuzz-artifacts/core-crash-*: replay it with `.build/debug/core-fuzz <file>` (a plain build)
# and keep it as a vector in Tests/GossipCoreTests/FuzzRegressionTests.swift.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10000000}"
shift || true
scratch=.build-fuzz-core
out=fuzz-artifacts
mkdir -p "$out/core-corpus" "$out/core-seeds"

swift build -c release --scratch-path "$scratch" --product core-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DCORE_FUZZ -Xswiftc -DLIBFUZZER -Xswiftc -use-ld=lld

# Seed scripts (formed clusters plus codec-encoded attacker packets), written by the same
# binary: with CORE_FUZZ set it is the libFuzzer driver, so the seeds come from a tiny
# companion mode that the driver's argument parsing leaves alone (see Fuzz/core-fuzz/main.swift).
GRAPEVINE_CORE_FUZZ_SEEDS="$out/core-seeds" "$scratch/release/core-fuzz" -runs=0 >/dev/null 2>&1 || true

start=$(date +%s)
# Run from fuzz-artifacts/, where `-jobs=N -workers=N` (N processes, each doing `runs`) puts
# its fuzz-<job>.log files.
bin="$PWD/$scratch/release/core-fuzz"
cd "$out"
# Let libFuzzer, not the Swift backtracer, handle a trap, so that it saves the crashing input.
# Deterministic hashing keeps a replay of a saved input identical to the run that found it.
SWIFT_BACKTRACE=enable=no SWIFT_DETERMINISTIC_HASHING=1 \
"$bin" core-corpus core-seeds -runs="$runs" -max_len=1024 \
    -print_final_stats=1 -artifact_prefix=core- "$@"
echo "fuzz-core: $runs runs (per job) in $(( $(date +%s) - start )) s"
