/**
 * The dense model's perplexity, cached per model + text + seqlen + window limit + execution
 * provider, so that repeated runs on one model evaluate the dense model once. Keyed by paths,
 * sizes and modification times (hashing tens of gigabytes would cost more than it saves).
 * Stored under $TRIM_CACHE_DIR, else $XDG_CACHE_HOME/trim-vscode, else the system temp folder.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EvalResult } from '../contract';
import type { Checkpoint } from './checkpoint';

export function cacheDir(): string {
  if (process.env.TRIM_CACHE_DIR) return process.env.TRIM_CACHE_DIR;
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, 'trim-vscode');
  return path.join(os.tmpdir(), 'trim-vscode-cache');
}

function stamp(file: string): string {
  const st = fs.statSync(file);
  return `${path.resolve(file)}:${st.size}:${st.mtimeMs}`;
}

export function denseKey(ckpt: Checkpoint, text: string, seqlen: number, maxWindows: number | null, ep: string): string {
  const h = createHash('sha256');
  for (const f of ckpt.shardFiles) h.update(stamp(path.join(ckpt.dir, f)));
  h.update(stamp(path.join(ckpt.dir, 'tokenizer.json')));
  h.update(stamp(text));
  h.update(`${seqlen}:${maxWindows}:${ep}:v1`);
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
