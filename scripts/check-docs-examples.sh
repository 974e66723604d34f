#!/usr/bin/env bash
# Every Swift block of Docs/LIBRARY.md and Docs/SIMULATION.md is code that compiles, and the
# runnable ones run, from Examples/library-quickstart: a package outside this one that depends on
# it as the docs say (`.package(path: "../grapevine")`, Examples/grapevine being a link to this
# checkout). Each block follows a marker line:
#   <!-- example: PATH -->         the block is the file at PATH, byte for byte;
#   <!-- example: PATH REGION -->  the block is the lines of PATH between `// docs: begin REGION`
#                                  and `// docs: end REGION`, less the begin line's indentation.
# A Swift block without a marker fails the check. Then the examples are built, the quick start
# and the events example run, the simulation example's test runs, and the daemon is started
# with each kind of bad input: it must log the reason and exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
checked=0

extract_block() {  # page, marker line: the Swift block after the marker
    awk -v marker="$2" '
        $0 == marker { armed = 1; next }
        armed && /^```swift$/ { inside = 1; armed = 0; next }
        inside && /^```$/ { exit }
        inside { print }
    ' "$1"
}

extract_region() {  # file, region name: the region's lines, less the begin line's indentation
    awk -v name="$2" '
        $0 ~ "^[ ]*// docs: begin " name "$" { match($0, /^[ ]*/); indent = RLENGTH; inside = 1; next }
        inside && $0 ~ "^[ ]*// docs: end " name "$" { found = 1; exit }
        inside && /^[ ]*\/\/ docs: (begin|end) / { next }
        inside { print (length($0) >= indent ? substr($0, indent + 1) : "") }
        END { if (!found) exit 1 }
    ' "$1"
}

for page in Docs/LIBRARY.md Docs/SIMULATION.md; do
    # Every ```swift line must come right after a marker.
    unmarked=$(awk '/^```swift$/ && previous !~ /^<!-- example: / { print FILENAME ":" NR } { previous = $0 }' "$page")
    if [ -n "$unmarked" ]; then
        echo "$page: Swift block(s) without an <!-- example: --> marker, so not compiled: $unmarked" >&2
        exit 1
    fi
    while read -r path region; do
        marker="<!-- example: $path${region:+ $region} -->"
        block=$(extract_block "$page" "$marker")
        if [ -n "$region" ]; then
            if ! expected=$(extract_region "$path" "$region"); then
                echo "$page: $path has no region '$region' (// docs: begin/end $region)" >&2
                exit 1
            fi
        else
            expected=$(cat "$path")
        fi
        if [ "$expected" != "$block" ]; then
            echo "$page: the block marked '$path${region:+ $region}' differs from the file:" >&2
            diff -u <(printf '%s\n' "$expected") <(printf '%s\n' "$block") >&2 || true
            exit 1
        fi
        checked=$((checked + 1))
    done < <(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' "$page")
done
if [ "$checked" -lt 2 ]; then
    echo "docs: $checked example(s) marked; expected every Swift block of both pages" >&2
    exit 1
fi
echo "docs examples: $checked block(s) match their files"

[ "${DOCS_EXAMPLES_TEXT_ONLY:-0}" = 1 ] && exit 0

# Build and run them, as a user's package would.
examples=Examples/library-quickstart
scratch=.build/quickstart
swift build --package-path "$examples" --scratch-path "$scratch" --build-tests
bin=$(swift build --package-path "$examples" --scratch-path "$scratch" --show-bin-path)
# A library-only consumer (`traits: []`) resolves the library's own dependencies, not the
# agent's (Hummingbird, Prometheus, TOMLKit, Subprocess, ArgumentParser): issue 25.
resolved=$(sed -n 's/.*"identity" : "\(.*\)",/\1/p' "$examples/Package.resolved" | sort | tr '\n' ' ')
expected="swift-async-algorithms swift-atomics swift-collections swift-log swift-metrics swift-nio swift-service-lifecycle swift-system "
if [ "$resolved" != "$expected" ]; then
    echo "docs: a library-only consumer resolves [$resolved], expected [$expected]" >&2
    exit 1
fi
echo "docs examples: a library-only consumer resolves $(wc -w <<< "$resolved") packages"
timeout 120 "$bin/QuickStart"
timeout 120 "$bin/Events"
swift test --package-path "$examples" --scratch-path "$scratch" --skip-build
echo "docs examples: quick start, events and the simulation test ran"

# The daemon's start-up errors: each logged with its reason, each a non-zero exit.
state=$(mktemp -d /tmp/docs-daemon-XXXXXX)
daemon_pid=""
cleanup() {
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; fi
    rm -rf "$state"
}
trap cleanup EXIT
key=$(head -c 32 /dev/urandom | base64)
expect_exit() {  # status, text the log must hold, command...
    local want=$1 text=$2 got=0
    shift 2
    timeout 60 "$@" 2>"$state/stderr" >/dev/null || got=$?
    if [ "$got" -ne "$want" ] || ! grep -q -- "$text" "$state/stderr"; then
        echo "daemon example: '$*' exited $got (expected $want) and logged:" >&2
        cat "$state/stderr" >&2
        echo "(expected a line containing '$text')" >&2
        exit 1
    fi
    echo "daemon example: exit $got, '$text'"
}
mkdir -p "$state/a" "$state/b" "$state/c"
expect_exit 2 "usage: daemon NAME" "$bin/Daemon" a
expect_exit 2 "BIND-ADDRESS must be IP" "$bin/Daemon" a not-an-address "$key" "$state/a"
expect_exit 1 "invalid key: not base64" "$bin/Daemon" a 127.0.0.1:0 not-a-key "$state/a"
expect_exit 1 "cannot keep snapshotPath" "$bin/Daemon" a 127.0.0.1:0 "$key" "$state/missing"
expect_exit 1 "connection refused" "$bin/Daemon" a 127.0.0.1:0 "$key" "$state/a" 127.0.0.1:1
# A running daemon; a second one on its port cannot bind; SIGTERM ends the first with status 0.
exec 3< <(exec "$bin/Daemon" first 127.0.0.1:0 "$key" "$state/b" 2>&1 >/dev/null)
daemon_pid=$!
port=""
while IFS= read -r -t 60 line <&3; do
    echo "$line" >>"$state/first.log"
    case $line in *address=*) port=$(printf '%s\n' "$line" | sed -n 's/.*address=[0-9.]*:\([0-9]*\).*/\1/p'); break ;; esac
done
[ -n "$port" ] || { echo "daemon example: the first daemon did not log its address:" >&2; cat "$state/first.log" >&2; exit 1; }
expect_exit 1 "cannot bind 127.0.0.1:$port" "$bin/Daemon" second "127.0.0.1:$port" "$key" "$state/c"
kill -TERM "$daemon_pid"
cat <&3 >>"$state/first.log"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
if [ "$status" -ne 0 ]; then
    echo "daemon example: SIGTERM ended it with status $status, expected 0; it logged:" >&2
    cat "$state/first.log" >&2
    exit 1
fi
grep -q "^left 1$" "$state/b/snapshot" || { echo "daemon example: no snapshot after SIGTERM" >&2; exit 1; }
echo "daemon example: every start-up error exits non-zero with its reason; SIGTERM leaves and exits 0"
