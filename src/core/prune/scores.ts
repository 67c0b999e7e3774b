/**
 * Pruning scores and masks (REFERENCE.md §2): Wanda |W|·sqrt(norm2) or magnitude |W|; each row
 * ordered by ascending score (stable); a row with sparsity s loses its floor(in·s) lowest
 * scores; N:M prunes the N lowest of every M consecutive weights of a row.
 *
 * Each step in two versions side by side: on the host (typed arrays: the block-by-block path) and
 * as graph operations (`…Ops`, added to a GraphBuilder: the fused graph, prune/fused/fusedGraph.ts), which
 * compute the same values.
 */
import type { ScoreKind } from '../../contract';
import type { InputGroup } from '../model/familyLayout';
import type { BlockStats } from '../ort/runner';
import { T, type GraphBuilder } from '../ort/graphs/builder';

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

/** scoreMatrix as graph operations: |W|, for Wanda times sqrt(norm2) taken in float32 (norm2 from the float64 sums of squares: norm2Ops). */
export function scoreOps(b: GraphBuilder, W: string, kind: ScoreKind, sumsq: string, nsamples: number): string {
  const abs = b.op('Abs', [W]);
  if (kind !== 'wanda') return abs;
  return b.op('Mul', [abs, b.op('Sqrt', [b.op('Cast', [norm2Ops(b, sumsq, nsamples)], { to: T.FLOAT })])]);
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

/** Rank of each weight in its row by ascending score: a full TopK per row, scattered back (ties: lower column first). */
export function rowRanksOps(b: GraphBuilder, root: GraphBuilder, score: string, cols: number): string {
  const [, order] = b.opN('TopK', [score, b.int64([cols])], 2, { axis: -1, largest: 0, sorted: 1 });
  return b.op('ScatterElements', [score, order, columnIndex(b, root, score, cols)], { axis: 1 });
}

/**
 * [rows, cols] float32 column index of every entry, built from the scores (score·0 + [0..cols))
 * rather than over constants only, which ORT would fold into an initializer of the matrix's size
 * at session creation (0.5 GB per shape at 7B; session creation 7.1 s, measured on the H200).
 */
function columnIndex(b: GraphBuilder, root: GraphBuilder, score: string, cols: number): string {
  return b.op('Add', [
    b.op('Mul', [score, b.float([0], [])]),
    root.float(
      Float32Array.from({ length: cols }, (_, i) => i),
      [cols],
    ),
  ]);
}

/**
 * The same ranks as rowRanksOps from two sorts of the whole matrix: by score (stable, so equal
 * scores keep their flat order, i.e. their column order within a row), then by row (stable, so
 * each row keeps that order). ORT's CUDA TopK sorts a long axis with one radix sort per row
 * (several kernel launches each: ~50,000 rows per 7B block); this is two sorts per matrix.
 */
export function flatRanksOps(b: GraphBuilder, root: GraphBuilder, score: string, rows: number, cols: number): string {
  const n = rows * cols;
  const flat = b.op('Reshape', [score, b.int64([n])]);
  const [, o1] = b.opN('TopK', [flat, b.int64([n])], 2, { axis: 0, largest: 0, sorted: 1 });
  const rowOf = b.op('Cast', [b.op('Div', [o1, b.int64([cols], [])])], { to: T.FLOAT });
  const [, o2] = b.opN('TopK', [rowOf, b.int64([n])], 2, { axis: 0, largest: 0, sorted: 1 });
  const idx = b.op('Gather', [o1, o2], { axis: 0 });
  // Position within the row of each sorted entry: 0..cols-1 repeated.
  const pos = b.op('Reshape', [columnIndex(b, root, score, cols), b.int64([n])]);
  return b.op('Reshape', [b.op('ScatterElements', [flat, idx, pos], { axis: 0 }), b.int64([rows, cols])]);
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

/** maskFromRanks as graph operations, as its complement: bool [rows, cols], true where rank ≥ the row's count (kept). */
export function keepFromRanksOps(b: GraphBuilder, rank: string, prunedPerRow: string): string {
  return b.op('GreaterOrEqual', [rank, b.op('Unsqueeze', [prunedPerRow, b.int64([1])])]);
}

/** floor(cols · s_r) per row, in float32 arithmetic as the TRIM search does. */
export function prunedCounts(s: Float32Array, cols: number): Int32Array {
  const k = new Int32Array(s.length);
  for (let r = 0; r < s.length; r++) k[r] = Math.max(0, Math.floor(Math.fround(s[r] * cols)));
  return k;
}

/** prunedCounts as graph operations: floor(cols · s) per row in float32 (float32 [rows]). */
export function prunedCountsOps(g: GraphBuilder, s: string, cols: number): string {
  return g.op('Floor', [g.op('Mul', [s, g.float([cols], [])])]);
}

/** floor(cols · T) for every row (plain Wanda, in float64 as Python's int(cols*T)). */
export function uniformCounts(rows: number, cols: number, target: number): Int32Array {
  return new Int32Array(rows).fill(Math.floor(cols * target));
}

/** uniformCounts as graph operations: floor(cols · T) of the float64 scalar T, as one float32 scalar for every row. */
export function uniformCountsOps(b: GraphBuilder, target: string, cols: number): string {
  return b.op('Cast', [b.op('Floor', [b.op('Mul', [target, b.double([cols], [])])])], { to: T.FLOAT });
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

/** norm2 as graph operations: the float64 sums of squares [channels] over the windows' count. */
export function norm2Ops(b: GraphBuilder, sumsq: string, nsamples: number): string {
  return b.op('Div', [sumsq, b.double([nsamples], [])]);
}
