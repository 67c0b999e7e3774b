/**
 * Perplexity exactly as REFERENCE.md §4: the whole text tokenized once, split into
 * non-overlapping windows of `seqlen` tokens (the tail dropped); perplexity =
 * exp(mean over windows of the mean next-token cross-entropy within the window).
 */
import type { EvalResult } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { readHeadWeights, type Runner, type Activations } from '../ort/runner';
import { TrimError } from '../errors';

export interface EvalProgress {
  (done: number, total: number): void;
}

/** The one function that turns per-window mean losses into a perplexity. */
export function perplexityFromWindowLosses(losses: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < losses.length; i++) s += losses[i];
  return Math.exp(s / losses.length);
}

export function windowCount(tokens: number, seqlen: number, maxWindows: number | null): number {
  const n = Math.floor(tokens / seqlen);
  return maxWindows != null ? Math.min(n, maxWindows) : n;
}

/**
 * Evaluates a checkpoint on pre-tokenized text. `blockWeights(b)` supplies each block's float32
 * weights (read from disk for a saved checkpoint).
 */
export async function evaluatePerplexity(
  ckpt: Checkpoint,
  runner: Runner,
  ids: Int32Array,
  maxWindows: number | null,
  onProgress?: EvalProgress,
  checkCancel?: () => void,
): Promise<EvalResult> {
  const t0 = performance.now();
  const S = runner.seqlen;
  const windows = windowCount(ids.length, S, maxWindows);
  if (windows < 1)
    throw new TrimError(
      'E_TEXT',
      `The evaluation text has ${ids.length} tokens, fewer than one window of ${S}; use a longer text or a smaller --seqlen.`,
    );
  const c = ckpt.config;
  const lay = ckpt.layout;
  const use = ids.subarray(0, windows * S);
  const total = c.layers + 2;
  const embed = ckpt.readF32(lay.embed);
  let acts: Activations = await runner.embed(use, embed, lay.positions ? ckpt.readF32(lay.positions) : null);
  onProgress?.(1, total);
  for (let b = 0; b < c.layers; b++) {
    checkCancel?.();
    const { f32 } = ckpt.readBlock(b);
    acts = (await runner.runBlock(f32, acts, { stats: false, propagate: true })).out!;
    onProgress?.(b + 2, total);
  }
  const head = readHeadWeights(ckpt, embed);
  const losses = new Float64Array(windows);
  let w = 0;
  for (const x of acts) {
    checkCancel?.();
    const nWin = x.length / c.hidden / S;
    const targets = new BigInt64Array(nWin * S);
    for (let j = 0; j < nWin; j++) {
      const base = (w + j) * S;
      for (let t = 0; t < S - 1; t++) targets[j * S + t] = BigInt(use[base + t + 1]);
    }
    const { nll } = await runner.head(x, targets, head);
    for (let j = 0; j < nWin; j++) {
      let s = 0;
      for (let t = 0; t < S - 1; t++) s += nll[j * S + t];
      losses[w + j] = s / (S - 1);
    }
    w += nWin;
  }
  onProgress?.(total, total);
  return {
    perplexity: perplexityFromWindowLosses(losses),
    windows,
    tokens: ids.length,
    seqlen: S,
    seconds: (performance.now() - t0) / 1000,
  };
}
