/**
 * Pruning scores and masks (REFERENCE.md §2): Wanda |W|·sqrt(norm2) or magnitude |W|; each row
 * ordered by ascending score (stable); a row with sparsity s loses its floor(in·s) lowest
 * scores; N:M prunes the N lowest of every M consecutive weights of a row.
 */
import type { ScoreKind } from '../../contract';
import type { InputGroup } from '../model/familyLayout';
import type { BlockStats } from '../ort/runner';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Score of every weight, float32 as in the reference. */
export function scoreMatrix(W: Float32Array, rows: number, cols: number, kind: ScoreKind, norm2: Float64Array | null): Float32Array {
  const s = new Float32Array(rows * cols);
  if (kind === 'magnitude' || !norm2) {
    for (let i = 0; i < s.length; i++) s[i] = Math.abs(W[i]);
    return s;
  }
  const col = new Float32Array(cols);
  for (let c = 0; c < cols; c++) col[c] = Math.sqrt(Math.fround(norm2[c]));
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) s[o + c] = Math.abs(W[o + c]) * col[c];
  }
  return s;
}

/**
 * Rank of each weight within its row by ascending score, ties broken by column (a stable sort).
 * A non-negative float32's bit pattern orders like its value, so bits·2^21 + column is an exact
 * float64 sort key for rows up to 2^21 wide.
 */
export function rowRanks(score: Float32Array, rows: number, cols: number): Float32Array {
  if (cols > 1 << 21) throw new Error(`rows of ${cols} columns are too wide to rank`);
  const rank = new Float32Array(rows * cols);
  const keys = new Float64Array(cols);
  const SHIFT = 2 ** 21;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      f32buf[0] = score[o + c];
      keys[c] = u32buf[0] * SHIFT + c;
    }
    keys.sort();
    for (let j = 0; j < cols; j++) rank[o + (keys[j] % SHIFT)] = j;
  }
  return rank;
}

/** Mask (1 = pruned) for per-row sparsities: a row loses its floor(cols·s_r) lowest-ranked weights. */
export function maskFromRanks(rank: Float32Array, rows: number, cols: number, prunedPerRow: Int32Array): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const k = prunedPerRow[r];
    const o = r * cols;
    for (let c = 0; c < cols; c++) if (rank[o + c] < k) mask[o + c] = 1;
  }
  return mask;
}

/** floor(cols · s_r) per row, in float32 arithmetic as the TRIM search does. */
export function prunedCounts(s: Float32Array, cols: number): Int32Array {
  const k = new Int32Array(s.length);
  for (let r = 0; r < s.length; r++) k[r] = Math.max(0, Math.floor(Math.fround(s[r] * cols)));
  return k;
}

/** floor(cols · T) for every row (plain Wanda, in float64 as Python's int(cols*T)). */
export function uniformCounts(rows: number, cols: number, target: number): Int32Array {
  return new Int32Array(rows).fill(Math.floor(cols * target));
}

/** N:M: in every group of M consecutive columns, prune the N lowest scores (ties: lower column first). */
export function nmMask(score: Float32Array, rows: number, cols: number, n: number, m: number): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  const idx = Array.from({ length: m }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g + m <= cols; g += m) {
      const o = r * cols + g;
      idx.sort((a, b) => score[o + a] - score[o + b] || a - b);
      for (let j = 0; j < n; j++) mask[o + idx[j]] = 1;
      for (let j = 0; j < m; j++) idx[j] = j;
    }
  }
  return mask;
}

/** Wanda's norm2: the mean over windows of each channel's sum of squares. */
export function norm2(stats: BlockStats, g: InputGroup, nsamples: number): Float64Array {
  const s = stats.sumsq.get(g)!;
  const out = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s[i] / nsamples;
  return out;
}
