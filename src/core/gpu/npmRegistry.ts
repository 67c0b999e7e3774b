/**
 * The package that `gpu setup` installs and where it comes from: the pinned provider package (or
 * $TRIM_GPU_PACKAGE), the registry npm is configured for, and that registry's metadata of the
 * package: its tarball URL, refused unless the published integrity equals the pinned one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TrimError } from '../errors';
import { PROVIDER_PACKAGE } from './paths';
import type { SetupOptions } from './setup';

export interface PackageSpec {
  name: string;
  version: string;
  integrity: string;
  /** Folder of the provider libraries inside the tarball. */
  folder: string;
}

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

/**
 * The registry npm would use, for the simple cases: $npm_config_registry, else a `registry=`
 * line of the project's (cwd) or the user's .npmrc, else registry.npmjs.org. Scoped registries
 * and credentials are not read (the package is public and unscoped).
 */
export function configuredRegistry(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const fromEnv = env.npm_config_registry ?? env.NPM_CONFIG_REGISTRY;
  if (fromEnv) return fromEnv;
  for (const rc of [path.join(cwd, '.npmrc'), path.join(env.HOME ?? os.homedir(), '.npmrc')]) {
    try {
      const m = /^\s*registry\s*=\s*(\S+)\s*$/m.exec(fs.readFileSync(rc, 'utf8'));
      if (m) return m[1].replace(/\$\{([^}]+)\}/g, (_, v: string) => env[v] ?? '');
    } catch {
      // no such file
    }
  }
  return DEFAULT_REGISTRY;
}

/** The package to install: the pinned one, or $TRIM_GPU_PACKAGE (JSON PackageSpec; for mirrors and tests). */
export function packageSpec(env: NodeJS.ProcessEnv = process.env): PackageSpec {
  if (!env.TRIM_GPU_PACKAGE) return PROVIDER_PACKAGE;
  const p = JSON.parse(env.TRIM_GPU_PACKAGE) as Partial<PackageSpec>;
  if (!p.name || !p.version || !/^sha512-/.test(p.integrity ?? ''))
    throw new TrimError('E_OPTION', 'TRIM_GPU_PACKAGE must name a package, a version and its sha512 integrity.');
  return { folder: PROVIDER_PACKAGE.folder, ...p } as PackageSpec;
}

/** The error of a registry or download that could not be reached, with how to bring the package in by hand. */
export function offline(what: string, cause: unknown, pkg: PackageSpec, url: string): TrimError {
  const c = cause as { cause?: { code?: string; message?: string }; message?: string };
  const why = c?.cause?.code ?? c?.cause?.message ?? c?.message ?? String(cause);
  return new TrimError(
    'E_NETWORK',
    `Could not ${what} (${why}; ${url}). Check the network connection or proxy, or bring the package in by hand: ` +
      `on a machine with network run \`npm pack ${pkg.name}@${pkg.version}\` (or \`trim gpu setup --save-tarball FILE\`), copy the .tgz here and run \`trim gpu setup --from FILE\`.`,
  );
}

/** The tarball URL of `pkg` in `registry`, after checking that the registry publishes the pinned integrity. */
export async function registryTarball(
  pkg: PackageSpec,
  registry: string,
  signal: AbortSignal | undefined,
  onProgress: SetupOptions['onProgress'],
): Promise<{ url: string; integrity: string }> {
  const url = `${registry.replace(/\/+$/, '')}/${pkg.name}`;
  onProgress?.({ phase: 'metadata', done: 0, total: null });
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8' } });
  } catch (e) {
    if (signal?.aborted) throw new TrimError('E_CANCELLED', 'Cancelled; nothing was installed.');
    throw offline('reach the npm registry', e, pkg, url);
  }
  if (!res.ok) throw offline('read the package metadata', new Error(`HTTP ${res.status}`), pkg, url);
  let meta: { versions?: Record<string, { dist?: { tarball?: string; integrity?: string } }> };
  try {
    meta = (await res.json()) as typeof meta;
  } catch (e) {
    if (signal?.aborted) throw new TrimError('E_CANCELLED', 'Cancelled; nothing was installed.');
    throw offline('read the package metadata', e, pkg, url);
  }
  const dist = meta.versions?.[pkg.version]?.dist;
  if (!dist?.tarball)
    throw new TrimError(
      'E_NETWORK',
      `The registry ${registry} has no ${pkg.name}@${pkg.version}. Use a registry that mirrors npm's, or bring the tarball in by hand with --from FILE.`,
    );
  if (dist.integrity !== pkg.integrity) {
    throw new TrimError(
      'E_INTEGRITY',
      `The registry ${registry} publishes ${pkg.name}@${pkg.version} with integrity ${dist.integrity ?? '(none)'}, not ${pkg.integrity} as published on registry.npmjs.org; refused, nothing was installed.`,
    );
  }
  return { url: dist.tarball, integrity: dist.integrity };
}
