/**
 * The engine's cache folder and its entries (dense perplexity, baseline reports, AlphaPruning α
 * and shard digests): JSON files read leniently (a missing or unreadable entry is a miss) and
 * written whole (a temporary file renamed into place), where a write that fails only costs time.
 * Stored under $TRIM_CACHE_DIR, else $XDG_CACHE_HOME/trim-vscode, else the system temp folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function cacheDir(): string {
  if (process.env.TRIM_CACHE_DIR) return process.env.TRIM_CACHE_DIR;
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, 'trim-vscode');
  return path.join(os.tmpdir(), 'trim-vscode-cache');
}

/** A cache entry's parsed JSON, or null when it is missing or unreadable. */
export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Writes a cache entry whole: a temporary file renamed into place. */
export function writeJson(file: string, value: unknown): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify(value));
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
