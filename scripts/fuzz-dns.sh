#!/usr/bin/env bash
# Fuzzes the DNS codec (Sources/DNS) with libFuzzer (Fuzz/dns-fuzz).
#
#   scripts/fuzz-dns.sh [runs] [extra libFuzzer flags...]      default: 10,000,000 runs
#
# As scripts/fuzz-wire.sh: release build with -sanitize=fuzzer in its own scratch path, linked
# with lld, corpus and crashes in fuzz-artifacts/ (git-ignored). A crash leaves its input in
# fuzz-artifacts/dns-crash-*: keep it as a vector in Tests/DNSTests and replay it with
# `.build-fuzz-dns/release/dns-fuzz <file>` after the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10000000}"
shift || true
scratch=.build-fuzz-dns
out=fuzz-artifacts
mkdir -p "$out/dns-corpus"

swift build -c release --scratch-path "$scratch" --product dns-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DDNS_FUZZ -Xswiftc -DLIBFUZZER -Xswiftc -use-ld=lld

# Seed inputs: real queries and answers, so mutation starts from the format.
seed() { printf "$2" > "$out/dns-corpus/seed-$1"; }
seed query-a '\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x03net\x00\x00\x01\x00\x01'
seed query-edns '\x00\x07\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x02c0\x05front\x00\x00\x1c\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00'
seed answer-2a '\x00\x07\x85\x00\x00\x01\x00\x02\x00\x00\x00\x00\x03web\x03net\x00\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x0a\x00\x00\x02\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x0a\x00\x00\x03'
seed nxdomain '\x00\x08\x81\x83\x00\x01\x00\x00\x00\x01\x00\x00\x01x\x00\x00\x01\x00\x01\x00\x00\x06\x00\x01\x00\x00\x00\x3c\x00\x05\x01a\xc0\x0c\x00'
seed loop '\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01'

start=$(date +%s)
SWIFT_BACKTRACE=enable=no \
"$scratch/release/dns-fuzz" "$out/dns-corpus" -runs="$runs" -max_len=1024 -print_final_stats=1 \
    -artifact_prefix="$out/dns-" "$@"
echo "fuzz-dns: $runs runs in $(( $(date +%s) - start )) s"
