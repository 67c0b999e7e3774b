/**
 * TRIM's search for one linear layer (REFERENCE.md §3): starting from the uniform target, move
 * sparsity from rows that suffer to rows that keep their output, `iterations` steps at a time,
 * for a sweep of learning rates; keep the sparsity vector with the best layer metric.
 *
 * The search only orders evaluations; `evaluate` prunes with a sparsity vector and returns the
 * row metric q and the layer metric Q (an ONNX Runtime session in production, a float64
 * computation in the tests). The sparsity vector is float32, as in the reference.
 */

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
