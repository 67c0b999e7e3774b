/**
 * TRIM's search for one linear layer (REFERENCE.md §3): starting from the uniform target, move
 * sparsity from rows that suffer to rows that keep their output, `iterations` steps at a time,
 * for a sweep of learning rates; keep the sparsity vector with the best layer metric.
 *
 * The search only orders evaluations; `evaluate` prunes with a sparsity vector and returns the
 * row metric q and the layer metric Q (an ONNX Runtime session in production, a float64
 * computation in the tests). The sparsity vector is float32, as in the reference.
 *
 * Two versions side by side: trimSearch on the host, each evaluation one run of the TRIM
 * evaluation graph (trimEval.ts; the block-by-block path), and trimSearchOps, the same
 * search with the same arithmetic as graph operations (nested Loop/If) inside the fused graph.
 */
import type { LayerMetric, RowMetric } from '../../contract';
import { T, type GraphBuilder } from '../ort/graphs/builder';
import { MetricOps } from './trimEval';
import { keepFromRanksOps, prunedCountsOps } from './scores';

export interface Evaluation {
  q: Float64Array;
  Q: number;
}

export type Evaluate = (s: Float32Array) => Promise<Evaluation>;

export interface SearchOptions {
  iterations: number;
  forbidNegLr: boolean;
}

export interface SearchResult {
  /** Final row sparsities (clamped to [0, 0.95] and re-centred on the target). */
  s: Float32Array;
  /** Layer metric of the uniform start. */
  before: number;
  /** Best layer metric found during the search. */
  best: number;
  /** Learning rate of the chosen vector (0 when the uniform start was kept). */
  lr: number;
  /** Iteration (1-based) at which the chosen vector was reached (0 = start). */
  iteration: number;
  evaluations: number;
  /** The sweep as run: [lr, best metric of that lr]. */
  sweep: [number, number][];
}

export const POSITIVE_LRS = [0.01, 0.02, 0.04, 0.08, 0.12, 0.16];
export const NEGATIVE_LRS = [-0.01, -0.02, -0.04];
export const MAX_SPARSITY = 0.95;

const fr = Math.fround;

/** Float32 mean, accumulated in float64 (the reference's float32 reduction is accurate to about an ulp). */
function mean32(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return fr(s / x.length);
}

/** Clamp to [0, 0.95], then shift so the mean is the target again. */
export function clampAndRecentre(x: Float32Array, target: number): Float32Array {
  const out = new Float32Array(x.length);
  const hi = fr(MAX_SPARSITY);
  for (let i = 0; i < x.length; i++) out[i] = x[i] > hi ? hi : x[i] < 0 ? 0 : x[i];
  const m = mean32(out);
  const t = fr(target);
  for (let i = 0; i < out.length; i++) out[i] = fr(fr(out[i] - m) + t);
  return out;
}

/** One step of the update rule: rows with a better row metric receive more sparsity. */
export function updateStep(x: Float32Array, q: Float64Array, lr: number, target: number): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < q.length; i++) {
    if (q[i] < lo) lo = q[i];
    if (q[i] > hi) hi = q[i];
  }
  const d = new Float64Array(q.length);
  let dm = 0;
  for (let i = 0; i < q.length; i++) {
    d[i] = ((q[i] - lo) / (hi - lo + 1e-6)) * (lr * 2);
    dm += d[i];
  }
  dm /= q.length;
  const moved = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) moved[i] = fr(x[i] + (d[i] - dm));
  return clampAndRecentre(moved, target);
}

export async function trimSearch(target: number, rows: number, evaluate: Evaluate, o: SearchOptions): Promise<SearchResult> {
  const uniform = new Float32Array(rows).fill(target);
  let evaluations = 1;
  const base = await evaluate(uniform);
  const sweep: [number, number][] = [];

  const runLr = async (lr: number): Promise<{ x: Float32Array; Q: number; iter: number }> => {
    let x: Float32Array = uniform;
    let cur = base;
    let best: { x: Float32Array; Q: number; iter: number } = { x: uniform, Q: base.Q, iter: 0 };
    for (let i = 0; i < o.iterations; i++) {
      x = updateStep(x, cur.q, lr, target);
      cur = await evaluate(x);
      evaluations++;
      if (cur.Q > best.Q) best = { x, Q: cur.Q, iter: i + 1 };
    }
    sweep.push([lr, best.Q]);
    return best;
  };

  let overall: { x: Float32Array; Q: number; iter: number; lr: number } = { x: uniform, Q: base.Q, iter: 0, lr: 0 };
  const sweepRates = async (rates: number[]): Promise<void> => {
    let previous = -Infinity;
    for (const lr of rates) {
      const r = await runLr(lr);
      if (r.Q > overall.Q) overall = { ...r, lr };
      if (r.Q > previous) previous = r.Q;
      else break;
    }
  };
  await sweepRates(POSITIVE_LRS);
  if (overall.lr === 0 && !o.forbidNegLr) await sweepRates(NEGATIVE_LRS);
  return {
    s: clampAndRecentre(overall.x, target),
    before: base.Q,
    best: overall.Q,
    lr: overall.lr,
    iteration: overall.iter,
    evaluations,
    sweep,
  };
}

/** trimSearch's options for the graph, with the metrics that its evaluations compute (MetricOps). */
export interface SearchOpsOptions extends SearchOptions {
  layerMetric: LayerMetric;
  rowMetric: RowMetric;
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
 * trimSearch of one linear as graph operations: the uniform start, a Loop
 * over the learning rates (positive then negative) whose body runs, when the sweep is still
 * going, an inner Loop of `iterations` update-and-evaluate steps. Returns the final sparsity
 * vector s (clamped and re-centred) and [before, best, lr, iteration, after].
 */
export function trimSearchOps(g: GraphBuilder, v: LinearValues, o: SearchOpsOptions): { s: string; info: string } {
  const { rows, cols } = v;
  const Y = g.op('Cast', [g.op('Gemm', [v.W, v.X], { transB: 1 })], { to: T.DOUBLE });
  const Tf = g.op('Cast', [v.T], { to: T.FLOAT });
  const evaluate = (b: GraphBuilder, s: string): { q: string; Q: string } => {
    const keep = keepFromRanksOps(b, v.rank, prunedCountsOps(b, s, cols));
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
