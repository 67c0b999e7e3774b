/**
 * The contract between the three worlds: the extension host, the worker (and the CLI) and the
 * webview. It holds only types and a few constants: no code that computes, no imports.
 *
 *   JobSpec      extension → worker    what to run
 *   TrimEvent    worker → extension    progress and live results, one object per event
 *   TrimReport   written to disk       `trim-report.json` beside the pruned checkpoint
 */

export const REPORT_FORMAT = 'trim-report/1';

export type Family = 'llama' | 'qwen2' | 'mistral' | 'opt' | 'qwen3' | 'gemma2' | 'gemma3' | 'phi3';
// The choices of the options that take one of a list: the `enum`s of
// schemas/trim.config.schema.json as typed constants, shared by the core, the CLI, the host and
// the webview (test/unit/optionTable.test.ts fails when they and the schema differ).
export const SCORES = ['wanda', 'magnitude'] as const;
export type ScoreKind = (typeof SCORES)[number];
export const ALLOCATIONS = ['uniform', 'owl', 'alpha'] as const;
export type Allocation = (typeof ALLOCATIONS)[number];
export const EP_CHOICES = ['auto', 'cuda', 'cpu'] as const;
export type EpChoice = (typeof EP_CHOICES)[number];
export type Ep = 'cuda' | 'cpu';
export const LAYER_METRICS = [
  'cosim_flat',
  'cosim_dim',
  'cosim_sample',
  'mse',
  'mse_dim',
  'mae',
  'snr',
  'psnr_flat',
  'psnr_dim',
  'psnr_sample',
] as const;
export type LayerMetric = (typeof LAYER_METRICS)[number];
export const ROW_METRICS = ['cosim', 'mse', 'psnr'] as const;
export type RowMetric = (typeof ROW_METRICS)[number];
export const PRECISIONS = ['auto', 'float32', 'float16'] as const;
export type PrecisionChoice = (typeof PRECISIONS)[number];
/** Every option that takes one of a list, and its list. */
export const OPTION_CHOICES = {
  score: SCORES,
  allocation: ALLOCATIONS,
  layerMetric: LAYER_METRICS,
  rowMetric: ROW_METRICS,
  ep: EP_CHOICES,
  precision: PRECISIONS,
} as const;

/** The keywords of an option's entry in schemas/trim.config.schema.json that bound a value. */
export interface OptionSchema {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: readonly unknown[];
  pattern?: string;
  default?: unknown;
  description?: string;
  items?: OptionSchema;
  if?: { minimum?: number };
  then?: unknown;
}

/** A numeric option's bounds, read from its schema entry by `numberBounds`. */
export interface NumberBounds {
  integer: boolean;
  nullable: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

/**
 * The bounds a schema entry states, or null when it is not a number. A fraction states "below 1"
 * as `if: {minimum: 1}, then: {errorMessage}` (so that VS Code shows the words to write): read as
 * its exclusive maximum. The one reading of the schema's bounds: the core, the CLI, the host's
 * message checks and the panel's form all go through it.
 */
export function numberBounds(p: OptionSchema): NumberBounds | null {
  const types = ([] as unknown[]).concat(p.type);
  if (!types.includes('number') && !types.includes('integer')) return null;
  const below = p.if?.minimum;
  return {
    integer: types.includes('integer'),
    nullable: types.includes('null'),
    minimum: p.minimum,
    maximum: p.maximum,
    exclusiveMinimum: p.exclusiveMinimum,
    exclusiveMaximum: p.exclusiveMaximum ?? (typeof below === 'number' && p.then ? below : undefined),
  };
}

/** Whether `v` is a number within `b` (an integer where `b` asks for one); `scale` scales the bounds (100 for a percentage). */
export function withinBounds(b: NumberBounds, v: unknown, scale = 1): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (b.integer && !Number.isInteger(v))) return false;
  if (b.minimum !== undefined && v < b.minimum * scale) return false;
  if (b.exclusiveMinimum !== undefined && v <= b.exclusiveMinimum * scale) return false;
  if (b.maximum !== undefined && v > b.maximum * scale) return false;
  if (b.exclusiveMaximum !== undefined && v >= b.exclusiveMaximum * scale) return false;
  return true;
}

/** Every option of a pruning job, resolved (no field left to a default). */
export interface PruneOptions {
  /** Checkpoint folder (config.json, *.safetensors, tokenizer.json). */
  model: string;
  /** Output folder; created whole or not at all. */
  out: string;
  /** Replace `out` if it exists. */
  overwrite: boolean;
  /**
   * Continue an interrupted run from the checkpoint in `out`'s partial folder (same options and
   * source only), and keep that checkpoint when this run is cancelled. Default false; optional
   * so that reports and options written before it existed still type-check.
   */
  resume?: boolean;
  /** Global target sparsity of the prunable linear layers, in [0, 1). */
  sparsity: number;
  /** Optional per-block targets (length = number of blocks); overrides allocation. */
  blockSparsity: number[] | null;
  score: ScoreKind;
  /** TRIM row-wise search on top of the score. */
  trim: boolean;
  iterations: number;
  allocation: Allocation;
  owlLambda: number;
  owlM: number;
  alphaEpsilon: number;
  /** N:M structure such as "2:4" (non-TRIM path only), or null. */
  nm: string | null;
  layerMetric: LayerMetric;
  rowMetric: RowMetric;
  forbidNegLr: boolean;
  inputRecalc: boolean;
  nsamples: number;
  /** Tokens per window; null = 512 for models with <= 1024 positions, else 2048. */
  seqlen: number | null;
  /** Calibration text file. */
  calib: string;
  /** Evaluation text file, or null to skip perplexity. */
  eval: string | null;
  /** Evaluate at most this many windows (null = all). */
  maxEvalWindows: number | null;
  ep: EpChoice;
  /** Windows per block run (null = sized automatically). */
  batch: number | null;
  /** Device memory to size runs for, GiB (CUDA; null = auto: the card's free memory less a margin). */
  gpuMemory?: number | null;
  /** Blocks pruned per device run (null = as many as gpuMemory allows on CUDA, 1 on the CPU). */
  blocksPerRun?: number | null;
  /**
   * Block passes in float32 or float16 (as the authors run their model; CUDA). auto (default):
   * float16 on CUDA for 16-bit checkpoints, else float32. Reports hold the one that ran.
   */
  precision?: PrecisionChoice;
  /**
   * With `trim`: also prune with TRIM off under the same protocol (or reuse a cached one) and
   * carry it in the report as `baseline`. Optional: absent = false.
   */
  baseline?: boolean;
  /** Also write the keep masks, bit-packed, as `trim-masks.bits` in `out`. Optional: absent = false. */
  saveMasks?: boolean;
}

export interface EvalOptions {
  model: string;
  text: string;
  seqlen: number;
  maxWindows: number | null;
  ep: EpChoice;
}

export type JobSpec = { kind: 'prune'; id: string; options: PruneOptions } | { kind: 'eval'; id: string; options: EvalOptions };

export interface ModelSummary {
  path: string;
  architecture: string;
  family: Family;
  blocks: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  maxPositions: number;
  dtype: 'float16' | 'bfloat16' | 'float32';
  parameters: number;
  /** Names of the prunable linear layers of one block, in order (e.g. q_proj … down_proj). */
  linears: string[];
  /** [out, in] of each linear of a block, same order as `linears`. */
  linearShapes: [number, number][];
  /**
   * Fused linears (Phi-3's qkv_proj, gate_up_proj), by short name: which output rows belong to
   * which projection, [start, end) in order. Absent when the family fuses none.
   */
  linearParts?: Record<string, { name: string; start: number; end: number }[]>;
}

export interface LayerReport {
  /** Short name within the block: q_proj, k_proj, …, down_proj / fc2. */
  name: string;
  rows: number;
  cols: number;
  target: number;
  /** Fraction of the layer's weights that are zero after pruning. */
  achieved: number;
  /** Sparsity of every output row (length = rows). */
  rowSparsity: number[];
  /** Layer metric of the uniform start (null when TRIM was off). */
  metricBefore: number | null;
  /** Layer metric of the chosen row sparsities (null when TRIM was off). */
  metricAfter: number | null;
  /** Learning rate of the chosen search (0 = uniform kept; null when TRIM was off). */
  lr: number | null;
  /** Iteration (1-based) of the chosen search at which the best metric was reached (0 = start). */
  iteration: number | null;
  /** AlphaPruning metric of this layer, when allocation = alpha. */
  alpha?: number | null;
  seconds: number;
}

export interface BlockReport {
  index: number;
  target: number;
  achieved: number;
  /** OWL outlier ratio D_l (percent) when allocation = owl. */
  outlierRatio?: number | null;
  /** Block-mean alpha when allocation = alpha. */
  alpha?: number | null;
  seconds: { statistics: number; prune: number; propagate: number };
  layers: LayerReport[];
}

export interface EvalResult {
  perplexity: number;
  windows: number;
  tokens: number;
  seqlen: number;
  seconds: number;
}

/** Seconds per phase of a job. */
export interface PhaseSeconds {
  load: number;
  calibration: number;
  allocation: number;
  embed: number;
  statistics: number;
  trim: number;
  prune: number;
  propagate: number;
  write: number;
  dense_eval: number;
  eval: number;
  total: number;
  /**
   * Fused path: its device runs, timed around each session.run (onnxruntime-node's copies of the
   * inputs and outputs included); statistics, prune and propagate split them (phaseSource).
   */
  device?: number;
}

/**
 * How a job's statistics / prune / propagate seconds were obtained. 'measured': around each pass
 * (the block-by-block path). The fused path runs all three in one device run per run of blocks,
 * whose measured time is split in the proportions of ONNX Runtime's per-node profile: of that run
 * itself for every run ('profiled', TRIM_PHASES=1), or of a sample ('sampled', the default on the
 * CPU: the first two runs of each session, whose second gives the shares of its later runs); or
 * not at all ('unsplit': all in prune; CUDA by default, where node times are launches, and
 * TRIM_PHASES=0).
 */
export type PhaseSource = 'measured' | 'profiled' | 'sampled' | 'unsplit';

/** The fused path's device runs of this job (a resumed job: since it resumed), and how many were split by their own profile, or not at all. */
export interface PhaseRuns {
  runs: number;
  profiled: number;
  unsplit: number;
}

/** The plain (TRIM off) run a TRIM report is compared with: same options and protocol. */
export interface BaselineReport {
  score: ScoreKind;
  /** Perplexity of the baseline's pruned model (the dense one is the report's). */
  perplexity: EvalResult | null;
  sparsity: number;
  blocks: { index: number; target: number; achieved: number; layers: { name: string; achieved: number }[] }[];
  /** Seconds the baseline run took (when it was run, not reused). */
  seconds: number;
  createdAt: string;
  /** Reused from the cache rather than run for this report. */
  cached: boolean;
}

export interface TrimReport {
  format: typeof REPORT_FORMAT;
  createdAt: string;
  versions: { trim: string; onnxruntime: string; node: string };
  ep: Ep;
  /** The device that ran the job and why ("CUDA: NVIDIA H200, 139.2 of 140.4 GiB free", "CPU: no NVIDIA driver"). */
  device?: string;
  model: ModelSummary;
  /** The options as they ran (precision and, on CUDA, gpuMemory resolved from auto). */
  options: PruneOptions;
  /** Achieved sparsity over all pruned linear layers (zeros / weights). */
  sparsity: number;
  perplexity: { dense: EvalResult | null; pruned: EvalResult | null };
  blocks: BlockReport[];
  seconds: PhaseSeconds;
  /** How seconds.statistics / prune / propagate (and the blocks' seconds) were obtained; absent in reports written before it. */
  phaseSource?: PhaseSource;
  phaseRuns?: PhaseRuns;
  out: string;
  /** The same job with TRIM off (options.baseline); absent in reports written without it. */
  baseline?: BaselineReport | null;
}

/** The final object of a prune job (the CLI's last `--json` line). */
export interface PruneSummary {
  type: 'summary';
  perplexity: number | null;
  dense_perplexity: number | null;
  sparsity: number;
  seconds: PhaseSeconds;
  /** As TrimReport.phaseSource / phaseRuns. */
  phaseSource?: PhaseSource;
  phaseRuns?: PhaseRuns;
  ep: Ep;
  /** Arithmetic of the block passes that ran. */
  precision?: 'float32' | 'float16';
  device?: string;
  out: string;
  report: string;
  /** Perplexity of the baseline (TRIM off, same protocol), when the job had one. */
  baseline_perplexity?: number | null;
}

export type Phase = 'load' | 'calibration' | 'dense_eval' | 'allocation' | 'embed' | 'blocks' | 'write' | 'eval';

/** Events, in the order a prune job emits them. Each is one JSON line on the CLI's stdout. */
export type TrimEvent =
  | {
      type: 'start';
      job: string;
      ep: Ep;
      epNotice: string | null;
      model: ModelSummary;
      options: PruneOptions | EvalOptions;
      device?: string;
    }
  | { type: 'phase'; phase: Phase; message: string }
  | { type: 'progress'; phase: Phase; done: number; total: number }
  | { type: 'block_start'; block: number; blocks: number; target: number }
  | { type: 'layer'; block: number; layer: LayerReport }
  | { type: 'block_end'; block: number; blocks: number; report: BlockReport }
  | { type: 'eval'; which: 'dense' | 'pruned'; result: EvalResult }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'done'; summary: PruneSummary | (EvalResult & { type: 'eval_summary'; ep: Ep }) }
  | { type: 'error'; error: { code: string; message: string } };

/** Messages from the extension host to the worker process (IPC). */
export type ToWorker = { type: 'run'; spec: JobSpec } | { type: 'cancel' };
/** Messages from the worker process to the extension host (IPC). */
export type FromWorker = { type: 'event'; job: string; event: TrimEvent } | { type: 'exit'; job: string; ok: boolean };

/**
 * Where a job writes its output before renaming it into place: a hidden sibling of `out`.
 * Whoever kills a worker (Cancel, crash) removes this folder; the worker removes it itself on
 * any error it survives. Kept here so that both sides agree on the name.
 */
export function partialDirFor(out: string): string {
  // A trailing separator names the same folder (`out/` must not give `out/..trim-partial`).
  if (/[^/\\][/\\]+$/.test(out)) out = out.replace(/[/\\]+$/, '');
  const slash = Math.max(out.lastIndexOf('/'), out.lastIndexOf('\\'));
  const parent = slash >= 0 ? out.slice(0, slash) : '.';
  const base = slash >= 0 ? out.slice(slash + 1) : out;
  return `${parent}/.${base}.trim-partial`;
}

/** Time left as the progress texts give it (CLI bar, notification, Runs row): "~40 s left", "~3 min left", "~1 h 20 min left". */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `~${Math.max(1, Math.round(seconds))} s left`;
  const min = Math.round(seconds / 60);
  if (min < 60) return `~${min} min left`;
  return `~${Math.floor(min / 60)} h ${min % 60} min left`;
}
