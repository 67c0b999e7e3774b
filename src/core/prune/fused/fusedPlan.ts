/**
 * The fused path's plan and kernels (fusedPruner.ts runs it): which options it implements, how many
 * windows per chunk and blocks per run fit the device's memory, and which attention, ranking,
 * output and packing the graph uses on each execution provider.
 */
import type { PruneOptions } from '../../../contract';
import type { Checkpoint } from '../../model/checkpoint';
import { TrimError } from '../../errors';
import type { FusedSpec } from './fusedSpec';

export interface FusedPlan {
  chunkWindows: number;
  chunks: number;
  blocksPerRun: number;
  /** Estimated device bytes of one run (what the plan was sized against). */
  estimate: number;
  budget: number;
}

/** Options the fused graph implements; the rest (N:M, input_recalc) take the block-by-block path. */
export function canFuse(o: PruneOptions): boolean {
  return !o.nm && !o.inputRecalc && process.env.TRIM_FUSED !== '0';
}

const GiB = 2 ** 30;

/**
 * Device bytes, roughly: activations three times (input, Loop output, Loop's concatenation),
 * per block its stored and float32 and pruned weights, the largest linear's sort temporaries,
 * and one chunk's block temporaries (materialised attention scores, the MLP's intermediates).
 */
export function planFused(
  ckpt: Checkpoint,
  seqlen: number,
  nsamples: number,
  budgetGiB: number,
  chunkWindows: number | null,
  blocksPerRun: number | null,
): FusedPlan {
  const c = ckpt.config;
  const shapes = ckpt.linearShapes();
  const blockParams = shapes.reduce((a, [r, k]) => a + r * k, 0);
  const maxLinear = Math.max(...shapes.map(([r, k]) => r * k));
  const stored = c.dtype === 'float32' ? 4 : 2;
  const act = nsamples * seqlen * c.hidden * 4;
  const perWindow = 4 * (3 * c.heads * seqlen * seqlen + 5 * seqlen * c.intermediate + 14 * seqlen * c.hidden);
  const perBlock = blockParams * (2 * stored + 8);
  const budget = budgetGiB * GiB;
  const divisors = Array.from({ length: nsamples }, (_, i) => i + 1).filter((d) => nsamples % d === 0);
  const B =
    chunkWindows !== null
      ? Math.max(...divisors.filter((d) => d <= chunkWindows))
      : Math.max(1, ...divisors.filter((d) => d <= 32 && d * perWindow <= 0.25 * budget));
  const fixed = 3 * act + 28 * maxLinear + B * perWindow;
  const K = blocksPerRun ?? Math.max(1, Math.min(c.layers, Math.floor((0.9 * budget - fixed) / perBlock)));
  return { chunkWindows: B, chunks: nsamples / B, blocksPerRun: K, estimate: fixed + K * perBlock, budget };
}

/**
 * Which attention and which ranking the graph uses. On CUDA: GroupQueryAttention in float16
 * (flash attention), and ranks from two whole-matrix sorts (ORT's CUDA TopK sorts row by row).
 * On the CPU the per-row TopK and the materialised attention. Keep bits are packed by split-sum:
 * H200, 7B gate_proj 18944×3584 (scripts/gpu/parts.ts --only pack): reduce-int 20.8 ms (ORT's
 * generic int32 reduction), reduce-float 1.9 ms, split-sum 1.0 ms. TRIM_ATTENTION / TRIM_RANKS /
 * TRIM_OUTPUT / TRIM_PACK override, for measurements.
 *
 * Weights: on CUDA, initializers that ORT reads from the checkpoint's files while the session is
 * created, one tensor at a time (H200, Qwen2.5-7B shape: 14.1 GB in 3.3 s, peak host memory
 * 1.7 GiB; scripts/gpu/probe-ext.ts), instead of inputs that the host must hold in full for the
 * whole run (18 GiB at 7B with every block in one run). On the CPU, inputs (one block per run).
 * TRIM_WEIGHTS=inputs|initializers overrides.
 */
export function fusedKernels(ep: 'cpu' | 'cuda', precision: 'float32' | 'float16'): FusedKernels {
  const att = process.env.TRIM_ATTENTION;
  const rk = process.env.TRIM_RANKS;
  const pk = process.env.TRIM_PACK;
  const attention = att === 'matmul' || att === 'gqa' ? att : ep === 'cuda' && precision === 'float16' ? 'gqa' : 'matmul';
  if (attention === 'gqa' && precision !== 'float16') throw new TrimError('E_OPTION', 'TRIM_ATTENTION=gqa needs --precision float16.');
  const out = process.env.TRIM_OUTPUT;
  const wt = process.env.TRIM_WEIGHTS;
  return {
    weights: wt === 'inputs' || wt === 'initializers' ? wt : ep === 'cuda' ? 'initializers' : 'inputs',
    attention,
    ranks: rk === 'row' || rk === 'flat' ? rk : ep === 'cuda' ? 'flat' : 'row',
    masks: out === 'masks' || out === 'weights' ? out === 'masks' : ep === 'cuda',
    pack: pk === 'reduce-int' || pk === 'reduce-float' || pk === 'split-sum' ? pk : 'split-sum',
  };
}

export type FusedKernels = Pick<FusedSpec, 'attention' | 'ranks' | 'masks' | 'pack'> & {
  /** Weights fed by the host on every run, or initializers of a session per run read from the checkpoint. */
  weights: 'inputs' | 'initializers';
};
