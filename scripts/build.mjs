// Builds every bundle with esbuild: the extension host, the worker, the CLI (Node, with
// onnxruntime-node kept external: it is a native module shipped per platform) and the webview
// bundles (browser). Usage: node scripts/build.mjs [--watch] [--minify]
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const watch = process.argv.includes('--watch');
const minify = process.argv.includes('--minify');

// Every import of onnxruntime-node resolves to src/core/ort/ortLoad.ts, which loads the private CUDA
// copy installed by `gpu setup` when there is one, else onnxruntime-node itself (kept external).
const ortLoader = path.resolve('src/core/ort/ortLoad.ts');
const ortPlugin = {
  name: 'ort-loader',
  setup(b) {
    b.onResolve({ filter: /^onnxruntime-node$/ }, (args) =>
      args.importer === ortLoader ? { path: 'onnxruntime-node', external: true } : { path: ortLoader },
    );
  },
};
const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify,
  external: ['vscode', 'onnxruntime-node'],
  logLevel: 'warning',
  plugins: [ortPlugin],
};
const browser = {
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  format: 'iife',
  sourcemap: true,
  minify,
  logLevel: 'warning',
};
const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' } },
  { ...node, entryPoints: { worker: 'src/worker/worker.ts', cli: 'src/cli.ts', tokenize: 'src/core/text/tokenizeWorker.ts' } },
  { ...browser, entryPoints: { 'webview/panel': 'webview/panel/main.ts', 'webview/sidebar': 'webview/sidebar/main.ts' } },
]
  .map((b) => ({
    ...b,
    // An entry whose source is not written yet is skipped with a notice, never silently.
    entryPoints: Object.fromEntries(
      Object.entries(b.entryPoints).filter(([name, p]) => {
        if (existsSync(p)) return true;
        console.warn(`build: skipping ${name} (${p} does not exist)`);
        return false;
      }),
    ),
    outdir: 'dist',
  }))
  .filter((b) => Object.keys(b.entryPoints).length > 0);

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
