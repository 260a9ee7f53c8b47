#!/usr/bin/env bash
# Install headless Chromium (Debian package `chromium`) for the book's browser test.
# Needs root (CI containers run as root); about 35 s on a cold apt cache.
# Usage: scripts/install_chromium.sh        prints the chromium path when done
set -euo pipefail

for exe in chromium chromium-browser; do
  if command -v "$exe" >/dev/null 2>&1; then
    command -v "$exe"
    exit 0
  fi
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install_chromium.sh: chromium is missing and this is not root; run as root:" >&2
  echo "  apt-get update && apt-get install -y chromium" >&2
  exit 2
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
command -v chromium
