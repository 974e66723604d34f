#!/usr/bin/env bash
# Installs every system package Grapevine needs. Safe to run any number of times.
set -euo pipefail
PACKAGES=(libsodium-dev libnl-3-dev libnl-route-3-dev iproute2 iputils-ping nftables serf pkg-config curl procps docker.io busybox-static)
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
