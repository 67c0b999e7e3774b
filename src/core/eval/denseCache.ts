/**
 * The dense model's perplexity, cached per model + text + seqlen + window limit + execution
 * provider, so that repeated runs on one model evaluate the dense model once. Keyed by what
 * decides the figure (sourceKey.ts): the content of config.json, the tokenizer files, the index
 * and the text, and each shard's size, time, header and sampled pieces.
 * Stored under $TRIM_CACHE_DIR, else $XDG_CACHE_HOME/trim-vscode, else the system temp folder.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EvalResult } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { checkpointStamps, contentDigest } from '../model/sourceKey';

export function cacheDir(): string {
  if (process.env.TRIM_CACHE_DIR) return process.env.TRIM_CACHE_DIR;
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, 'trim-vscode');
  return path.join(os.tmpdir(), 'trim-vscode-cache');
}

export function denseKey(
  ckpt: Checkpoint,
  text: string,
  seqlen: number,
  maxWindows: number | null,
  ep: string,
  stamps: Record<string, string> = checkpointStamps(ckpt),
): string {
  const h = createHash('sha256');
  for (const [f, s] of Object.entries(stamps)) h.update(`${f}=${s}\n`);
  h.update(`text=${contentDigest(text)}\n`);
  h.update(`${seqlen}:${maxWindows}:${ep}:v2`);
  return h.digest('hex').slice(0, 32);
}

export function readDense(key: string): EvalResult | null {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(cacheDir(), `dense-${key}.json`), 'utf8')) as EvalResult;
    return Number.isFinite(r.perplexity) ? r : null;
  } catch {
    return null;
  }
}

export function writeDense(key: string, r: EvalResult): void {
  const file = path.join(cacheDir(), `dense-${key}.json`);
  try {
    fs.mkdirSync(cacheDir(), { recursive: true });
    fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify(r));
    fs.renameSync(`${file}.${process.pid}`, file);
  } catch {
    /* a cache that cannot be written only costs time; its temporary file goes (disk full) */
    try {
      fs.rmSync(`${file}.${process.pid}`, { force: true });
    } catch {
      /* nothing more to do */
    }
  }
}
