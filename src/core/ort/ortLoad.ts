/**
 * What `require('onnxruntime-node')` gives the bundles (scripts/build.mjs points the import here):
 * the CUDA-enabled private copy that `gpu setup` installed, by absolute path, when there is one
 * (paths.ts activeInstall: $TRIM_ORT_DIR, set by the extension for its worker, else the CLI's
 * cache), else onnxruntime-node from node_modules as before. Both are onnxruntime-node 1.29.0 with
 * the same libonnxruntime.so.1: a CPU run computes the same bytes either way.
 * Tests that run the sources directly (tsx) import onnxruntime-node itself.
 */
import type * as Ort from 'onnxruntime-node';
import * as path from 'node:path';
import { activeInstall } from '../gpu/paths';

function load(): typeof Ort {
  const g = globalThis as { __trimOrtInstall?: string | null };
  const install = activeInstall();
  g.__trimOrtInstall = null;
  if (install) {
    try {
      // A computed path: esbuild leaves this require to run time.
      const ort = require(path.join(install, 'node_modules', 'onnxruntime-node')) as typeof Ort;
      g.__trimOrtInstall = install;
      return ort;
    } catch (e) {
      // A complete install that does not load (a library changed under it): the CPU build, said once.
      process.stderr.write(
        `warning: ONNX Runtime in ${install} could not be loaded (${String((e as Error).message).split('\n')[0]}); using the CPU build. \`trim gpu setup --force\` reinstalls it.\n`,
      );
    }
  }
  return require('onnxruntime-node') as typeof Ort;
}
module.exports = load();
