/**
 * Where the CUDA-enabled copy of ONNX Runtime lives, and whether it is whole. `gpu setup`
 * (setup.ts) installs it; the ORT loader (../ortLoad.ts), the doctor and the extension read it.
 *
 * Layout of an install (one folder, renamed into place only when complete):
 *   <base>/gpu/onnxruntime-1.29.0-cuda/
 *     node_modules/onnxruntime-node/    package.json, dist/*.js and bin/napi-v6/linux/x64/ with
 *                                       onnxruntime_binding.node, libonnxruntime.so.1 and, beside
 *                                       them, libonnxruntime_providers_{cuda,shared}.so
 *     node_modules/onnxruntime-common/  package.json, dist/cjs/**
 *     trim-gpu.json                     the manifest, written last: version, source, file sizes
 * ONNX Runtime loads a provider from the folder of libonnxruntime.so.1, so the provider libraries
 * sit beside the private copy of onnxruntime-node's binding, which is required by absolute path.
 * No vscode here: the CLI, the worker and the extension host share it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** onnxruntime-node is pinned to this version; a provider of any other version is refused. */
export const ORT_PINNED = '1.29.0';
/** npm's package that carries ORT 1.29.0's CUDA 13 provider libraries for linux-x64. */
export const PROVIDER_PACKAGE = {
  name: 'com.github.asus4.onnxruntime.linux-x64-gpu',
  version: '0.4.9',
  /** dist.integrity as the npm registry publishes it (checked for `--from` tarballs too). */
  integrity: 'sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w==',
  /** Where the provider libraries are inside its tarball. */
  folder: 'package/Plugins/Linux/x64',
};
/** The provider libraries an install needs (the package's TensorRT provider is left out). */
export const PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'] as const;
export const MANIFEST = 'trim-gpu.json';
const BIN = path.join('node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');

export interface Manifest {
  ortVersion: string;
  source: { package: string; version: string; integrity: string } | { providerDir: string };
  installedAt: string;
  /** Every installed file (relative path) and its size, checked before the install is used. */
  files: Record<string, number>;
}

/**
 * The CLI's per-user cache: $TRIM_CACHE_DIR, else $XDG_CACHE_HOME/trim-vscode, else
 * ~/.cache/trim-vscode. (The extension uses its global storage folder instead.)
 */
export function userCacheBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRIM_CACHE_DIR) return env.TRIM_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'trim-vscode');
  return path.join(os.homedir(), '.cache', 'trim-vscode');
}

export function installDir(base: string): string {
  return path.join(base, 'gpu', `onnxruntime-${ORT_PINNED}-cuda`);
}

/** The folder of the install's libonnxruntime.so.1 and provider libraries. */
export function binDir(install: string): string {
  return path.join(install, BIN);
}

/** The manifest of a complete install at `install`, or null (absent, partial, altered, other version). */
export function readInstall(install: string): Manifest | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(install, MANIFEST), 'utf8')) as Manifest;
    if (m.ortVersion !== ORT_PINNED || typeof m.files !== 'object') return null;
    for (const [f, size] of Object.entries(m.files)) if (fs.statSync(path.join(install, f)).size !== size) return null;
    return m;
  } catch {
    return null;
  }
}

/**
 * The install that this process should load ONNX Runtime from: $TRIM_ORT_DIR (set by the
 * extension for its worker; "npm" forces the npm copy), else the CLI's cache; null when there is
 * none (then `onnxruntime-node` from node_modules, as for every CPU user).
 */
export function activeInstall(env: NodeJS.ProcessEnv = process.env): string | null {
  const named = env.TRIM_ORT_DIR;
  if (named === 'npm') return null;
  const dir = named || installDir(userCacheBase(env));
  return readInstall(dir) ? dir : null;
}

/** The folder of the libonnxruntime.so.1 this process loads (a provider is looked for beside it). */
export function loadedOrtBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const g = (globalThis as { __trimOrtInstall?: string | null }).__trimOrtInstall;
  if (g) return binDir(g);
  if (g === undefined) {
    const a = activeInstall(env);
    if (a) return binDir(a);
  }
  return path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', 'linux', 'x64');
}

/** The npm copy of onnxruntime-node that an install is made from (its binding, its JS). */
export function npmOrtPackage(): { node: string; common: string; version: string } {
  const nodePkg = require.resolve('onnxruntime-node/package.json');
  const node = path.dirname(nodePkg);
  // onnxruntime-common as onnxruntime-node itself resolves it.
  // (its package.json is not among its exports: found above its entry point)
  let common = path.dirname(require.resolve('onnxruntime-common', { paths: [node] }));
  const isCommon = (d: string): boolean => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')) as { name?: string }).name === 'onnxruntime-common';
    } catch {
      return false;
    }
  };
  while (!isCommon(common) && path.dirname(common) !== common) common = path.dirname(common);
  const version = (JSON.parse(fs.readFileSync(nodePkg, 'utf8')) as { version: string }).version;
  return { node, common, version };
}

/**
 * The ONNX Runtime version of a provider folder, told two ways:
 *  1. a file named libonnxruntime.so.X.Y.Z beside the provider (ORT's release archives ship one);
 *  2. the version string that ORT compiles into libonnxruntime_providers_cuda.so (ORT_VERSION, a
 *     NUL-terminated "1.29.0" among its read-only strings; 1.29.0 was read there from the npm
 *     package's copy). The file is scanned for NUL-delimited strings "1.MM.P" with MM ≥ 10 (other
 *     version-like strings of the libraries it bundles are below that).
 * Both are read from the files themselves, so a renamed or symlinked file does not fool it.
 * Returns every version found (empty when none).
 */
export function providerVersions(dir: string): string[] {
  const found = new Set<string>();
  for (const f of fs.readdirSync(dir)) {
    const m = /^libonnxruntime\.so\.(\d+\.\d+\.\d+)$/.exec(f);
    if (m) found.add(m[1]);
  }
  const file = path.join(dir, PROVIDER_FILES[0]);
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(8 << 20);
    let carry = '';
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      pos += n;
      const text = carry + chunk.toString('latin1', 0, n);
      for (const m of text.matchAll(/\0(1\.[1-9]\d\.\d{1,3})\0/g)) found.add(m[1]);
      carry = text.slice(-16);
    }
  } finally {
    fs.closeSync(fd);
  }
  return [...found].sort();
}
