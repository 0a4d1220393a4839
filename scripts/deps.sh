#!/usr/bin/env bash
# Installs what building and running DuraGraph needs on Debian 12, when it is missing.
set -euo pipefail
pkgs=(pkg-config libpq-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libsystemd-dev postgresql)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a cluster of its own on port 5432; DuraGraph does not use it.
if command -v swift >/dev/null 2>&1; then :; elif [ -x /opt/swift/usr/bin/swift ]; then :; else
  echo "Swift 6 toolchain not found (expected on PATH or in /opt/swift)" >&2; exit 1
fi
