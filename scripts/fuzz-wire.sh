#!/usr/bin/env bash
# Fuzzes every GossipWire decoder with libFuzzer (Fuzz/wire-fuzz).
#
#   scripts/fuzz-wire.sh [runs] [extra libFuzzer flags...]      default: 10,000,000 runs
#
# Builds the wire-fuzz product in release with -sanitize=fuzzer (coverage-guided; the Swift
# runtime traps on overflow and bounds errors), in its own scratch path so it never mixes with
# normal builds, linked with lld (gold hits an internal error on this link), then runs it on a
# corpus in fuzz-artifacts/ (git-ignored). A crash leaves its
# input in fuzz-artifacts/crash-*: keep it as a regression vector in Tests/GossipWireTests and
# replay it with `.build-fuzz/release/wire-fuzz <file>` after the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10000000}"
shift || true
scratch=.build-fuzz
out=fuzz-artifacts
mkdir -p "$out/corpus"

swift build -c release --scratch-path "$scratch" --product wire-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DWIRE_FUZZ -Xswiftc -DLIBFUZZER -Xswiftc -use-ld=lld

# Seed inputs: a few valid packets and frames, so mutation starts from the real format.
seed() { printf "$2" > "$out/corpus/seed-$1"; }
seed ack '\x01\x00\x03\x02\xac\x02'
seed alive '\x01\x00\x05\x10\x01\x06node-1\x04\x0a\x00\x00\x01\x1f\x0a\x00'
seed alive-tags '\x01\x00\x05\x1a\x02\x01n\x04\x7f\x00\x00\x01\x00\x01\x02\x02dc\x01x\x04role\x04vtep'
seed suspect '\x01\x00\x06\x05\x02\x01a\x01b'
seed dead '\x01\x00\x07\x06\x03\x01a\x01a\x01'
seed ping '\x01\x00\x01\x18\x01\x01b\x01a\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01'
seed ping-req '\x01\x00\x02\x15\x80\x01\x01t\x04\x01\x02\x03\x04\x00\x50\x01r\x04\x05\x06\x07\x08\x00\x51\x01'
seed pushpull '\x03\x01s\x04\x0a\x00\x00\x02\x00\x02\x01\x01m\x04\x0a\x00\x00\x03\x00\x03\x04\x01\x01\x01k\x01v'
seed frame '\x01\x00\x00\x00\x00\x03\x03\x01\x01'
seed labelled '\x01\x02\x04prod\x03\x01\x01'

start=$(date +%s)
# Let libFuzzer, not the Swift backtracer, handle a trap, so that it saves the crashing input.
SWIFT_BACKTRACE=enable=no \
"$scratch/release/wire-fuzz" "$out/corpus" -runs="$runs" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "$@"
echo "fuzz-wire: $runs runs in $(( $(date +%s) - start )) s"
