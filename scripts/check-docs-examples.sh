#!/usr/bin/env bash
# Docs/LIBRARY.md shows the examples of Examples/library-quickstart verbatim: each Swift block
# that follows a line `<!-- example: PATH -->` must equal the file at PATH, byte for byte, so
# the page cannot drift from code that compiles (and, for the quick start, runs).
set -euo pipefail
cd "$(dirname "$0")/.."
page=Docs/LIBRARY.md
checked=0
while read -r path; do
    block=$(awk -v marker="<!-- example: $path -->" '
        $0 == marker { armed = 1; next }
        armed && /^```swift$/ { inside = 1; armed = 0; next }
        inside && /^```$/ { exit }
        inside { print }
    ' "$page")
    if ! diff -u "$path" <(printf '%s\n' "$block") >/dev/null; then
        echo "$page: the block marked $path differs from the file:" >&2
        diff -u "$path" <(printf '%s\n' "$block") >&2 || true
        exit 1
    fi
    checked=$((checked + 1))
done < <(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' "$page")
if [ "$checked" -eq 0 ]; then
    echo "$page: no example marked; expected at least one" >&2
    exit 1
fi
echo "docs examples: $checked block(s) match their files"
