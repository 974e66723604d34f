#!/usr/bin/env bash
# Installs the system packages Grapevine needs. Safe to run any number of times.
# Usage: scripts/setup.sh [demo]: with `demo`, only what building the agent and running
# scripts/demo.sh need (no Docker engine, Serf or nftables: a fresh machine's first command
# does not wait for them); without, everything the tests and benchmarks use too.
set -euo pipefail
DEMO=(libsodium-dev libnl-3-dev libnl-route-3-dev pkg-config iproute2 iputils-ping procps)
TESTS=(nftables serf curl docker.io busybox-static)
case "${1:-all}" in
  demo) PACKAGES=("${DEMO[@]}") ;;
  all) PACKAGES=("${DEMO[@]}" "${TESTS[@]}") ;;
  *) echo "usage: $0 [demo]" >&2; exit 64 ;;
esac
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all system packages present (${PACKAGES[*]})"
