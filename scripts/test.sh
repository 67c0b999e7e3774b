#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run give it (after `npm ci`): installs what the
# browser and editor tests need through the project's own scripts (Debian's chromium; Node 24 and
# code-server cached under .cache/e2e), type-checks everything with tsc, builds the bundles, then
# runs every suite in one node test-runner invocation, one file at a time (the integration and e2e files are CPU-heavy):
#   test/unit         core and extension logic, no model runs beyond tiny ones
#   test/webview      the panel and sidebar bundles in headless Chromium
#   test/integration  the CLI and the real worker on the demo model (and the shared fixture when
#                     ../shared is present; those tests say they are skipped otherwise)
#   test/e2e          the user's journey in a real VS Code (code-server) driven through Chromium
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh
sh scripts/e2e/setup.sh
# Types are checked, not hoped for: esbuild and tsx strip them, so tsc runs here (strict, no emit):
# src without DOM types, webview without Node types, then everything with the tests and scripts.
npm run --silent typecheck
# The layering (core never imports vscode or the host; webviews only the contract and the protocol).
npm run --silent lint
# One formatting (prettier; `npm run format` writes it).
npm run --silent format:check
node scripts/build.mjs
exec node --import tsx --test --test-concurrency=1 \
  test/unit/*.test.ts test/webview/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts
