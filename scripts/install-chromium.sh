#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser tests, when missing.
# Playwright drives this system browser; `playwright install` cannot download
# browsers on machines without general internet access.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-chromium: run as root, or install Debian's chromium package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: $(chromium --version)"
