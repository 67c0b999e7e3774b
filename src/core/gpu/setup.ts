/**
 * `gpu setup`: installs ONNX Runtime 1.29.0's CUDA provider beside a private copy of
 * onnxruntime-node's linux-x64 binding (layout in paths.ts).
 *
 * The provider libraries come from npm's tarball of com.github.asus4.onnxruntime.linux-x64-gpu
 * 0.4.9 (ORT 1.29.0, CUDA 13): its URL and sha512 integrity are read from the registry's metadata
 * (the registry configured for npm, else registry.npmjs.org; npmRegistry.ts), the integrity must
 * equal the one pinned here, and the downloaded bytes must hash to it (download.ts). `from` installs a tarball brought in by
 * hand (checked against the same pinned integrity); `providerDir` copies the libraries of a
 * provider that is already on the machine, refused unless it is ORT 1.29.0.
 *
 * Everything is written into a hidden partial folder beside the install and renamed into place
 * only when complete: an interrupted or failed setup leaves no install, and the next call removes
 * the partial folders of setups that are no longer running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar';
import { TrimError } from '../errors';
import {
  binDir,
  installDir,
  MANIFEST,
  npmOrtPackage,
  ORT_PINNED,
  PROVIDER_FILES,
  providerVersions,
  readInstall,
  type Manifest,
} from './paths';
import { pidAlive } from '../processes';
import { download, hashFile } from './download';
import { configuredRegistry, packageSpec, registryTarball, type PackageSpec } from './npmRegistry';

export interface SetupProgress {
  phase: 'metadata' | 'download' | 'verify' | 'extract' | 'copy';
  done: number;
  /** Bytes in all (download), or null when the server did not say. */
  total: number | null;
}

export interface SetupOptions {
  /** The base folder (the install goes to installDir(base)). */
  base: string;
  /** A tarball of the package brought in by hand. */
  from?: string;
  /** A folder holding an existing ORT 1.29.0 CUDA provider (libonnxruntime_providers_cuda.so …). */
  providerDir?: string;
  /** Registry URL (default: npm's configuration, else https://registry.npmjs.org). */
  registry?: string;
  /** Also keep the verified tarball here (to carry to a machine without network). */
  saveTarball?: string;
  /** Reinstall even when an install is present. */
  force?: boolean;
  pkg?: PackageSpec;
  signal?: AbortSignal;
  onProgress?: (p: SetupProgress) => void;
  env?: NodeJS.ProcessEnv;
}

export interface SetupResult {
  status: 'installed' | 'present';
  dir: string;
  manifest: Manifest;
  /** Bytes downloaded (0 unless from the registry). */
  downloaded: number;
  seconds: number;
  /** One line for the user. */
  message: string;
}

/** Removes the partial folders of setups whose process is gone. */
function removeStalePartials(parent: string, final: string): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  const prefix = `.${path.basename(final)}.partial-`;
  for (const n of names) {
    if (!n.startsWith(prefix) && !n.startsWith(`.${path.basename(final)}.old-`)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    const alive = n.startsWith(prefix) && Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid);
    if (!alive) fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  }
}

function copyTree(src: string, dst: string, keep: (rel: string) => boolean, rel = ''): void {
  for (const e of fs.readdirSync(path.join(src, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) copyTree(src, dst, keep, r);
    else if (e.isFile() && keep(r)) {
      fs.mkdirSync(path.dirname(path.join(dst, r)), { recursive: true });
      fs.copyFileSync(path.join(src, r), path.join(dst, r));
    }
  }
}

function listFiles(root: string, rel = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) Object.assign(out, listFiles(root, r));
    else if (e.isFile() && r !== MANIFEST) out[r] = fs.statSync(path.join(root, r)).size;
  }
  return out;
}

/** The private copy of onnxruntime-node 1.29.0's linux-x64 binding and JS, and of onnxruntime-common. */
function copyBinding(partial: string): void {
  const npm = npmOrtPackage();
  if (npm.version !== ORT_PINNED) throw new Error(`onnxruntime-node ${npm.version} is bundled; ${ORT_PINNED} was expected`);
  const node = path.join(partial, 'node_modules', 'onnxruntime-node');
  const bin = path.join('bin', 'napi-v6', 'linux', 'x64');
  copyTree(
    npm.node,
    node,
    (r) =>
      r === 'package.json' ||
      r === 'LICENSE' ||
      (r.startsWith('dist' + path.sep) && r.endsWith('.js')) ||
      r === path.join(bin, 'onnxruntime_binding.node') ||
      r === path.join(bin, 'libonnxruntime.so.1'),
  );
  if (!fs.existsSync(path.join(node, bin, 'libonnxruntime.so.1'))) throw new Error(`${npm.node} has no linux-x64 binding`);
  copyTree(
    npm.common,
    path.join(partial, 'node_modules', 'onnxruntime-common'),
    (r) => r === 'package.json' || r === 'LICENSE' || r.startsWith(path.join('dist', 'cjs') + path.sep),
  );
}

export async function setupGpu(o: SetupOptions): Promise<SetupResult> {
  const t0 = performance.now();
  const env = o.env ?? process.env;
  const pkg = o.pkg ?? packageSpec(env);
  const final = installDir(o.base);
  const parent = path.dirname(final);
  const seconds = (): number => (performance.now() - t0) / 1000;
  const present = readInstall(final);
  if (present && !o.force) {
    const src = 'providerDir' in present.source ? present.source.providerDir : `${present.source.package}@${present.source.version}`;
    return {
      status: 'present',
      dir: final,
      manifest: present,
      downloaded: 0,
      seconds: seconds(),
      message: `The CUDA provider (ONNX Runtime ${ORT_PINNED}, from ${src}) is already installed in ${final}; nothing to do (--force reinstalls).`,
    };
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new TrimError('E_EP', `The CUDA provider is installed on Linux x64 only (this is ${process.platform}-${process.arch}).`);
  }
  if (o.from && o.providerDir) throw new TrimError('E_OPTION', '--from and --provider-dir name two sources; give one.');
  fs.mkdirSync(parent, { recursive: true });
  removeStalePartials(parent, final);
  const partial = path.join(parent, `.${path.basename(final)}.partial-${process.pid}-${Date.now().toString(36)}`);
  fs.mkdirSync(partial);
  const bin = binDir(partial);
  let downloaded = 0;
  try {
    copyBinding(partial);
    o.onProgress?.({ phase: 'copy', done: 0, total: null });
    let source: Manifest['source'];
    if (o.providerDir) {
      const dir = path.resolve(o.providerDir);
      for (const f of PROVIDER_FILES) {
        if (!fs.existsSync(path.join(dir, f)))
          throw new TrimError(
            'E_EP',
            `--provider-dir ${dir} has no ${f}; name the folder that holds ONNX Runtime ${ORT_PINNED}'s CUDA provider libraries.`,
          );
      }
      const versions = providerVersions(dir);
      if (versions.length !== 1 || versions[0] !== ORT_PINNED) {
        throw new TrimError(
          'E_EP',
          `--provider-dir ${dir}: ${versions.length === 0 ? 'its ONNX Runtime version could not be told' : `it is ONNX Runtime ${versions.join(', ')}`}; TRIM uses onnxruntime-node ${ORT_PINNED}, and a provider of another version does not load into it. Run \`trim gpu setup\` without --provider-dir to install the ${ORT_PINNED} provider.`,
        );
      }
      for (const f of PROVIDER_FILES) fs.copyFileSync(path.join(dir, f), path.join(bin, f));
      source = { providerDir: dir };
    } else {
      let file: string;
      if (o.from) {
        file = path.resolve(o.from);
        if (!fs.existsSync(file)) throw new TrimError('E_OPTION', `--from ${file} does not exist.`);
      } else {
        const registry = o.registry ?? configuredRegistry(env);
        const { url } = await registryTarball(pkg, registry, o.signal, o.onProgress);
        file = path.join(partial, 'package.tgz');
        downloaded = (await download(url, file, pkg, o.signal, o.onProgress)).bytes;
      }
      o.onProgress?.({ phase: 'verify', done: 0, total: null });
      const got = await hashFile(file, o.signal);
      if (got !== pkg.integrity) {
        throw new TrimError(
          'E_INTEGRITY',
          `${o.from ? file : `The download of ${pkg.name}@${pkg.version}`} does not match the integrity published for ${pkg.name}@${pkg.version} (sha512 ${got.slice(7, 23)}…, expected ${pkg.integrity.slice(7, 23)}…): it is altered, truncated or another package; refused, nothing was installed.`,
        );
      }
      if (o.saveTarball) fs.copyFileSync(file, o.saveTarball);
      o.onProgress?.({ phase: 'extract', done: 0, total: null });
      const wanted = new Set(PROVIDER_FILES.map((f) => `${pkg.folder}/${f}`));
      await tar.x({
        file,
        cwd: bin,
        strip: pkg.folder.split('/').length,
        filter: (p, e) => wanted.has(p.replace(/^\.\//, '')) && (!('type' in e) || e.type === 'File'),
      });
      for (const f of PROVIDER_FILES) {
        if (!fs.existsSync(path.join(bin, f)))
          throw new TrimError('E_INTEGRITY', `${pkg.name}@${pkg.version} holds no ${pkg.folder}/${f}; nothing was installed.`);
      }
      if (!o.from) fs.rmSync(file);
      source = { package: pkg.name, version: pkg.version, integrity: pkg.integrity };
    }
    if (o.signal?.aborted) throw new TrimError('E_CANCELLED', 'Cancelled; nothing was installed.');
    const manifest: Manifest = { ortVersion: ORT_PINNED, source, installedAt: new Date().toISOString(), files: listFiles(partial) };
    fs.writeFileSync(path.join(partial, MANIFEST), JSON.stringify(manifest, null, 1));
    if (fs.existsSync(final)) {
      // A broken or forced-over install: moved aside, then removed.
      const old = path.join(parent, `.${path.basename(final)}.old-${process.pid}-${Date.now().toString(36)}`);
      fs.renameSync(final, old);
      fs.rmSync(old, { recursive: true, force: true });
    }
    try {
      fs.renameSync(partial, final);
    } catch (e) {
      // Another setup finished first: its install stands.
      if (!readInstall(final)) throw e;
      fs.rmSync(partial, { recursive: true, force: true });
    }
    const bytes = Object.values(manifest.files).reduce((a, b) => a + b, 0);
    return {
      status: 'installed',
      dir: final,
      manifest,
      downloaded,
      seconds: seconds(),
      message: `Installed ONNX Runtime ${ORT_PINNED}'s CUDA provider (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${final}${downloaded ? ` (downloaded ${(downloaded / 2 ** 20).toFixed(0)} MiB)` : ''}.`,
    };
  } catch (e) {
    fs.rmSync(partial, { recursive: true, force: true });
    if ((e as Error)?.name === 'AbortError' || o.signal?.aborted) throw new TrimError('E_CANCELLED', 'Cancelled; nothing was installed.');
    throw e;
  }
}
