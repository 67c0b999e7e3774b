/**
 * Checkpoints in the local Hugging Face cache, laid out as `huggingface_hub` writes it:
 *
 *   $HF_HUB_CACHE (else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)
 *     models--ORG--NAME/
 *       refs/main                   the commit hash `main` points to
 *       snapshots/<commit>/FILE     links into blobs/ (or plain files where links are not possible)
 *       blobs/<etag>
 *
 * The scan is @huggingface/hub's `scanCacheDir`; this module picks from each model the snapshot
 * to offer (the one `refs/main` names, else the newest), reads its config.json and says whether
 * TRIM supports the family. `resolveModel` turns a model id (ORG/NAME) that is in the cache into
 * its snapshot folder, for the CLI's --model. No `vscode` import.
 */
import { getHFHubCachePath, scanCacheDir } from '@huggingface/hub';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import type { Family } from '../../contract';
import { parseConfig } from './config';
import { TrimError } from '../errors';

/** The hub cache folder, as huggingface_hub finds it (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME). */
export function hubCacheDir(): string {
  return getHFHubCachePath();
}

/** The Hugging Face folder holding `token` (HF_HOME, else XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface). */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'huggingface');
}

/** The access token for gated models: HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the file `huggingface-cli login` writes. */
export function hfToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = (env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN)?.trim();
  if (fromEnv) return fromEnv;
  const file = env.HF_TOKEN_PATH ?? path.join(hfHome(env), 'token');
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

export interface CachedModel {
  /** ORG/NAME. */
  id: string;
  /** The snapshot folder to prune (holds config.json and the weights, as links into blobs/). */
  path: string;
  commit: string;
  /** Refs naming the snapshot (["main"], or [] for a snapshot no ref names). */
  refs: string[];
  /** Bytes of the snapshot's files (their blobs). */
  size: number;
  /** The architecture config.json names, and whether TRIM supports it (null: why not). */
  architecture: string | null;
  family: Family | null;
  unsupported: string | null;
  /** The snapshot has *.safetensors weights. */
  safetensors: boolean;
}

/** The models in the cache (one snapshot each), supported families first, then by id. */
export async function scanHubCache(cacheDir: string = hubCacheDir()): Promise<{ models: CachedModel[]; warnings: string[] }> {
  let info: Awaited<ReturnType<typeof scanCacheDir>>;
  try {
    info = await scanCacheDir(cacheDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { models: [], warnings: [] };
    throw e;
  }
  const models: CachedModel[] = [];
  for (const repo of info.repos) {
    if (repo.id.type !== 'model' || repo.revisions.length === 0) continue;
    const rev =
      repo.revisions.find((r) => r.refs.includes('main')) ??
      repo.revisions.slice().sort((a, b) => b.lastModifiedAt.getTime() - a.lastModifiedAt.getTime())[0];
    const names = rev.files.map((f) => path.relative(rev.path, f.path));
    let architecture: string | null = null;
    let family: Family | null = null;
    let unsupported: string | null = null;
    try {
      const raw = JSON.parse(fs.readFileSync(path.join(rev.path, 'config.json'), 'utf8')) as { architectures?: unknown };
      architecture = Array.isArray(raw.architectures) ? String(raw.architectures[0]) : null;
      const cfg = parseConfig(raw, `${repo.id.name}/config.json`);
      family = cfg.family;
      architecture = cfg.architecture;
    } catch (e) {
      unsupported = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no config.json in the snapshot' : (e as Error).message;
    }
    const safetensors = names.some((n) => n.endsWith('.safetensors'));
    if (!unsupported && !safetensors) unsupported = 'no *.safetensors weights in the snapshot';
    models.push({
      id: repo.id.name,
      path: rev.path,
      commit: rev.commitOid,
      refs: rev.refs,
      size: rev.size,
      architecture,
      family,
      unsupported,
      safetensors,
    });
  }
  models.sort((a, b) => Number(a.unsupported !== null) - Number(b.unsupported !== null) || a.id.localeCompare(b.id));
  return { models, warnings: info.warnings.map((w) => w.message) };
}

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/**
 * `--model` as given: an existing folder is used as is; otherwise a model id (ORG/NAME) is looked
 * up in the cache and its snapshot folder returned (the one refs/main names, else the only one).
 * An ORG/NAME that is in neither place is an E_MODEL_NOT_FOUND error saying so; anything else
 * is returned unchanged (the checkpoint reader then says what is missing).
 */
export function resolveModel(model: string, cacheDir: string = hubCacheDir()): string {
  if (fs.existsSync(model) || !MODEL_ID.test(model)) return model;
  const repo = path.join(cacheDir, `models--${model.split('/').join('--')}`);
  if (!fs.existsSync(repo)) {
    if (!model.includes('/')) return model;
    throw new TrimError(
      'E_MODEL_NOT_FOUND',
      `${model} is neither a folder nor a model in the Hugging Face cache (${cacheDir}). Download it first (TRIM: Prune Model → Download by model id…, or \`huggingface-cli download ${model}\`), or give its checkpoint folder.`,
    );
  }
  const snapshots = path.join(repo, 'snapshots');
  let commit: string | null = null;
  try {
    commit = fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8').trim();
  } catch {
    const all = fs.existsSync(snapshots) ? fs.readdirSync(snapshots) : [];
    if (all.length === 1) commit = all[0];
    else {
      throw new TrimError(
        'E_MODEL_NOT_FOUND',
        `${model} is in the Hugging Face cache (${repo}) but has ${all.length === 0 ? 'no snapshot' : `${all.length} snapshots and no refs/main`}; pass the snapshot folder itself as --model.`,
      );
    }
  }
  const dir = path.join(snapshots, commit);
  if (!fs.existsSync(dir))
    throw new TrimError(
      'E_MODEL_NOT_FOUND',
      `${model}: refs/main of the Hugging Face cache names ${commit}, but ${dir} does not exist; download the model again.`,
    );
  return dir;
}
