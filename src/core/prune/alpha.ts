/**
 * AlphaPruning layer allocation (Lu et al., "AlphaPruning: Using Heavy-Tailed Self Regularization
 * Theory for Improved Layer-wise Pruning of Large Language Models", NeurIPS 2024), computed by the
 * engine for any checkpoint instead of being read from precomputed files.
 *
 * ## The metric: `alpha_peak`, exactly as AlphaPruning computes it
 *
 * For one linear weight W [out, in]:
 *
 * 1. λ = eigenvalues of WᵀW, i.e. the squared singular values of W (the empirical spectral density,
 *    ESD, is their distribution). We form the smaller Gram matrix — WᵀW [in, in] when out ≥ in,
 *    W Wᵀ [out, out] when out < in; both have the same non-zero eigenvalues — on the execution
 *    provider (an ONNX MatMul graph, in float64 so that the small eigenvalues that set the
 *    histogram's range are not lost to float32 rounding of the Gram), and take its eigenvalues with
 *    ml-matrix's symmetric eigensolver (Householder tridiagonalisation + implicit QL) on the CPU.
 *    Eigenvalues below the float64 noise floor of the Gram, λ_max · n · 2⁻⁵², are numerically zero
 *    and are set to that floor so that their logarithm is defined (AlphaPruning's float32 SVD has a
 *    noise floor of the same order, (2⁻²⁴ σ_max)²).
 * 2. λ_peak: a 100-bin histogram of log10 λ over [min, max] (torch.histc semantics: equal bins, the
 *    maximum in the last bin); λ_peak = 10^(left edge of the fullest bin, the first on ties).
 * 3. Candidate lower cut-offs λ_min are the sorted eigenvalues λ_i (all but the largest) with
 *    `lower ≤ λ_i ≤ 1.5 · λ_peak`. For each, the Hill (continuous power-law maximum-likelihood)
 *    estimate over the k = N − i eigenvalues at or above it,
 *        α_i = 1 + k / Σ_{j ≥ i} ln(λ_j / λ_i),
 *    and, when α_i > 1, the Kolmogorov–Smirnov distance between the empirical tail and the fitted
 *    power law, D_i = max_{m<k} | 1 − (λ_{i+m} / λ_i)^{1−α_i} − m / k |.
 * 4. α = α_i of the smallest D_i (the first on ties).
 *
 * Which variant, and why. This is `net_esd_estimator(fix_fingers='xmin_peak', bins=100,
 * filter_zeros=False)` of the AlphaPruning code (itself from TempBalance), the function that wrote
 * the `alpha_peak.npy` files AlphaPruning and the TRIM authors ship and that every published
 * AlphaPruning / TRIM+AlphaPruning figure used. We reproduce it rather than WeightWatcher's
 * `powerlaw.Fit(xmin=(0.95, 1.05)·peak)` or a single Hill fit at λ_peak, because the allocation
 * depends only on how the blocks' α rank and spread, and a different estimator moves both. That
 * code's lower bound is `lower = log10(0.95 · λ_peak)` — a log10 value compared with raw
 * eigenvalues — so in practice nearly every eigenvalue below the window's top is a candidate and
 * the KS search chooses λ_min. We keep that as the default (`window: 'alphapruning'`) for parity
 * with the published files, and offer the evidently intended window [0.95, 1.5] · λ_peak as
 * `window: 'peak'`. When no candidate gives a fit with α > 1 (AlphaPruning would then return 0),
 * we return the single Hill estimate at λ_peak, the textbook `alpha_peak`.
 *
 * ## The mapping (AlphaPruning's `ww_sparsity`, `mapping_type = block_wise`, as TRIM uses it)
 *
 * Block metric = mean α over the block's linears. Linearly map to r_b ∈ [1 − ε, 1 + ε] (the
 * block with the largest α gets 1 + ε: a heavier tail — smaller α — means better-trained, so less
 * sparsity), then scale so that the parameter-weighted mean sparsity equals the target:
 * T_b = r_b · target · Σ P_b / Σ P_b r_b, with P_b the block's prunable parameters.
 *
 * The cache of computed α on disk is alphaCache.ts.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { f32, type Engine, type Session } from '../ort/engine';
import { TrimError } from '../errors';
import { GraphBuilder, T } from '../ort/graphs/builder';

export const ALPHA_BINS = 100;

export type AlphaWindow = 'alphapruning' | 'peak';

export interface AlphaFit {
  alpha: number;
  /** The chosen λ_min. */
  xmin: number;
  /** λ_peak: left edge of the fullest log10 histogram bin. */
  peak: number;
  /** Eigenvalues at or above λ_min. */
  k: number;
  /** KS distance of the chosen fit (1 when the fallback was used). */
  D: number;
}

/** Hill estimate over the eigenvalues sorted ascending, from index i on. */
export function hillAlpha(sorted: ArrayLike<number>, i: number): number {
  const n = sorted.length - i;
  const l0 = Math.log(sorted[i]);
  let s = 0;
  for (let j = i; j < sorted.length; j++) s += Math.log(sorted[j]) - l0;
  return 1 + n / s;
}

/** AlphaPruning's alpha_peak of one spectrum (see the module comment). */
export function alphaPeak(eigs: ArrayLike<number>, opts: { bins?: number; window?: AlphaWindow } = {}): AlphaFit {
  const bins = opts.bins ?? ALPHA_BINS;
  const e = Float64Array.from(eigs).sort();
  const N = e.length;
  if (N < 2) throw new Error(`alphaPeak needs at least 2 eigenvalues, got ${N}`);
  if (!(e[0] > 0)) throw new Error(`alphaPeak needs positive eigenvalues, got ${e[0]}`);
  const logs = new Float64Array(N);
  for (let i = 0; i < N; i++) logs[i] = Math.log(e[i]);
  // Suffix sums of ln λ: Σ_{j≥i} ln(λ_j/λ_i) = suffix[i] − (N − i)·ln λ_i.
  const suffix = new Float64Array(N + 1);
  for (let i = N - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + logs[i];

  // Histogram of log10 λ over [min, max].
  const lo = Math.log10(e[0]);
  const hi = Math.log10(e[N - 1]);
  const counts = new Float64Array(bins);
  const width = (hi - lo) / bins;
  for (let i = 0; i < N; i++) {
    const b = width > 0 ? Math.min(bins - 1, Math.floor((Math.log10(e[i]) - lo) / width)) : 0;
    counts[b]++;
  }
  let ih = 0;
  for (let b = 1; b < bins; b++) if (counts[b] > counts[ih]) ih = b;
  const peak = 10 ** (lo + ih * width);
  const lower = opts.window === 'peak' ? 0.95 * peak : Math.log10(0.95 * peak);
  const upper = 1.5 * peak;

  let best = { alpha: 0, D: 1, i: -1 };
  for (let i = 0; i < N - 1; i++) {
    const xmin = e[i];
    if (xmin < lower) continue;
    if (xmin > upper) break;
    const n = N - i;
    const alpha = 1 + n / (suffix[i] - n * logs[i]);
    if (!(alpha > 1)) continue;
    let D = 0;
    for (let m = 0; m < n; m++) {
      const d = Math.abs(1 - Math.pow(e[i + m] / xmin, 1 - alpha) - m / n);
      if (d > D) D = d;
    }
    if (D < best.D) best = { alpha, D, i };
  }
  if (best.i < 0) {
    // No usable candidate: the single Hill fit at the first eigenvalue ≥ λ_peak.
    let i = 0;
    while (i < N - 2 && e[i] < peak) i++;
    return { alpha: hillAlpha(e, i), xmin: e[i], peak, k: N - i, D: 1 };
  }
  return { alpha: best.alpha, xmin: e[best.i], peak, k: N - best.i, D: best.D };
}

/** The Gram graph: W (float32) → float64 → WᵀW (`tall`, out ≥ in) or W Wᵀ, any shape. */
export function buildGramGraph(tall: boolean): Uint8Array {
  const g = new GraphBuilder(tall ? 'gram_wtw' : 'gram_wwt');
  const W = g.op('Cast', [g.input('W', T.FLOAT, ['rows', 'cols'])], { to: T.DOUBLE });
  const Wt = g.op('Transpose', [W], { perm: [1, 0] });
  g.output(tall ? g.op('MatMul', [Wt, W]) : g.op('MatMul', [W, Wt]), 'G', T.DOUBLE);
  return g.build();
}

/** Gram matrices on the execution provider; one session per orientation, made on first use. */
export class GramRunner {
  private readonly sessions = new Map<boolean, Promise<Session>>();

  constructor(private readonly engine: Engine) {}

  /** The smaller Gram matrix of W [rows, cols] (row-major float32), n × n float64, n = min(rows, cols). */
  async gram(W: Float32Array, rows: number, cols: number): Promise<{ G: Float64Array; n: number }> {
    const tall = rows >= cols;
    let s = this.sessions.get(tall);
    if (!s) {
      s = this.engine.session(buildGramGraph(tall));
      this.sessions.set(tall, s);
    }
    const out = await (await s).run({ W: f32(W, [rows, cols]) });
    return { G: out.G.data as Float64Array, n: tall ? cols : rows };
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

/**
 * Eigenvalues (ascending) of a symmetric n × n matrix with ml-matrix's symmetric solver; values
 * below the float64 noise floor λ_max · n · 2⁻⁵² are raised to it.
 */
export function symmetricEigenvalues(G: Float64Array, n: number): Float64Array {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = 0.5 * (G[i * n + j] + G[j * n + i]);
      m.set(i, j, v);
      m.set(j, i, v);
    }
  }
  const ev = Float64Array.from(new EigenvalueDecomposition(m, { assumeSymmetric: true }).realEigenvalues).sort();
  const floor = Math.max(ev[n - 1], 0) * n * 2 ** -52 || Number.MIN_VALUE;
  for (let i = 0; i < n; i++) if (ev[i] < floor) ev[i] = floor;
  return ev;
}

export interface LayerAlphaTiming {
  gram: number;
  eig: number;
  fit: number;
}

/** α of one linear weight W [rows, cols]: Gram on the EP, eigenvalues, alpha_peak. */
export async function layerAlpha(
  gram: GramRunner,
  W: Float32Array,
  rows: number,
  cols: number,
  window: AlphaWindow = 'alphapruning',
): Promise<{ fit: AlphaFit; seconds: LayerAlphaTiming }> {
  const t0 = performance.now();
  const { G, n } = await gram.gram(W, rows, cols);
  const t1 = performance.now();
  const ev = symmetricEigenvalues(G, n);
  const t2 = performance.now();
  const fit = alphaPeak(ev, { window });
  const t3 = performance.now();
  return { fit, seconds: { gram: (t1 - t0) / 1000, eig: (t2 - t1) / 1000, fit: (t3 - t2) / 1000 } };
}

/**
 * Block targets from block-mean α (AlphaPruning's block_wise linear mapping): r_b spans
 * [1 − ε, 1 + ε] with α, then T_b = r_b · target · Σ P / Σ P·r (parameter-weighted mean = target).
 * Throws a TrimError when a target falls outside [0, 1).
 */
export function alphaTargets(blockAlpha: number[], blockParams: number[], target: number, epsilon: number): number[] {
  const bad = blockAlpha.findIndex((a) => !Number.isFinite(a));
  if (bad >= 0) {
    throw new TrimError(
      'E_NONFINITE',
      `block ${bad} has no finite AlphaPruning α (${blockAlpha[bad]}): its weights' spectrum is degenerate. Use --allocation uniform or owl for this model.`,
    );
  }
  const lo = Math.min(...blockAlpha);
  const hi = Math.max(...blockAlpha);
  const r = blockAlpha.map((a) => (hi > lo ? ((a - lo) / (hi - lo)) * 2 * epsilon + 1 - epsilon : 1));
  let sp = 0;
  let spr = 0;
  for (let b = 0; b < r.length; b++) {
    sp += blockParams[b];
    spr += blockParams[b] * r[b];
  }
  const scale = (target * sp) / spr;
  const targets = r.map((v) => v * scale);
  const out = targets.findIndex((t) => !(t >= 0 && t < 1));
  if (out >= 0) {
    throw new TrimError(
      'E_OPTION',
      `AlphaPruning gives block ${out} a sparsity of ${targets[out].toFixed(4)}, outside [0, 1) (target ${target}, --alpha-epsilon ${epsilon}); lower --alpha-epsilon or --sparsity.`,
    );
  }
  return targets;
}

/** Mean of a block's per-linear α (AlphaPruning's block_wise metric). */
export function blockMeanAlpha(alphas: number[]): number {
  return alphas.reduce((a, b) => a + b, 0) / alphas.length;
}
