#!/bin/sh
# Installs Debian's chromium for the webview tests (playwright-core drives it), only when
# /usr/bin/chromium is missing. Idempotent; for CI images. Never downloads Playwright's browsers.
set -eu
if [ -x /usr/bin/chromium ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
