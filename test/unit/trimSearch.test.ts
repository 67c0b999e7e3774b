/**
 * TRIM pinned against float64 computations written here from REFERENCE.md §3 and the authors'
 * metric definitions: the ONNX evaluation graph (q, Q for every metric), the update rule with
 * its clamping and re-centring, the learning-rate sweep's order and stopping rule.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { LAYER_METRICS, ROW_METRICS, type LayerMetric, type RowMetric } from '../../src/contract';
import { Engine, f32 } from '../../src/core/ort/engine';
import { buildTrimEvalGraph } from '../../src/core/prune/trimEval';
import { rowRanks, scoreMatrix } from '../../src/core/prune/scores';
import { rng } from '../../src/core/model/synth';
import { trimSearch, updateStep, clampAndRecentre, type Evaluate } from '../../src/core/prune/trimSearch';

const fr = Math.fround;

function problem(seed: number, rows = 24, cols = 40, n = 16) {
  const r = rng(seed);
  const W = new Float32Array(rows * cols).map(() => r.normal());
  const X = new Float32Array(n * cols).map(() => r.normal() * (1 + r.uniform()));
  const norm2 = new Float64Array(cols).map(() => 0.5 + r.uniform());
  const rank = rowRanks(scoreMatrix(W, rows, cols, 'wanda', norm2), rows, cols);
  return { W, X, rank, rows, cols, n };
}

/** Y = W Xᵀ and Yp in float64 for sparsities s (k = floor(float32(cols·s)), as the reference). */
function outputs(p: ReturnType<typeof problem>, s: Float32Array): { a: number[][]; b: number[][] } {
  const a: number[][] = [];
  const b: number[][] = [];
  for (let i = 0; i < p.rows; i++) {
    const k = Math.floor(fr(s[i] * p.cols));
    a.push([]);
    b.push([]);
    for (let j = 0; j < p.n; j++) {
      let y = 0;
      let yp = 0;
      for (let c = 0; c < p.cols; c++) {
        const w = p.W[i * p.cols + c] * p.X[j * p.cols + c];
        y += w;
        if (p.rank[i * p.cols + c] >= k) yp += w;
      }
      a[i].push(y);
      b[i].push(yp);
    }
  }
  return { a, b };
}

const mean = (v: number[]): number => v.reduce((x, y) => x + y, 0) / v.length;
const col = (m: number[][], j: number): number[] => m.map((r) => r[j]);
const cos = (u: number[], v: number[]): number => {
  const nu = Math.sqrt(u.reduce((s, x) => s + x * x, 0)) + 1e-8;
  const nv = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) + 1e-8;
  return Math.max(
    -1,
    Math.min(
      1,
      u.reduce((s, x, i) => s + (x / nu) * (v[i] / nv), 0),
    ),
  );
};
const mse = (u: number[], v: number[]): number => mean(u.map((x, i) => (x - v[i]) ** 2));
const psnr = (u: number[], v: number[]): number => 10 * Math.log10(Math.max(...u.map((x) => x * x)) / (mse(u, v) + 1e-10));

function rowMetric64(m: RowMetric, a: number[][], b: number[][]): number[] {
  return a.map((r, i) => (m === 'cosim' ? cos(r, b[i]) : m === 'mse' ? -mse(r, b[i]) : psnr(r, b[i])));
}

function layerMetric64(m: LayerMetric, a: number[][], b: number[][]): number {
  const fa = a.flat();
  const fb = b.flat();
  const cols = a[0].length;
  switch (m) {
    case 'cosim_flat':
      return cos(fa, fb);
    case 'cosim_dim':
      return mean(a.map((r, i) => cos(r, b[i])));
    case 'cosim_sample':
      return mean(Array.from({ length: cols }, (_, j) => cos(col(a, j), col(b, j))));
    case 'mse':
      return -mse(fa, fb);
    case 'mse_dim':
      return -mean(a.map((r, i) => mse(r, b[i])));
    case 'mae':
      return -mean(fa.map((x, i) => Math.abs(x - fb[i])));
    case 'snr': {
      const noise = mse(fa, fb);
      return noise < 1e-10 ? Infinity : 10 * Math.log10(mean(fa.map((x) => x * x)) / (noise + 1e-10));
    }
    case 'psnr_flat':
      return psnr(fa, fb);
    case 'psnr_dim':
      return mean(a.map((r, i) => psnr(r, b[i])));
    case 'psnr_sample':
      return mean(Array.from({ length: cols }, (_, j) => psnr(col(a, j), col(b, j))));
  }
}

function evaluator64(p: ReturnType<typeof problem>, lm: LayerMetric, rm: RowMetric): Evaluate {
  return async (s) => {
    const { a, b } = outputs(p, s);
    return { q: Float64Array.from(rowMetric64(rm, a, b)), Q: layerMetric64(lm, a, b) };
  };
}

test('the ONNX evaluation graph matches float64 for every layer and row metric', async () => {
  const engine = await Engine.create('cpu');
  const p = problem(1);
  const r = rng(99);
  const vectors = [
    new Float32Array(p.rows).fill(0.7),
    new Float32Array(p.rows).map(() => fr(0.3 + 0.6 * r.uniform())),
    new Float32Array(p.rows).fill(0),
  ];
  for (const lm of LAYER_METRICS) {
    for (const rm of ROW_METRICS) {
      const session = await engine.session(
        buildTrimEvalGraph({ W: p.W, rank: p.rank, X: p.X, rows: p.rows, cols: p.cols, samples: p.n }, lm, rm),
      );
      for (const s of vectors) {
        const got = await session.run({ s: f32(s, [p.rows]) });
        const want = await evaluator64(p, lm, rm)(s);
        const Q = Number((got.Q.data as Float64Array)[0]);
        const close = (x: number, y: number, what: string): void => {
          if (!Number.isFinite(y)) return assert.equal(x, y, what);
          assert.ok(Math.abs(x - y) <= 1e-4 * Math.max(1, Math.abs(y)), `${what}: ${x} vs float64 ${y}`);
        };
        close(Q, want.Q, `${lm} Q`);
        const q = got.q.data as Float64Array;
        for (let i = 0; i < p.rows; i++) close(q[i], want.q[i], `${rm} q[${i}]`);
      }
      await session.release();
    }
  }
});

test('update rule: normalised row metric × 2·lr, centred, clamped to [0, 0.95], re-centred on T', () => {
  const x = updateStep(Float32Array.from([0.5, 0.5, 0.5, 0.5]), Float64Array.from([0, 1, 2, 3]), 0.1, 0.5);
  const d = [0, 1, 2, 3].map((q) => (q / (3 + 1e-6)) * 0.2);
  const dm = mean(d);
  d.forEach((v, i) => assert.ok(Math.abs(x[i] - (0.5 + v - dm)) < 1e-6, `${x[i]}`));
  // Clamping then re-centring may leave values above 0.95, as in the reference.
  const y = updateStep(Float32Array.from([0.9, 0.9, 0.1, 0.1]), Float64Array.from([1, 1, 0, 0]), 0.16, 0.5);
  [0.975, 0.975, 0.025, 0.025].forEach((v, i) => assert.ok(Math.abs(y[i] - v) < 1e-6, `${y[i]} vs ${v}`));
  const z = clampAndRecentre(Float32Array.from([1.2, -0.4, 0.5, 0.3]), 0.4);
  [0.95, 0, 0.5, 0.3].map((v) => v - 0.4375 + 0.4).forEach((v, i) => assert.ok(Math.abs(z[i] - v) < 1e-6));
});

/** The sweep of REFERENCE.md §3 written out plainly, with the reference's float32 sparsity vector. */
async function referenceSearch(T: number, rows: number, evaluate: Evaluate, iterations: number, forbidNeg: boolean) {
  const uniform = new Float32Array(rows).fill(T);
  const base = await evaluate(uniform);
  let best = { s: uniform, Q: base.Q, lr: 0, it: 0 };
  const one = async (lr: number) => {
    let x = uniform;
    let q = base.q;
    let b = { s: uniform, Q: base.Q, it: 0 };
    for (let i = 1; i <= iterations; i++) {
      const lo = Math.min(...q);
      const hi = Math.max(...q);
      const d = Array.from(q, (v) => ((v - lo) / (hi - lo + 1e-6)) * 2 * lr);
      const dm = mean(d);
      let nx = Float32Array.from(x, (v, j) => fr(v + (d[j] - dm)));
      nx = nx.map((v) => (v > fr(0.95) ? fr(0.95) : v < 0 ? 0 : v));
      const m = fr(mean(Array.from(nx)));
      x = nx.map((v) => fr(fr(v - m) + fr(T)));
      const e = await evaluate(x);
      q = e.q;
      if (e.Q > b.Q) b = { s: x, Q: e.Q, it: i };
    }
    return b;
  };
  for (const rates of [
    [0.01, 0.02, 0.04, 0.08, 0.12, 0.16],
    [-0.01, -0.02, -0.04],
  ]) {
    if (rates[0] < 0 && (best.lr !== 0 || forbidNeg)) break;
    let prev = -Infinity;
    for (const lr of rates) {
      const b = await one(lr);
      if (b.Q > best.Q) best = { ...b, lr };
      if (b.Q > prev) prev = b.Q;
      else break;
    }
  }
  return best;
}

test('search: same vector, learning rate and iteration as the reference sweep (float64 metrics)', async () => {
  for (const [seed, lm, rm, T] of [
    [2, 'cosim_flat', 'cosim', 0.7],
    [3, 'mse', 'mse', 0.8],
    [4, 'psnr_dim', 'psnr', 0.6],
    [5, 'cosim_sample', 'cosim', 0.5],
  ] as const) {
    const p = problem(seed);
    const ev = evaluator64(p, lm, rm);
    const ours = await trimSearch(T, p.rows, ev, { iterations: 10, forbidNegLr: false });
    const ref = await referenceSearch(T, p.rows, ev, 10, false);
    assert.equal(ours.lr, ref.lr, `lr (seed ${seed})`);
    assert.equal(ours.iteration, ref.it, `iteration (seed ${seed})`);
    assert.equal(ours.best, ref.Q);
    const final = clampAndRecentre(ref.s, T);
    assert.deepEqual(Array.from(ours.s), Array.from(final));
    assert.ok(Math.abs(mean(Array.from(ours.s)) - T) < 1e-6);
  }
});

test('sweep order and stopping: stops at the first lr not better than the previous; negative rates only when no positive lr beat the start', async () => {
  // The evaluator scripts the best Q reached by each successive lr run (last of its 3 iterations);
  // which lr each run used is read back from the search's own record of the sweep.
  const rows = 8;
  const script = (bests: number[], base: number): Evaluate => {
    let calls = 0;
    return async () => {
      calls++;
      const q = new Float64Array(rows).map((_, i) => i);
      if (calls === 1) return { q, Q: base };
      const run = Math.floor((calls - 2) / 3);
      return { q, Q: (calls - 2) % 3 === 2 ? bests[run] : -1 };
    };
  };
  // Improves up to 0.04, then 0.08 is worse → stop after 0.08; best is 0.04 at iteration 3.
  let r = await trimSearch(0.5, rows, script([0.5, 0.6, 0.7, 0.65, 0.9, 0.9], 0.4), { iterations: 3, forbidNegLr: false });
  assert.deepEqual(
    r.sweep.map(([lr]) => lr),
    [0.01, 0.02, 0.04, 0.08],
  );
  assert.equal(r.lr, 0.04);
  assert.equal(r.iteration, 3);
  assert.equal(r.evaluations, 1 + 4 * 3);
  // No positive lr beats the start (0.9; a run's best includes its uniform start): after 0.02 ties
  // 0.01 the sweep stops; negative rates follow, stopping at the first non-improving one.
  r = await trimSearch(0.5, rows, script([0.5, 0.4, 0.95, 0.92, 0.99], 0.9), { iterations: 3, forbidNegLr: false });
  assert.deepEqual(
    r.sweep.map(([lr]) => lr),
    [0.01, 0.02, -0.01, -0.02],
  );
  assert.deepEqual(
    r.sweep.map(([, q]) => q),
    [0.9, 0.9, 0.95, 0.92],
  );
  assert.equal(r.lr, -0.01);
  // forbid_neg_lr: the uniform start stays.
  r = await trimSearch(0.5, rows, script([0.5, 0.4, 0.95], 0.9), { iterations: 3, forbidNegLr: true });
  assert.deepEqual(
    r.sweep.map(([lr]) => lr),
    [0.01, 0.02],
  );
  assert.equal(r.lr, 0);
  assert.deepEqual(Array.from(r.s), new Array(rows).fill(0.5));
});
