/**
 * AlphaPruning α (src/core/prune/alpha.ts, alphaCache.ts): the estimator against an independent float64 reference, the
 * whole engine path (Gram on ONNX Runtime + ml-matrix eigenvalues) on matrices with a chosen
 * power-law spectrum, the block_wise mapping against hand-computed ratios, and the cache.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { alphaPeak, alphaTargets, GramRunner, hillAlpha, layerAlpha, symmetricEigenvalues } from '../../src/core/prune/alpha';
import { alphaKey, computeModelAlphas } from '../../src/core/prune/alphaCache';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { Engine } from '../../src/core/ort/engine';
import { isTrimError } from '../../src/core/errors';
import { rng, writeSynth, type SynthSpec } from '../../src/core/model/synth';

/**
 * The published estimator written out plainly in float64 (no suffix sums, no early exits beyond
 * the published ones): AlphaPruning's net_esd_estimator, fix_fingers='xmin_peak', bins=100.
 */
function referenceAlpha(eigs: number[], window: 'alphapruning' | 'peak' = 'alphapruning'): number {
  const e = eigs.slice().sort((a, b) => a - b);
  const N = e.length;
  const l10 = e.map(Math.log10);
  const lo = l10[0];
  const hi = l10[N - 1];
  const counts = new Array(100).fill(0);
  for (const v of l10) counts[Math.min(99, Math.floor(((v - lo) / (hi - lo)) * 100))]++;
  const ih = counts.indexOf(Math.max(...counts));
  const peak = 10 ** (lo + (ih * (hi - lo)) / 100);
  const xminMin = window === 'peak' ? 0.95 * peak : Math.log10(0.95 * peak);
  const xminMax = 1.5 * peak;
  const alphas = new Array(N - 1).fill(0);
  const Ds = new Array(N - 1).fill(1);
  for (let i = 0; i < N - 1; i++) {
    const xmin = e[i];
    if (xmin < xminMin) continue;
    if (xmin > xminMax) break;
    const n = N - i;
    let s = 0;
    for (let j = i; j < N; j++) s += Math.log(e[j]);
    const alpha = 1 + n / (s - n * Math.log(e[i]));
    alphas[i] = alpha;
    if (alpha > 1) {
      let D = 0;
      for (let m = 0; m < n; m++) D = Math.max(D, Math.abs(1 - (e[i + m] / xmin) ** (-alpha + 1) - m / n));
      Ds[i] = D;
    }
  }
  return alphas[Ds.indexOf(Math.min(...Ds))];
}

/** n eigenvalues at the quantiles of a Pareto law p(λ) ∝ λ^-α on [λmin, ∞), plus a bulk below it. */
function paretoSpectrum(n: number, alpha: number, lmin: number, bulk = 0): number[] {
  const tail = Array.from({ length: n - bulk }, (_, i) => lmin * (1 - (i + 0.5) / (n - bulk)) ** (-1 / (alpha - 1)));
  const below = Array.from({ length: bulk }, (_, i) => lmin * (0.2 + (0.75 * (i + 0.5)) / bulk));
  return [...below, ...tail];
}

function orthogonal(n: number, seed: number): Matrix {
  const r = rng(seed);
  const A = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A.set(i, j, r.normal());
  return new QrDecomposition(A).orthogonalMatrix;
}

/** W = U diag(σ) Vᵀ [rows, cols] with σ² = the chosen eigenvalues (min(rows, cols) of them). */
function withSpectrum(rows: number, cols: number, lambdas: number[], seed: number): Float32Array {
  const k = Math.min(rows, cols);
  assert.equal(lambdas.length, k);
  const U = orthogonal(rows, seed);
  const V = orthogonal(cols, seed + 1);
  const W = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += U.get(i, t) * Math.sqrt(lambdas[t]) * V.get(j, t);
      W[i * cols + j] = s;
    }
  }
  return W;
}

test('alpha_peak equals the plain float64 reference of the published estimator (both windows)', () => {
  const r = rng(11);
  for (let trial = 0; trial < 12; trial++) {
    const n = 40 + Math.floor(r.uniform() * 200);
    // Marchenko–Pastur-like bulk times a random heavy tail: a realistic, irregular spectrum.
    const eigs = Array.from({ length: n }, () => (r.normal() ** 2 + 0.05) * (1 - r.uniform()) ** (-1 / (1.5 + 3 * r.uniform())));
    for (const window of ['alphapruning', 'peak'] as const) {
      const got = alphaPeak(eigs, { window }).alpha;
      const ref = referenceAlpha(eigs, window);
      if (ref > 0) assert.ok(Math.abs(got - ref) <= 1e-9 * ref, `trial ${trial} ${window}: ${got} vs ${ref}`);
      else assert.ok(got > 1, 'fallback gives a Hill estimate, never 0');
    }
  }
});

test('alpha_peak recovers the exponent of a chosen power-law spectrum', () => {
  for (const a of [2, 3, 4.5]) {
    const fit = alphaPeak(paretoSpectrum(400, a, 0.01, 100));
    assert.ok(Math.abs(fit.alpha - a) < 0.1 * a, `α ${a}: got ${fit.alpha}`);
    // Hill at the true λmin on the tail alone is the textbook estimate.
    const tail = paretoSpectrum(300, a, 0.01);
    assert.ok(Math.abs(hillAlpha(tail, 0) - a) < 0.05 * a, `Hill ${a}: ${hillAlpha(tail, 0)}`);
  }
});

test('engine path: Gram on ONNX Runtime + symmetric eigenvalues reproduce the chosen σ² and α (tall and wide W)', async () => {
  const engine = await Engine.create('cpu');
  const gram = new GramRunner(engine);
  try {
    for (const [rows, cols, a, seed] of [
      [192, 96, 3, 1],
      [80, 160, 2.5, 5],
    ] as const) {
      const k = Math.min(rows, cols);
      const lambdas = paretoSpectrum(k, a, 0.05, Math.floor(k / 4));
      const W = withSpectrum(rows, cols, lambdas, seed);
      const { G, n } = await gram.gram(W, rows, cols);
      assert.equal(n, k);
      const ev = symmetricEigenvalues(G, n);
      const sorted = lambdas.slice().sort((x, y) => x - y);
      for (let i = 0; i < k; i++) assert.ok(Math.abs(ev[i] - sorted[i]) <= 1e-5 * sorted[k - 1], `λ${i}: ${ev[i]} vs ${sorted[i]}`);
      const { fit } = await layerAlpha(gram, W, rows, cols);
      const ref = referenceAlpha(lambdas);
      assert.ok(Math.abs(fit.alpha - ref) <= 1e-3 * ref, `${rows}×${cols}: α ${fit.alpha} vs float64 reference ${ref}`);
      assert.ok(Math.abs(fit.alpha - a) < 0.15 * a, `${rows}×${cols}: α ${fit.alpha} vs chosen ${a}`);
    }
  } finally {
    await gram.release();
  }
});

test('block_wise mapping: ratios in [1-ε, 1+ε] by α, scaled to the parameter-weighted target', () => {
  // α 2,3,4,5 → r = 0.7, 0.9, 1.1, 1.3 (mean 1) → × 0.7.
  const t = alphaTargets([2, 3, 4, 5], [10, 10, 10, 10], 0.7, 0.3);
  [0.49, 0.63, 0.77, 0.91].forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-12, `${t[i]} vs ${v}`));
  // Unequal sizes: r = 0.8, 1.2; scale = 0.5·4 / (0.8·1 + 1.2·3) = 2/4.4.
  const u = alphaTargets([2, 4], [1, 3], 0.5, 0.2);
  assert.ok(Math.abs(u[0] - 0.8 / 2.2) < 1e-12 && Math.abs(u[1] - 1.2 / 2.2) < 1e-12, String(u));
  assert.ok(Math.abs((u[0] * 1 + u[1] * 3) / 4 - 0.5) < 1e-12);
  // Order only matters through α: the block with the largest α gets the most sparsity.
  const v = alphaTargets([5, 2, 3.5], [1, 1, 1], 0.6, 0.1);
  assert.ok(v[0] > v[2] && v[2] > v[1]);
  assert.ok(Math.abs(v[2] - 0.6) < 1e-12);
  // Equal α: uniform.
  assert.deepEqual(alphaTargets([3, 3], [1, 1], 0.6, 0.3), [0.6, 0.6]);
});

test('a target pushed outside [0, 1) is a clear E_OPTION error', () => {
  assert.throws(
    () => alphaTargets([2, 3, 4, 5], [1, 1, 1, 1], 0.8, 0.3),
    (e: unknown) => {
      return (
        isTrimError(e) && e.code === 'E_OPTION' && /block 3 a sparsity of 1\.0400.*lower --alpha-epsilon or --sparsity/.test(e.message)
      );
    },
  );
  assert.throws(
    () => alphaTargets([2, Number.POSITIVE_INFINITY], [1, 1], 0.5, 0.3),
    (e: unknown) => isTrimError(e) && e.code === 'E_NONFINITE',
  );
});

const tinySpec: SynthSpec = {
  family: 'qwen2',
  hidden: 32,
  intermediate: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  vocab: 64,
  maxPositions: 128,
  dtype: 'float16',
  qkvBias: true,
  tie: true,
};

test('α is cached per checkpoint by content: a second run and a copied folder reuse it; changed weights do not', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alpha-cache-'));
  const saved = process.env.TRIM_CACHE_DIR;
  process.env.TRIM_CACHE_DIR = path.join(root, 'cache');
  try {
    const a = path.join(root, 'a');
    writeSynth(tinySpec, a, 1);
    const engine = await Engine.create('cpu');
    const first = await computeModelAlphas(Checkpoint.open(a), engine);
    assert.equal(first.cachedBlocks, 0);
    assert.equal(first.alphas.length, 2);
    assert.equal(first.alphas[0].length, 7);
    assert.ok(first.alphas.flat().every((x) => Number.isFinite(x) && x > 1));
    const seen: boolean[] = [];
    const second = await computeModelAlphas(Checkpoint.open(a), engine, { onBlock: (_b, _a, cached) => seen.push(cached) });
    assert.equal(second.cachedBlocks, 2);
    assert.deepEqual(seen, [true, true]);
    assert.deepEqual(second.alphas, first.alphas);

    const b = path.join(root, 'b');
    fs.cpSync(a, b, { recursive: true });
    const copied = await computeModelAlphas(Checkpoint.open(b), engine);
    assert.equal(copied.key, first.key);
    assert.equal(copied.cachedBlocks, 2);

    const c = path.join(root, 'c');
    writeSynth(tinySpec, c, 2);
    assert.notEqual(await alphaKey(Checkpoint.open(c)), first.key);
  } finally {
    if (saved === undefined) delete process.env.TRIM_CACHE_DIR;
    else process.env.TRIM_CACHE_DIR = saved;
    fs.rmSync(root, { recursive: true, force: true });
  }
});
