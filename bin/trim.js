#!/usr/bin/env node
// The `trim` (and `trim-vscode`) command: runs the bundled command line, dist/cli.js. In a
// checkout where it has not been built yet, it builds it first when the build tools are installed
// (npm ci), else it says what to run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  const build = path.join(root, 'scripts', 'build.mjs');
  let esbuild = false;
  try { require.resolve('esbuild', { paths: [root] }); esbuild = true; } catch { /* not installed */ }
  if (!fs.existsSync(build) || !esbuild) {
    console.error(`error: ${cli} is missing and cannot be built here; run \`npm ci && npm run build\` in ${root}.`);
    process.exit(2);
  }
  console.error(`${path.basename(process.argv[1])}: building dist/ first (npm run build)…`);
  const r = spawnSync(process.execPath, [build], { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0 || !fs.existsSync(cli)) {
    console.error(`error: the build failed; run \`npm run build\` in ${root} and read its messages.`);
    process.exit(2);
  }
}
require(cli);
