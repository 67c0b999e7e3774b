/**
 * One ONNX graph that prunes a run of consecutive blocks without the activations leaving the
 * execution provider (issue: GPU faster than the reference). For each block of the run:
 *
 *   statistics  a Loop over chunks of windows: the dense block, Wanda sums of squares (float64
 *               accumulators) and every window's last-token inputs (TRIM's X)
 *   per linear  scores → row ranks (TopK + ScatterElements) → TRIM search as nested Loop/If
 *               (REFERENCE.md §3, the same arithmetic as trimSearch.ts) or the uniform count
 *               → pruned weight, in the stored dtype, and each row's zero count
 *   propagate   a Loop over chunks: the pruned block, whose outputs feed the next block
 *
 * Weights come in as stored (float32; float16; bfloat16 as uint16 bits, widened through a
 * 65,536-entry table), as graph inputs or as initializers that ORT reads from the checkpoint's
 * files (FusedSpec.external); the pruned weights go out in the same dtype, or as keep bits, so
 * the bus carries the checkpoint's bytes at most once each way; activations cross only at the
 * ends of the run.
 */
import type { LayerMetric, RowMetric, ScoreKind } from '../../../contract';
import type { ModelConfig } from '../../model/config';
import { INPUT_GROUPS, positionTableRows, type InputGroup } from '../../model/familyLayout';
import { toFloat32, type StoredDtype } from '../../model/dtype';
import { blockForward, embedScale, groupWidth, layerVariation, positionRows } from './decoder';
import { GraphBuilder, T } from './builder';
import { MetricOps } from './trimEval';
import { MAX_SPARSITY, NEGATIVE_LRS, POSITIVE_LRS } from '../../prune/trimSearch';

export interface FusedSpec {
  cfg: ModelConfig;
  seqlen: number;
  /** Windows per chunk (one Loop iteration) and chunks: windows = chunkWindows · chunks. */
  chunkWindows: number;
  chunks: number;
  /** Blocks pruned by one run (the trip count of the block Loop). */
  blocks: number;
  biases: Set<string>;
  /** Local names of the block's tensors, as fed (blockWeightNames). */
  weightNames: string[];
  /** Stored dtype of each block tensor, by local name. */
  dtypes: Map<string, StoredDtype>;
  /** Local names of the linears ('mlp.up_proj') with their input group and [out, in]. */
  linears: { name: string; group: InputGroup; rows: number; cols: number }[];
  /** The first run embeds token ids itself (dtype of the embedding table / OPT positions). */
  embed: { dtype: StoredDtype; positions: StoredDtype | null } | null;
  /** Emit the last block's outputs (the next run's inputs). */
  output: boolean;
  score: ScoreKind;
  trim: { iterations: number; forbidNegLr: boolean; layerMetric: LayerMetric; rowMetric: RowMetric } | null;
  /**
   * Block passes in float32, or in float16 as the authors run their model (norms and softmax in
   * float32; statistics, scores and the TRIM search in float32/float64 either way).
   */
  precision: 'float32' | 'float16';
  /** Attention in the block passes (decoder.ts ForwardOptions); 'gqa' needs float16 and CUDA. */
  attention: 'matmul' | 'gqa';
  /** Row ranks by a TopK per row ('row') or by two stable sorts of the whole matrix ('flat'); the same ranks. */
  ranks: 'row' | 'flat';
  /**
   * Return each linear's kept positions as bits (uint8 [blocks, rows, cols/8], bit j of byte i =
   * element 8i+j) instead of the pruned weight: the host already holds the weights, and at 7B the
   * pruned weights would be 14 GB through onnxruntime-node's slow device-to-host path (measured
   * on the H200: 1 GiB in 139 ms to the device, ~765 ms back). Needs cols divisible by 8.
   */
  masks: boolean;
  /** How keep bits are packed (packBitsOps). */
  pack: PackKind;
  /**
   * Where the weights come from: null, graph inputs (fed by the host on each run); else
   * initializers that ONNX Runtime reads from the checkpoint's files when the session is created
   * (ONNX external data), so that the host never holds them all.
   */
  external: {
    weight: (k: number, local: string) => ExternalRef;
    embed: ExternalRef | null;
    positions: ExternalRef | null;
  } | null;
}

/** A tensor's bytes in a file: its path relative to the session's external-data folder. */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
  shape: number[];
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

/** Input: float32 [blocks], 1 where the run's block is a sliding-window layer (where sliding and full layers mix: layerVariation). */
export const fusedLayers = 'layers.sliding';

/** The fusedLayers feed of the run [first, first + count), or null where the blocks compute alike. */
export function fusedLayerFeed(cfg: ModelConfig, seqlen: number, first: number, count: number): Float32Array | null {
  const types = cfg.features?.layerTypes;
  return types && layerVariation(cfg, seqlen)?.perBlock
    ? Float32Array.from(types.slice(first, first + count), (t) => (t === 'sliding' ? 1 : 0))
    : null;
}

/**
 * Input name of block k's (k-th of the run) weight, fed [1, ...shape]: one buffer per block and
 * tensor, so that the host can hand each to a worker thread afterwards; the graph concatenates them.
 */
export const fusedWeight = (local: string, k: number): string => `w.${local}.${k}`;
/** Output names, each stacked over the run's blocks. */
export const fusedOut = {
  weight: (linear: string): string => `${linear}.pruned`,
  zeros: (linear: string): string => `${linear}.zeros`,
  /** float64 [blocks, 5]: metric before, best metric, lr, iteration, metric after. */
  trim: (linear: string): string => `${linear}.trim`,
  /** uint8 [blocks, rows, cols/8]: kept positions as bits (masks mode). */
  keep: (linear: string): string => `${linear}.keep`,
  /** float32 [blocks, tensors]: count of non-finite values per block tensor, in weightNames order. */
  nonfinite: 'nonfinite',
  /** float32 [blocks]: count of non-finite values among the block's outputs and its linears' sums of squares of inputs. */
  actsFinite: 'acts.finite',
};

// 16-bit weights travel as their uint16 bits (onnxruntime-node's float16 tensors depend on the
// Node version: under Node 24 a Uint16Array fed as float16 arrives empty) and are widened through
// a table of all 65,536 patterns.
const ELEM: Record<StoredDtype, number> = { F32: T.FLOAT, F16: T.UINT16, BF16: T.UINT16 };

/** float32 value of every 16-bit pattern of `dt`. */
function widenTable(dt: 'F16' | 'BF16'): Uint8Array {
  const bits = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) bits[i] = i;
  const f = toFloat32(new Uint8Array(bits.buffer), dt);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/**
 * The run is one Loop over its blocks: the weights come stacked [blocks, ...], each iteration
 * takes its block's slice, and the activations are the Loop's carried state; so the graph (and
 * the session's creation time) does not grow with the number of blocks per run.
 */
export function buildFusedGraph(s: FusedSpec): Uint8Array {
  const g = new GraphBuilder('trim_fused');
  const { cfg } = s;
  const S = s.seqlen;
  const H = cfg.hidden;
  const N = s.chunkWindows * s.chunks;
  const half = s.precision === 'float16';
  const ACT = half ? T.FLOAT16 : T.FLOAT;
  const luts = new Map<StoredDtype, string>();
  const widen = (b: GraphBuilder, v: string, dt: StoredDtype): string => {
    if (dt === 'F32') return v;
    let lut = luts.get(dt);
    if (!lut) luts.set(dt, (lut = g.initRaw(`${dt.toLowerCase()}_table`, T.FLOAT, [65536], widenTable(dt))));
    return b.op('Gather', [lut, b.op('Cast', [v], { to: T.INT32 })], { axis: 0 });
  };
  const countBad = (b: GraphBuilder, w: string): string =>
    b.op('ReduceSum', [b.op('Cast', [b.op('Or', [b.op('IsNaN', [w]), b.op('IsInf', [w])])], { to: T.FLOAT })], { keepdims: 0 });

  // Activations [chunks, chunkWindows·S, H].
  let h: string;
  if (s.embed) {
    const ids = g.input('ids', T.INT64, [N * S]);
    const E = globalWeight(g, s, 'embed', ELEM[s.embed.dtype], [cfg.vocab, H], s.external?.embed);
    g.output(countBad(g, widen(g, E, s.embed.dtype)), 'embed.nonfinite', T.FLOAT);
    let x = embedScale(g, cfg, widen(g, g.op('Gather', [E, ids], { axis: 0 }), s.embed.dtype)); // [N·S, H]
    const rows = positionRows(cfg, S);
    if (s.embed.positions && rows) {
      const P = globalWeight(g, s, 'positions', ELEM[s.embed.positions], [positionTableRows(cfg), H], s.external?.positions);
      const pe = widen(g, g.op('Gather', [P, g.int64(rows)], { axis: 0 }), s.embed.positions);
      x = g.op('Add', [g.op('Reshape', [x, g.int64([N, S, H])]), pe]);
    }
    h = g.op('Reshape', [x, g.int64([s.chunks, s.chunkWindows * S, H])]);
  } else {
    h = g.input('h', T.FLOAT, [s.chunks, s.chunkWindows * S, H]);
  }
  if (half) h = g.op('Cast', [h], { to: T.FLOAT16 });
  const targets = g.input('targets', T.DOUBLE, [s.blocks]);
  // Sliding and full layers mixed: per block of the run, 1 for a sliding-window layer, else 0 (fusedLayerFeed).
  const layerTypes = layerVariation(cfg, S)?.perBlock ? g.input(fusedLayers, T.FLOAT, [s.blocks]) : null;
  const stacked = new Map<string, string>();
  for (const name of s.weightNames) {
    const parts = Array.from({ length: s.blocks }, (_, k) => {
      const type = ELEM[s.dtypes.get(name)!];
      if (!s.external) return g.input(fusedWeight(name, k), type, null);
      const r = s.external.weight(k, name);
      return g.initExternal(fusedWeight(name, k), type, [1, ...r.shape], r.location, r.offset, r.length);
    });
    stacked.set(name, parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: 0 }));
  }

  // The block body.
  const bb = g.sub('block');
  const k = bb.input(bb.fresh('k'), T.INT64, []);
  const bcond = bb.input(bb.fresh('cond'), T.BOOL, []);
  const hIn = bb.input(bb.fresh('h'), ACT, null);
  const chunkCount = bb.int64([s.chunks], []);
  const layer = layerTypes ? bb.op('Gather', [layerTypes, k], { axis: 0 }) : undefined;
  const zeroF = bb.float([0], []);
  const raw = new Map<string, string>();
  const dense = new Map<string, string>();
  for (const name of s.weightNames) {
    const v = bb.op('Gather', [stacked.get(name)!, k], { axis: 0 });
    raw.set(name, v);
    dense.set(name, widen(bb, v, s.dtypes.get(name)!));
  }
  const scans: { value: string; name: string; type: number }[] = [];
  scans.push({
    value: bb.op(
      'Concat',
      s.weightNames.map((n) => bb.op('Reshape', [countBad(bb, dense.get(n)!), bb.int64([1])])),
      { axis: 0 },
    ),
    name: fusedOut.nonfinite,
    type: T.FLOAT,
  });
  const forBlock = (m: Map<string, string>): Map<string, string> => {
    if (!half) return m;
    const out = new Map<string, string>();
    for (const [n, v] of m) out.set(n, bb.op('Cast', [v], { to: T.FLOAT16 }));
    return out;
  };
  const denseAct = forBlock(dense);

  // Statistics: Loop over chunks with the dense block.
  const sb = bb.sub('stats');
  const it = sb.input(sb.fresh('it'), T.INT64, []);
  const cin = sb.input(sb.fresh('cond'), T.BOOL, []);
  const accIn = INPUT_GROUPS.map(() => sb.input(sb.fresh('acc'), T.DOUBLE, null));
  const fw = blockForward(sb, g, cfg, S, s.biases, sb.op('Gather', [hIn, it], { axis: 0 }), (n) => denseAct.get(n)!, {
    half,
    withOutput: false,
    attention: s.attention,
    layer,
  });
  const f32 = (b: GraphBuilder, v: string): string => (half ? b.op('Cast', [v], { to: T.FLOAT }) : v);
  sb.output(cin, sb.fresh('cond_out'), T.BOOL);
  INPUT_GROUPS.forEach((grp, i) => {
    const ss = sb.op('Cast', [sb.op('ReduceSumSquare', [f32(sb, fw.captured.get(grp)!)], { axes: [0], keepdims: 0 })], { to: T.DOUBLE });
    sb.output(sb.op('Add', [accIn[i], ss]), sb.fresh('acc_out'), T.DOUBLE);
  });
  for (const grp of INPUT_GROUPS) {
    const dims = groupWidth(cfg, grp);
    const t3 = sb.op('Reshape', [fw.captured.get(grp)!, sb.int64([-1, S, dims])]);
    const last = sb.op('Slice', [t3, sb.int64([S - 1]), sb.int64([S]), sb.int64([1])]);
    sb.output(f32(sb, sb.op('Reshape', [last, sb.int64([-1, dims])])), sb.fresh('last'), T.FLOAT);
  }
  const accInit = INPUT_GROUPS.map((grp) => g.double(new Array(groupWidth(cfg, grp)).fill(0)));
  const statOut = bb.opN('Loop', [chunkCount, '', ...accInit], 8, { body: { graph: sb.graph() } });
  const sumsq = new Map<InputGroup, string>();
  const lastX = new Map<InputGroup, string>();
  INPUT_GROUPS.forEach((grp, i) => {
    sumsq.set(grp, statOut[i]);
    lastX.set(grp, bb.op('Reshape', [statOut[4 + i], bb.int64([N, groupWidth(cfg, grp)])]));
  });

  // Prune each linear.
  const Tk = bb.op('Gather', [targets, k], { axis: 0 }); // float64 scalar
  const pruned = new Map(dense);
  for (const lin of s.linears) {
    const wname = `${lin.name}.weight`;
    const W = dense.get(wname)!;
    const { rows, cols } = lin;
    let score = bb.op('Abs', [W]);
    if (s.score === 'wanda') {
      const norm2 = bb.op('Div', [sumsq.get(lin.group)!, bb.double([N], [])]);
      score = bb.op('Mul', [score, bb.op('Sqrt', [bb.op('Cast', [norm2], { to: T.FLOAT })])]);
    }
    const rank = s.ranks === 'flat' ? flatRanksOps(bb, g, score, rows, cols) : rowRanksOps(bb, g, score, cols);
    let keep: string;
    if (s.trim) {
      const r = trimSearchOps(bb, { W, rank, X: lastX.get(lin.group)!, rows, cols, T: Tk }, s.trim);
      keep = bb.op('GreaterOrEqual', [rank, bb.op('Unsqueeze', [floorCounts(bb, r.s, cols), bb.int64([1])])]);
      scans.push({ value: r.info, name: fusedOut.trim(lin.name), type: T.DOUBLE });
    } else {
      const kU = bb.op('Cast', [bb.op('Floor', [bb.op('Mul', [Tk, bb.double([cols], [])])])], { to: T.FLOAT });
      keep = bb.op('GreaterOrEqual', [rank, kU]);
    }
    const Wp = bb.op('Where', [keep, W, zeroF]);
    pruned.set(wname, Wp);
    const zeros = bb.op('ReduceSum', [bb.op('Cast', [bb.op('Equal', [Wp, zeroF])], { to: T.FLOAT }), bb.int64([1])], { keepdims: 0 });
    scans.push({ value: zeros, name: fusedOut.zeros(lin.name), type: T.FLOAT });
    if (s.masks) {
      if (cols % 8 !== 0) throw new Error(`masks mode needs columns divisible by 8 (${lin.name}: ${cols})`);
      scans.push({ value: packBitsOps(bb, keep, rows, cols, s.pack), name: fusedOut.keep(lin.name), type: T.UINT8 });
    } else if (s.dtypes.get(wname) === 'F32') scans.push({ value: Wp, name: fusedOut.weight(lin.name), type: T.FLOAT });
    else {
      const w32 = bb.op('Where', [
        keep,
        bb.op('Cast', [raw.get(wname)!], { to: T.INT32 }),
        bb.initRaw('i32_zero', T.INT32, [], new Uint8Array(4)),
      ]);
      scans.push({ value: bb.op('Cast', [w32], { to: T.UINT16 }), name: fusedOut.weight(lin.name), type: T.UINT16 });
    }
  }

  // Propagation: Loop over chunks with the pruned block; its stacked outputs are the next block's inputs.
  const prunedAct = forBlock(pruned);
  const pb = bb.sub('propagate');
  const pit = pb.input(pb.fresh('it'), T.INT64, []);
  const pcin = pb.input(pb.fresh('cond'), T.BOOL, []);
  const pf = blockForward(pb, g, cfg, S, s.biases, pb.op('Gather', [hIn, pit], { axis: 0 }), (n) => prunedAct.get(n)!, {
    half,
    attention: s.attention,
    layer,
  });
  pb.output(pcin, pb.fresh('cond_out'), T.BOOL);
  pb.output(pf.y, pb.fresh('y'), ACT);
  const hOut = bb.opN('Loop', [chunkCount, ''], 1, { body: { graph: pb.graph() } })[0];
  // Non-finite activations inside the block (the linears' inputs, through their sums of squares)
  // or at its output: 0 when all are finite.
  const badInside = INPUT_GROUPS.map((grp) => countBad(bb, sumsq.get(grp)!));
  scans.push({
    value: badInside.reduce((a, v) => bb.op('Add', [a, v]), countBad(bb, half ? bb.op('Cast', [hOut], { to: T.FLOAT }) : hOut)),
    name: fusedOut.actsFinite,
    type: T.FLOAT,
  });

  bb.output(bcond, bb.fresh('cond_out'), T.BOOL);
  bb.output(hOut, bb.fresh('h_out'), ACT);
  for (const sc of scans) bb.output(sc.value, bb.fresh('scan'), sc.type);
  const outs = g.opN('Loop', [g.int64([s.blocks], []), '', h], 1 + scans.length, { body: { graph: bb.graph() } });
  scans.forEach((sc, i) => g.output(outs[1 + i], sc.name, sc.type));
  if (s.output) g.output(half ? g.op('Cast', [outs[0]], { to: T.FLOAT }) : outs[0], 'hout', T.FLOAT);
  return g.build();
}

/** The embedding table (or OPT's positions): a graph input, or an initializer read from the checkpoint. */
function globalWeight(
  g: GraphBuilder,
  s: FusedSpec,
  name: string,
  type: number,
  dims: number[],
  ref: ExternalRef | null | undefined,
): string {
  if (!s.external) return g.input(name, type, dims);
  if (!ref) throw new Error(`no external reference for ${name}`);
  return g.initExternal(name, type, dims, ref.location, ref.offset, ref.length);
}

export type PackKind = 'reduce-int' | 'reduce-float' | 'split-sum';

/**
 * Packs a bool [rows, cols] into uint8 [rows, cols/8], bit j of byte i = element 8i+j: the
 * weighted sum of each group of 8 with weights 1, 2, …, 128 (exact in int32 and in float32).
 * reduce-*: a ReduceSum over the axis of 8; split-sum: the 8 strided slices summed elementwise.
 */
export function packBitsOps(b: GraphBuilder, keep: string, rows: number, cols: number, kind: PackKind): string {
  const powers = [1, 2, 4, 8, 16, 32, 64, 128];
  let packed: string;
  if (kind === 'split-sum') {
    const parts = b.opN(
      'Split',
      [b.op('Reshape', [b.op('Cast', [keep], { to: T.FLOAT }), b.int64([rows, cols / 8, 8])]), b.int64(Array(8).fill(1))],
      8,
      { axis: 2 },
    );
    packed = b.op('Squeeze', [
      b.op(
        'Sum',
        parts.map((x, j) => (j === 0 ? x : b.op('Mul', [x, b.float([powers[j]], [])]))),
      ),
      b.int64([2]),
    ]);
  } else {
    const int = kind === 'reduce-int';
    const bits = b.op('Reshape', [b.op('Cast', [keep], { to: int ? T.INT32 : T.FLOAT }), b.int64([rows, cols / 8, 8])]);
    const w = int ? b.initRaw('bit_values', T.INT32, [8], new Uint8Array(Int32Array.from(powers).buffer)) : b.float(powers);
    packed = b.op('ReduceSum', [b.op('Mul', [bits, w]), b.int64([2])], { keepdims: 0 });
  }
  return b.op('Cast', [packed], { to: T.UINT8 });
}

/** floor(cols · s) per row in float32, as prunedCounts does. */
function floorCounts(g: GraphBuilder, s: string, cols: number): string {
  return g.op('Floor', [g.op('Mul', [s, g.float([cols], [])])]);
}

interface LinearValues {
  /** float32 [rows, cols] dense weight, row ranks, X [n, cols]; T the float64 target. */
  W: string;
  rank: string;
  X: string;
  rows: number;
  cols: number;
  T: string;
}

/**
 * The TRIM search of one linear (trimSearch.ts) as graph operations: the uniform start, a Loop
 * over the learning rates (positive then negative) whose body runs, when the sweep is still
 * going, an inner Loop of `iterations` update-and-evaluate steps. Returns the final sparsity
 * vector s (clamped and re-centred) and [before, best, lr, iteration, after].
 */
export function trimSearchOps(g: GraphBuilder, v: LinearValues, o: NonNullable<FusedSpec['trim']>): { s: string; info: string } {
  const { rows, cols } = v;
  const Y = g.op('Cast', [g.op('Gemm', [v.W, v.X], { transB: 1 })], { to: T.DOUBLE });
  const Tf = g.op('Cast', [v.T], { to: T.FLOAT });
  const evaluate = (b: GraphBuilder, s: string): { q: string; Q: string } => {
    const kk = floorCounts(b, s, cols);
    const keep = b.op('GreaterOrEqual', [v.rank, b.op('Unsqueeze', [kk, b.int64([1])])]);
    const Wp = b.op('Where', [keep, v.W, b.float([0], [])]);
    const Yp = b.op('Cast', [b.op('Gemm', [Wp, v.X], { transB: 1 })], { to: T.DOUBLE });
    const m = new MetricOps(b, Y, Yp);
    return { q: m.row(o.rowMetric), Q: m.layer(o.layerMetric) };
  };
  const recentre = (b: GraphBuilder, x: string): string => {
    const c = b.op('Clip', [x, b.float([0], []), b.float([MAX_SPARSITY], [])]);
    const m = b.op('Cast', [b.op('ReduceMean', [b.op('Cast', [c], { to: T.DOUBLE })], { keepdims: 0 })], { to: T.FLOAT });
    return b.op('Add', [b.op('Sub', [c, m]), Tf]);
  };
  const update = (b: GraphBuilder, x: string, q: string, lr: string): string => {
    const lo = b.op('ReduceMin', [q], { keepdims: 0 });
    const hi = b.op('ReduceMax', [q], { keepdims: 0 });
    const d = b.op('Mul', [
      b.op('Div', [b.op('Sub', [q, lo]), b.op('Add', [b.op('Sub', [hi, lo]), b.double([1e-6], [])])]),
      b.op('Mul', [lr, b.double([2], [])]),
    ]);
    const dm = b.op('ReduceMean', [d], { keepdims: 0 });
    const moved = b.op('Cast', [b.op('Add', [b.op('Cast', [x], { to: T.DOUBLE }), b.op('Sub', [d, dm])])], { to: T.FLOAT });
    return recentre(b, moved);
  };

  const uniform = g.op('Expand', [Tf, g.int64([rows])]);
  const base = evaluate(g, uniform);
  const lrs = [...POSITIVE_LRS, ...NEGATIVE_LRS];

  // Sweep body: state (best x, best Q, its lr, its iteration, previous lr's best, stopped).
  const sw = g.sub('sweep');
  const j = sw.input(sw.fresh('j'), T.INT64, []);
  const swc = sw.input(sw.fresh('cond'), T.BOOL, []);
  const ovX = sw.input(sw.fresh('ovx'), T.FLOAT, null);
  const ovQ = sw.input(sw.fresh('ovq'), T.DOUBLE, []);
  const ovLr = sw.input(sw.fresh('ovlr'), T.DOUBLE, []);
  const ovIt = sw.input(sw.fresh('ovit'), T.INT64, []);
  const prev = sw.input(sw.fresh('prev'), T.DOUBLE, []);
  const stopped = sw.input(sw.fresh('stopped'), T.BOOL, []);
  const lr = sw.op('Gather', [sw.double(lrs), j], { axis: 0 });
  const negStart = sw.op('Equal', [j, sw.int64([POSITIVE_LRS.length], [])]);
  const allowNeg = o.forbidNegLr ? sw.op('Equal', [sw.int64([0], []), sw.int64([1], [])]) : sw.op('Equal', [ovLr, sw.double([0], [])]);
  const stoppedIn = sw.op('Or', [sw.op('And', [negStart, sw.op('Not', [allowNeg])]), sw.op('And', [sw.op('Not', [negStart]), stopped])]);
  const prevIn = sw.op('Where', [negStart, sw.double([-Infinity], []), prev]);

  // then: one learning rate's run of `iterations` steps.
  const tb = g.sub('lr_run');
  const ib = g.sub('step');
  const i = ib.input(ib.fresh('i'), T.INT64, []);
  const ic = ib.input(ib.fresh('cond'), T.BOOL, []);
  const x = ib.input(ib.fresh('x'), T.FLOAT, null);
  const q = ib.input(ib.fresh('q'), T.DOUBLE, null);
  const bX = ib.input(ib.fresh('bx'), T.FLOAT, null);
  const bQ = ib.input(ib.fresh('bq'), T.DOUBLE, []);
  const bIt = ib.input(ib.fresh('bit'), T.INT64, []);
  const x2 = update(ib, x, q, lr);
  const e = evaluate(ib, x2);
  const better = ib.op('Greater', [e.Q, bQ]);
  ib.output(ic, ib.fresh('cond_out'), T.BOOL);
  ib.output(x2, ib.fresh('x_out'), T.FLOAT);
  ib.output(e.q, ib.fresh('q_out'), T.DOUBLE);
  ib.output(ib.op('Where', [better, x2, bX]), ib.fresh('bx_out'), T.FLOAT);
  ib.output(ib.op('Where', [better, e.Q, bQ]), ib.fresh('bq_out'), T.DOUBLE);
  ib.output(ib.op('Where', [better, ib.op('Add', [i, ib.int64([1], [])]), bIt]), ib.fresh('bit_out'), T.INT64);
  const steps = tb.opN('Loop', [tb.int64([o.iterations], []), '', uniform, base.q, uniform, base.Q, tb.int64([0], [])], 5, {
    body: { graph: ib.graph() },
  });
  tb.output(steps[2], tb.fresh('rx'), T.FLOAT);
  tb.output(steps[3], tb.fresh('rq'), T.DOUBLE);
  tb.output(steps[4], tb.fresh('rit'), T.INT64);
  // else: the sweep has stopped; nothing improves on anything.
  const eb = g.sub('lr_skip');
  eb.output(uniform, eb.fresh('rx'), T.FLOAT);
  eb.output(eb.double([-Infinity], []), eb.fresh('rq'), T.DOUBLE);
  eb.output(eb.int64([0], []), eb.fresh('rit'), T.INT64);
  const [rX, rQ, rIt] = sw.opN('If', [sw.op('Not', [stoppedIn])], 3, {
    then_branch: { graph: tb.graph() },
    else_branch: { graph: eb.graph() },
  });

  const beat = sw.op('Greater', [rQ, ovQ]);
  const improved = sw.op('Greater', [rQ, prevIn]);
  sw.output(swc, sw.fresh('cond_out'), T.BOOL);
  sw.output(sw.op('Where', [beat, rX, ovX]), sw.fresh('ovx_out'), T.FLOAT);
  sw.output(sw.op('Where', [beat, rQ, ovQ]), sw.fresh('ovq_out'), T.DOUBLE);
  sw.output(sw.op('Where', [beat, lr, ovLr]), sw.fresh('ovlr_out'), T.DOUBLE);
  sw.output(sw.op('Where', [beat, rIt, ovIt]), sw.fresh('ovit_out'), T.INT64);
  sw.output(sw.op('Where', [improved, rQ, prevIn]), sw.fresh('prev_out'), T.DOUBLE);
  sw.output(sw.op('Not', [improved]), sw.fresh('stopped_out'), T.BOOL);

  const falseV = g.op('Equal', [g.int64([0], []), g.int64([1], [])]);
  const fin = g.opN(
    'Loop',
    [g.int64([lrs.length], []), '', uniform, base.Q, g.double([0], []), g.int64([0], []), g.double([-Infinity], []), falseV],
    6,
    { body: { graph: sw.graph() } },
  );
  const sFinal = recentre(g, fin[0]);
  const after = evaluate(g, sFinal).Q;
  const one = (t: string): string => g.op('Reshape', [t, g.int64([1])]);
  const info = g.op('Concat', [one(base.Q), one(fin[1]), one(fin[2]), one(g.op('Cast', [fin[3]], { to: T.DOUBLE })), one(after)], {
    axis: 0,
  });
  return { s: sFinal, info };
}
