/**
 * OWL layer allocation (REFERENCE.md §2): a block's outlier ratio D_l is the percentage of all
 * the Wanda scores of its linears that exceed M × their mean; blocks with more outliers are
 * pruned less. Targets are spread over ±λ around the global target.
 */

/** D_l in percent over the scores of every linear of one block. */
export function outlierRatio(scores: Float32Array[], m: number): number {
  let sum = 0;
  let n = 0;
  for (const s of scores) {
    for (let i = 0; i < s.length; i++) sum += s[i];
    n += s.length;
  }
  const threshold = (sum / n) * m;
  let count = 0;
  for (const s of scores) for (let i = 0; i < s.length; i++) if (s[i] > threshold) count++;
  return (100 * count) / n;
}

/** Block sparsities from outlier ratios: k = (D − min)/(max − min)·2λ, re-centred on 1 − target; T = 1 − k. */
export function owlTargets(ratios: number[], target: number, lambda: number): number[] {
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  const span = hi - lo;
  const k = ratios.map((d) => (span > 0 ? ((d - lo) / span) * 2 * lambda : 0));
  const mean = k.reduce((a, b) => a + b, 0) / k.length;
  return k.map((v) => 1 - (v - mean + (1 - target)));
}
