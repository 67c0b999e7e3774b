/**
 * The one place where a pruning job's results become its report: each pruned linear
 * (blockPruner.ts LinearResult) a LayerReport, each block a BlockReport, and the job the
 * TrimReport written as trim-report.json and the summary it ends with.
 */
import type {
  BaselineReport,
  BlockReport,
  EvalResult,
  LayerReport,
  ModelSummary,
  PhaseRuns,
  PhaseSeconds,
  PhaseSource,
  PruneOptions,
  PruneSummary,
  TrimReport,
} from '../../contract';
import { REPORT_FORMAT } from '../../contract';
import { blockMeanAlpha } from './alpha';
import type { LinearResult } from './blockPruner';
import { ORT_VERSION } from '../ort/engine';

export const TRIM_VERSION = '0.1.0';

/** Fraction of zeros, the one definition of achieved sparsity. */
export function zeroFraction(zeros: number, total: number): number {
  return total === 0 ? 0 : zeros / total;
}

/** A linear's report, and its zeros. */
export function layerReport(l: LinearResult, target: number, alpha: number | null): { layer: LayerReport; zeros: number } {
  let zeros = 0;
  for (let r = 0; r < l.zeros.length; r++) zeros += l.zeros[r];
  const t = l.search;
  const layer: LayerReport = {
    name: l.name.split('.').pop()!,
    rows: l.rows,
    cols: l.cols,
    target,
    achieved: zeroFraction(zeros, l.rows * l.cols),
    rowSparsity: Array.from(l.zeros, (z) => Math.round((z / l.cols) * 1e6) / 1e6),
    metricBefore: t ? t.before : null,
    metricAfter: t ? t.after : null,
    lr: t ? t.lr : null,
    iteration: t ? t.iteration : null,
    alpha,
    seconds: l.seconds,
  };
  return { layer, zeros };
}

/** A block's report from its layers' (achieved sparsity counted over all its weights). */
export function blockReport(
  index: number,
  target: number,
  layers: LayerReport[],
  seconds: BlockReport['seconds'],
  ratios: number[] | null,
  alphas: number[][] | null,
): BlockReport {
  const blockZeros = layers.reduce((a, l) => a + Math.round(l.achieved * l.rows * l.cols), 0);
  const blockWeights = layers.reduce((a, l) => a + l.rows * l.cols, 0);
  return {
    index,
    target,
    achieved: zeroFraction(blockZeros, blockWeights),
    outlierRatio: ratios ? ratios[index] : null,
    alpha: alphas ? blockMeanAlpha(alphas[index]) : null,
    seconds,
    layers,
  };
}

export interface JobResult {
  ep: TrimReport['ep'];
  device: string;
  model: ModelSummary;
  /** The options as they ran. */
  options: PruneOptions;
  precision: 'float32' | 'float16';
  zeros: number;
  weights: number;
  dense: EvalResult | null;
  pruned: EvalResult | null;
  blocks: BlockReport[];
  seconds: PhaseSeconds;
  phaseSource: PhaseSource;
  phaseRuns?: PhaseRuns;
  out: string;
  baseline: BaselineReport | null;
}

export function trimReport(j: JobResult): TrimReport {
  return {
    format: REPORT_FORMAT,
    createdAt: new Date().toISOString(),
    versions: { trim: TRIM_VERSION, onnxruntime: ORT_VERSION, node: process.version },
    ep: j.ep,
    model: j.model,
    options: j.options,
    device: j.device,
    sparsity: zeroFraction(j.zeros, j.weights),
    perplexity: { dense: j.dense, pruned: j.pruned },
    blocks: j.blocks,
    seconds: j.seconds,
    phaseSource: j.phaseSource,
    ...(j.phaseRuns ? { phaseRuns: j.phaseRuns } : {}),
    out: j.out,
    ...(j.baseline ? { baseline: j.baseline } : {}),
  };
}

export function pruneSummary(j: JobResult): PruneSummary {
  return {
    type: 'summary',
    perplexity: j.pruned ? j.pruned.perplexity : null,
    dense_perplexity: j.dense ? j.dense.perplexity : null,
    sparsity: zeroFraction(j.zeros, j.weights),
    seconds: j.seconds,
    phaseSource: j.phaseSource,
    ...(j.phaseRuns ? { phaseRuns: j.phaseRuns } : {}),
    ep: j.ep,
    precision: j.precision,
    device: j.device,
    out: j.out,
    report: `${j.out}/trim-report.json`,
    ...(j.baseline ? { baseline_perplexity: j.baseline.perplexity?.perplexity ?? null } : {}),
  };
}
