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
 *
 * The spec and the names of the inputs and outputs are in fusedSpec.ts; the scores, ranks and
 * counts in prune/scores.ts and the search in prune/trimSearch.ts (each beside its host
 * version); the keep-bit packing in packBits.ts; the stored weights' types and widening in
 * storedWeights.ts.
 */
import { INPUT_GROUPS, positionTableRows, type InputGroup } from '../../model/familyLayout';
import { flatRanksOps, keepFromRanksOps, prunedCountsOps, rowRanksOps, scoreOps, uniformCountsOps } from '../scores';
import { trimSearchOps } from '../trimSearch';
import { blockForward, groupWidth, layerVariation } from '../../ort/graphs/decoder';
import { embedScale, positionRows } from '../../ort/graphs/pieceGraphs';
import { GraphBuilder, T } from '../../ort/graphs/builder';
import { fusedLayers, fusedOut, fusedWeight, type FusedSpec } from './fusedSpec';
import { packBitsOps } from './packBits';
import { ELEM, globalWeight, widener } from './storedWeights';

/** float32 scalar: the count of NaN and ±Inf values of `w`. */
function countBad(b: GraphBuilder, w: string): string {
  return b.op('ReduceSum', [b.op('Cast', [b.op('Or', [b.op('IsNaN', [w]), b.op('IsInf', [w])])], { to: T.FLOAT })], { keepdims: 0 });
}

/** A value of the block body that the block Loop stacks over the run into the output `name`. */
interface Scan {
  value: string;
  name: string;
  type: number;
}

/** What the parts of the block body share: the spec, the run's graph `g`, the body `bb` and its values. */
interface Body {
  s: FusedSpec;
  g: GraphBuilder;
  bb: GraphBuilder;
  /** Windows of the run. */
  N: number;
  half: boolean;
  /** The block's input activations [chunks, chunkWindows·S, H]. */
  hIn: string;
  /** This block's sliding flag (fusedLayers), where sliding and full layers mix. */
  layer: string | undefined;
  chunkCount: string;
  zeroF: string;
  scans: Scan[];
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
  const widen = widener(g);

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
  const body: Body = { s, g, bb, N, half, hIn, layer, chunkCount, zeroF: bb.float([0], []), scans: [] };
  const raw = new Map<string, string>();
  const dense = new Map<string, string>();
  for (const name of s.weightNames) {
    const v = bb.op('Gather', [stacked.get(name)!, k], { axis: 0 });
    raw.set(name, v);
    dense.set(name, widen(bb, v, s.dtypes.get(name)!));
  }
  body.scans.push({
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
  const stats = statistics(body, forBlock(dense));

  // Prune each linear.
  const Tk = bb.op('Gather', [targets, k], { axis: 0 }); // float64 scalar
  const pruned = new Map(dense);
  for (const lin of s.linears) pruned.set(`${lin.name}.weight`, pruneLinear(body, lin, dense, raw, stats, Tk));

  const hOut = propagate(body, forBlock(pruned));
  // Non-finite activations inside the block (the linears' inputs, through their sums of squares)
  // or at its output: 0 when all are finite.
  const badInside = INPUT_GROUPS.map((grp) => countBad(bb, stats.sumsq.get(grp)!));
  body.scans.push({
    value: badInside.reduce((a, v) => bb.op('Add', [a, v]), countBad(bb, half ? bb.op('Cast', [hOut], { to: T.FLOAT }) : hOut)),
    name: fusedOut.actsFinite,
    type: T.FLOAT,
  });

  bb.output(bcond, bb.fresh('cond_out'), T.BOOL);
  bb.output(hOut, bb.fresh('h_out'), ACT);
  for (const sc of body.scans) bb.output(sc.value, bb.fresh('scan'), sc.type);
  const outs = g.opN('Loop', [g.int64([s.blocks], []), '', h], 1 + body.scans.length, { body: { graph: bb.graph() } });
  body.scans.forEach((sc, i) => g.output(outs[1 + i], sc.name, sc.type));
  if (s.output) g.output(half ? g.op('Cast', [outs[0]], { to: T.FLOAT }) : outs[0], 'hout', T.FLOAT);
  return g.build();
}

interface Statistics {
  /** float64 [channels]: each input group's sums of squares over the run's windows. */
  sumsq: Map<InputGroup, string>;
  /** float32 [windows, channels]: each window's last-token input of each group (TRIM's X). */
  lastX: Map<InputGroup, string>;
}

/** Statistics: a Loop over chunks with the dense block (weights `denseAct`, in the activations' dtype). */
function statistics(body: Body, denseAct: Map<string, string>): Statistics {
  const { s, g, bb, half } = body;
  const { cfg } = s;
  const S = s.seqlen;
  const sb = bb.sub('stats');
  const it = sb.input(sb.fresh('it'), T.INT64, []);
  const cin = sb.input(sb.fresh('cond'), T.BOOL, []);
  const accIn = INPUT_GROUPS.map(() => sb.input(sb.fresh('acc'), T.DOUBLE, null));
  const fw = blockForward(sb, g, cfg, S, s.biases, sb.op('Gather', [body.hIn, it], { axis: 0 }), (n) => denseAct.get(n)!, {
    half,
    withOutput: false,
    attention: s.attention,
    layer: body.layer,
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
  const statOut = bb.opN('Loop', [body.chunkCount, '', ...accInit], 8, { body: { graph: sb.graph() } });
  const sumsq = new Map<InputGroup, string>();
  const lastX = new Map<InputGroup, string>();
  INPUT_GROUPS.forEach((grp, i) => {
    sumsq.set(grp, statOut[i]);
    lastX.set(grp, bb.op('Reshape', [statOut[4 + i], bb.int64([body.N, groupWidth(cfg, grp)])]));
  });
  return { sumsq, lastX };
}

/**
 * One linear: scores, ranks, the TRIM search or the uniform count, the pruned weight (returned,
 * float32) and the scans of its outputs (zero counts, search figures, weight or keep bits).
 */
function pruneLinear(
  body: Body,
  lin: FusedSpec['linears'][number],
  dense: Map<string, string>,
  raw: Map<string, string>,
  stats: Statistics,
  Tk: string,
): string {
  const { s, g, bb, scans, zeroF } = body;
  const wname = `${lin.name}.weight`;
  const W = dense.get(wname)!;
  const { rows, cols } = lin;
  const score = scoreOps(bb, W, s.score, stats.sumsq.get(lin.group)!, body.N);
  const rank = s.ranks === 'flat' ? flatRanksOps(bb, g, score, rows, cols) : rowRanksOps(bb, g, score, cols);
  let keep: string;
  if (s.trim) {
    const r = trimSearchOps(bb, { W, rank, X: stats.lastX.get(lin.group)!, rows, cols, T: Tk }, s.trim);
    keep = keepFromRanksOps(bb, rank, prunedCountsOps(bb, r.s, cols));
    scans.push({ value: r.info, name: fusedOut.trim(lin.name), type: T.DOUBLE });
  } else {
    keep = bb.op('GreaterOrEqual', [rank, uniformCountsOps(bb, Tk, cols)]);
  }
  const Wp = bb.op('Where', [keep, W, zeroF]);
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
  return Wp;
}

/** Propagation: a Loop over chunks with the pruned block (weights `prunedAct`); its stacked outputs are the next block's inputs. */
function propagate(body: Body, prunedAct: Map<string, string>): string {
  const { s, g, bb, half } = body;
  const pb = bb.sub('propagate');
  const pit = pb.input(pb.fresh('it'), T.INT64, []);
  const pcin = pb.input(pb.fresh('cond'), T.BOOL, []);
  const pf = blockForward(pb, g, s.cfg, s.seqlen, s.biases, pb.op('Gather', [body.hIn, pit], { axis: 0 }), (n) => prunedAct.get(n)!, {
    half,
    attention: s.attention,
    layer: body.layer,
  });
  pb.output(pcin, pb.fresh('cond_out'), T.BOOL);
  pb.output(pf.y, pb.fresh('y'), half ? T.FLOAT16 : T.FLOAT);
  return bb.opN('Loop', [body.chunkCount, ''], 1, { body: { graph: pb.graph() } })[0];
}
