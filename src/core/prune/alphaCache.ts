/**
 * The cache of AlphaPruning's per-layer α (alpha.ts computes them), and the walk over a
 * checkpoint's blocks that fills it.
 *
 * α depends only on the weights, so the per-layer values are cached per checkpoint under
 * cacheDir() (the dense-perplexity cache's folder), keyed by the SHA-256 of every shard's bytes.
 * Hashing a 15 GB 7B checkpoint takes tens of seconds, so each shard's digest is remembered by
 * (path, size, mtime): an unchanged file is hashed once, while a copied, moved or re-downloaded
 * checkpoint with the same bytes still finds its entry. The entry is written after every block,
 * so a cancelled run resumes where it stopped.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from '../model/checkpoint';
import type { Engine } from '../ort/engine';
import { cacheDir, readJson, writeJson } from '../cacheFiles';
import { ALPHA_BINS, GramRunner, layerAlpha, type AlphaWindow } from './alpha';

/** Bump when anything that changes a cached α changes. */
const CACHE_VERSION = 'alpha/1';

interface AlphaEntry {
  format: typeof CACHE_VERSION;
  window: AlphaWindow;
  bins: number;
  linears: string[];
  /** Per block, per linear (null: block not computed yet). */
  alphas: (number[] | null)[];
  /** Seconds spent per block when it was computed. */
  seconds: (number | null)[];
}

const HASHES = 'alpha-shard-hashes.json';

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 8 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** SHA-256 of a shard's bytes, remembered by (path, size, mtime) so an unchanged file is read once. */
export async function shardDigest(file: string): Promise<string> {
  const abs = path.resolve(file);
  const st = fs.statSync(abs);
  const stamp = `${abs}:${st.size}:${st.mtimeMs}`;
  const memoFile = path.join(cacheDir(), HASHES);
  const memo = readJson<Record<string, string>>(memoFile) ?? {};
  if (memo[stamp]) return memo[stamp];
  const digest = await sha256File(abs);
  const fresh = readJson<Record<string, string>>(memoFile) ?? {};
  fresh[stamp] = digest;
  writeJson(memoFile, fresh);
  return digest;
}

/** The cache key of a checkpoint's α: its shards' content hashes and the estimator's settings. */
export async function alphaKey(ckpt: Checkpoint, window: AlphaWindow = 'alphapruning'): Promise<string> {
  const h = createHash('sha256');
  h.update(`${CACHE_VERSION}:${window}:${ALPHA_BINS}:${ckpt.config.layers}\n`);
  for (const f of ckpt.shardFiles) h.update(`${f}:${await shardDigest(path.join(ckpt.dir, f))}\n`);
  return h.digest('hex').slice(0, 32);
}

export function alphaCacheFile(key: string): string {
  return path.join(cacheDir(), `alpha-${key}.json`);
}

export interface ModelAlphas {
  /** α per block, per linear (ckpt.layout.linears order). */
  alphas: number[][];
  /** Blocks whose α came from the cache. */
  cachedBlocks: number;
  key: string;
}

/**
 * α of every prunable linear of a checkpoint, from the cache where present. `onBlock` is called
 * after each block (computed or cached) with that block's α; `check` may throw to cancel.
 */
export async function computeModelAlphas(
  ckpt: Checkpoint,
  engine: Engine,
  hooks: { onBlock?: (b: number, alphas: number[], cached: boolean) => void; check?: () => void } = {},
  window: AlphaWindow = 'alphapruning',
): Promise<ModelAlphas> {
  const L = ckpt.config.layers;
  const linears = ckpt.layout.linears;
  const shapes = ckpt.linearShapes();
  const key = await alphaKey(ckpt, window);
  const file = alphaCacheFile(key);
  let entry = readJson<AlphaEntry>(file);
  const usable =
    entry &&
    entry.format === CACHE_VERSION &&
    entry.window === window &&
    entry.bins === ALPHA_BINS &&
    entry.alphas.length === L &&
    entry.linears.join() === linears.join();
  if (!usable)
    entry = { format: CACHE_VERSION, window, bins: ALPHA_BINS, linears, alphas: new Array(L).fill(null), seconds: new Array(L).fill(null) };
  const e = entry!;
  let cachedBlocks = 0;
  const gram = new GramRunner(engine);
  try {
    for (let b = 0; b < L; b++) {
      hooks.check?.();
      const have = e.alphas[b];
      if (have && have.length === linears.length && have.every(Number.isFinite)) {
        cachedBlocks++;
        hooks.onBlock?.(b, have, true);
        continue;
      }
      const t = performance.now();
      const { f32: w } = ckpt.readBlock(b);
      const row: number[] = [];
      for (let i = 0; i < linears.length; i++) {
        hooks.check?.();
        const [rows, cols] = shapes[i];
        row.push((await layerAlpha(gram, w.get(`${linears[i]}.weight`)!, rows, cols, window)).fit.alpha);
      }
      e.alphas[b] = row;
      e.seconds[b] = (performance.now() - t) / 1000;
      writeJson(file, e);
      hooks.onBlock?.(b, row, false);
    }
  } finally {
    await gram.release();
  }
  return { alphas: e.alphas as number[][], cachedBlocks, key };
}
