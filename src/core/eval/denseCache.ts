/**
 * The dense model's perplexity, cached per model + text + seqlen + window limit + execution
 * provider, so that repeated runs on one model evaluate the dense model once. Keyed by what
 * decides the figure (sourceKey.ts): the content of config.json, the tokenizer files, the index
 * and the text, and each shard's size, time, header and sampled pieces. Stored in cacheDir()
 * (cacheFiles.ts).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { EvalResult } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { checkpointStamps, contentDigest } from '../model/sourceKey';
import { cacheDir, readJson, writeJson } from '../cacheFiles';

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
  const r = readJson<EvalResult>(path.join(cacheDir(), `dense-${key}.json`));
  return r && Number.isFinite(r.perplexity) ? r : null;
}

export function writeDense(key: string, r: EvalResult): void {
  writeJson(path.join(cacheDir(), `dense-${key}.json`), r);
}
