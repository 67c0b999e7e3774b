/**
 * The typed messages between the extension host and the two webviews (the results panel and the
 * sidebar visualization), plus the one pure function both sides use to fold the worker's event
 * stream into a run snapshot. No `vscode` import, no DOM: it is imported by the extension host
 * (Node) and bundled into the webviews (browser).
 *
 *   host → webview   ToWebview     what to show: a run snapshot, live events, the list of runs
 *   webview → host   FromWebview   what the user asked for: run again, compare, reveal, cancel
 *
 * Flow: the webview posts `ready` once its script has loaded (also after a reload). The host
 * answers with `runs` and a `run` message per slot, then forwards every TrimEvent of the job that
 * a slot shows as an `event` message. A webview never computes a result: it only draws.
 */
import {
  numberBounds,
  OPTION_CHOICES,
  withinBounds,
  type Allocation,
  type BlockReport,
  type EvalResult,
  type LayerReport,
  type ModelSummary,
  type OptionSchema,
  type PrecisionChoice,
  type PruneOptions,
  type ScoreKind,
  type TrimEvent,
  type TrimReport,
} from './contract';
import schema from '../schemas/trim.config.schema.json';

export const WEBVIEW_PROTOCOL = 'trim-webview/1';

export type WebviewKind = 'panel' | 'sidebar';
export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
/** The panel shows a primary run and, optionally, a second run side by side. */
export type Slot = 'primary' | 'compare';

/** A run as a webview draws it: the finished report, or what has arrived so far. */
export interface RunSnapshot {
  id: string;
  /** Short label for pickers and headers, e.g. "Qwen2.5-0.5B · 50% · owl". */
  label: string;
  status: RunStatus;
  model: ModelSummary | null;
  /** Options of a prune job (null until the `start` event of a prune job arrived). */
  options: PruneOptions | null;
  /** Finished blocks, in order of arrival (from `block_end`, or the report's blocks). */
  blocks: BlockReport[];
  /** The block being pruned now, with the linears finished so far (from `layer` events). */
  current: { index: number; blocks: number; target: number; layers: LayerReport[] } | null;
  perplexity: { dense: EvalResult | null; pruned: EvalResult | null };
  /**
   * The report, once the job is done (or when a run was loaded from disk), without its per-block
   * rows: those are `blocks` above, so every row value crosses to the webview once.
   */
  report: ReportHeader | null;
  error: { code: string; message: string } | null;
}

/** A report without its blocks (the snapshot's `blocks` carry them). */
export type ReportHeader = Omit<TrimReport, 'blocks'>;

/** One entry of the run list (compare picker). */
export interface RunListItem {
  id: string;
  label: string;
  status: RunStatus;
  /** When the run was queued (ISO 8601): tells runs of one label apart. */
  createdAt?: string;
  /** The run's options (the picker names the ones that differ between runs). */
  options?: PruneOptions | null;
}

/** What "Run again" may override; anything absent keeps the run's own value. */
export interface RunOverrides {
  iterations?: number;
  sparsity?: number;
  /** Per-block targets (length = number of blocks), or null to clear them. */
  blockSparsity?: number[] | null;
  allocation?: Allocation;
  trim?: boolean;
  score?: ScoreKind;
  owlLambda?: number;
  owlM?: number;
  alphaEpsilon?: number;
  nsamples?: number;
  /** Tokens per window, or null for the automatic choice. */
  seqlen?: number | null;
  /** Evaluation windows at most, or null for all. */
  maxEvalWindows?: number | null;
  precision?: PrecisionChoice;
}

/**
 * The part of a webview's saved state (acquireVsCodeApi().setState) the host may read: VS Code
 * hands it to the panel serializer after a reload, so the host knows which runs to send again.
 */
export interface PersistedWebviewState {
  primaryRunId: string | null;
  compareRunId: string | null;
}

// ---------------------------------------------------------------------------------------------
// host → webview

export type ToWebview =
  /** Show `run` in `slot` (null clears the slot). The sidebar only has a primary slot. */
  | { type: 'run'; slot: Slot; run: RunSnapshot | null }
  /** One live event of run `runId`; applied to every slot that shows that run. */
  | { type: 'event'; runId: string; event: TrimEvent }
  /** The runs the user can pick for comparison; `busy` when a job is running or queued. */
  | { type: 'runs'; runs: RunListItem[]; busy: boolean }
  /** Panel: show block `block` (and linear `layer`, when given) of run `runId` (a sidebar click). */
  | { type: 'focus'; runId: string; block: number; layer: string | null };

// ---------------------------------------------------------------------------------------------
// webview → host

export type FromWebview =
  /** The script loaded (first open or reload): send `runs` and the slots. */
  | { type: 'ready'; kind: WebviewKind }
  /** Run the job of `runId` again with these overrides (precedence: panel overrides last). */
  | { type: 'runAgain'; runId: string; overrides: RunOverrides }
  /** Show run `runId` beside the primary one (null = stop comparing). */
  | { type: 'compare'; runId: string | null }
  /** Sidebar: open the panel on this run, at this block (and linear, when given). */
  | { type: 'reveal'; runId: string; block: number; layer: string | null }
  /** Cancel the running job `runId`. */
  | { type: 'cancel'; runId: string }
  /** Open the README's section `section` (the "What am I looking at?" notes). */
  | { type: 'help'; section: string }
  /** Save `data` (CSV text, or a PNG data URL) under a name the user picks, `name` suggested. */
  | { type: 'export'; format: 'csv' | 'png'; name: string; data: string };

/**
 * Checks a message received from a webview (it arrives untyped). Returns the typed message, or
 * null when the shape is wrong: the host ignores it rather than trusting it.
 */
export function parseFromWebview(value: unknown): FromWebview | null {
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string' && x.length > 0;
  switch (m.type) {
    case 'ready':
      return m.kind === 'panel' || m.kind === 'sidebar' ? { type: 'ready', kind: m.kind } : null;
    case 'runAgain': {
      if (!str(m.runId) || typeof m.overrides !== 'object' || m.overrides === null) return null;
      const overrides = parseOverrides(m.overrides as Record<string, unknown>);
      return overrides ? { type: 'runAgain', runId: m.runId, overrides } : null;
    }
    case 'compare':
      return m.runId === null || str(m.runId) ? { type: 'compare', runId: m.runId } : null;
    case 'reveal':
      if (!str(m.runId) || !Number.isInteger(m.block) || (m.block as number) < 0) return null;
      if (!(m.layer === null || str(m.layer))) return null;
      return { type: 'reveal', runId: m.runId, block: m.block as number, layer: m.layer };
    case 'cancel':
      return str(m.runId) ? { type: 'cancel', runId: m.runId } : null;
    case 'export': {
      if ((m.format !== 'csv' && m.format !== 'png') || typeof m.name !== 'string' || typeof m.data !== 'string') return null;
      if (!new RegExp(`^[A-Za-z0-9._-]{1,120}\\.${m.format}$`).test(m.name)) return null;
      if (m.format === 'png' && !m.data.startsWith('data:image/png;base64,')) return null;
      return { type: 'export', format: m.format, name: m.name, data: m.data };
    }
    case 'help':
      return typeof m.section === 'string' && /^[a-z0-9-]{1,80}$/.test(m.section) ? { type: 'help', section: m.section } : null;
    default:
      return null;
  }
}

/** The options "Run again" may override, each checked against its entry in the option table. */
export const RUN_OVERRIDE_KEYS = [
  'iterations',
  'sparsity',
  'blockSparsity',
  'allocation',
  'trim',
  'score',
  'owlLambda',
  'owlM',
  'alphaEpsilon',
  'nsamples',
  'seqlen',
  'maxEvalWindows',
  'precision',
] as const satisfies readonly (keyof RunOverrides)[];
// Every field of RunOverrides is in the list (a compile error names the one left out).
const everyOverride: Exclude<keyof RunOverrides, (typeof RUN_OVERRIDE_KEYS)[number]> extends never ? true : never = true;
void everyOverride;

const OPTION_TABLE = (schema as unknown as { properties: Record<string, OptionSchema> }).properties;

/** Whether `v` is a value of option `key` as the option table states it (type, bounds, choices). */
export function validOverride(key: (typeof RUN_OVERRIDE_KEYS)[number], v: unknown): boolean {
  const p = OPTION_TABLE[key];
  const types = ([] as unknown[]).concat(p.type);
  if (v === null) return types.includes('null');
  const b = numberBounds(p);
  if (b) return withinBounds(b, v);
  const choices = (OPTION_CHOICES as Record<string, readonly string[]>)[key];
  if (choices) return choices.includes(v as string);
  if (types.includes('boolean')) return typeof v === 'boolean';
  if (key === 'blockSparsity') {
    const item = numberBounds(p.items ?? {});
    return Array.isArray(v) && v.length > 0 && item !== null && v.every((x) => withinBounds(item, x));
  }
  return false;
}

function parseOverrides(o: Record<string, unknown>): RunOverrides | null {
  const out: Record<string, unknown> = {};
  for (const k of RUN_OVERRIDE_KEYS) {
    if (o[k] === undefined) continue;
    if (!validOverride(k, o[k])) return null;
    out[k] = Array.isArray(o[k]) ? (o[k] as unknown[]).slice() : o[k];
  }
  return out as RunOverrides;
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/** An empty snapshot for a run that has been queued but not started. */
export function emptyRun(id: string, label: string): RunSnapshot {
  return {
    id,
    label,
    status: 'queued',
    model: null,
    options: null,
    blocks: [],
    current: null,
    perplexity: { dense: null, pruned: null },
    report: null,
    error: null,
  };
}

/** A snapshot of a finished run, from its report: its blocks once, in `blocks`. */
export function runFromReport(id: string, label: string, report: TrimReport): RunSnapshot {
  const { blocks, ...header } = report;
  return {
    id,
    label,
    status: 'done',
    model: report.model,
    options: report.options,
    blocks: blocks.slice(),
    current: null,
    perplexity: { dense: report.perplexity.dense, pruned: report.perplexity.pruned },
    report: header,
    error: null,
  };
}

/**
 * Folds one worker event into a snapshot and returns the new snapshot (the input is not
 * modified). The host keeps its snapshot current with it (to send a whole snapshot to a webview
 * that opens mid-run); the webview applies the same function to the `event` messages.
 * `report` is not part of the event stream: the host attaches it when the job is done.
 */
export function applyEvent(run: RunSnapshot, event: TrimEvent): RunSnapshot {
  switch (event.type) {
    case 'start':
      return {
        ...run,
        status: 'running',
        model: event.model,
        options: 'out' in event.options ? event.options : run.options,
      };
    case 'block_start':
      return {
        ...run,
        status: 'running',
        current: { index: event.block, blocks: event.blocks, target: event.target, layers: [] },
      };
    case 'layer': {
      const cur =
        run.current && run.current.index === event.block
          ? run.current
          : { index: event.block, blocks: run.model?.blocks ?? event.block + 1, target: event.layer.target, layers: [] };
      const layers = cur.layers.filter((l) => l.name !== event.layer.name).concat([event.layer]);
      return { ...run, current: { ...cur, layers } };
    }
    case 'block_end': {
      const blocks = run.blocks.filter((b) => b.index !== event.block).concat([event.report]);
      blocks.sort((a, b) => a.index - b.index);
      const current = run.current && run.current.index === event.block ? null : run.current;
      return { ...run, blocks, current };
    }
    case 'eval':
      return { ...run, perplexity: { ...run.perplexity, [event.which]: event.result } };
    case 'done':
      return { ...run, status: 'done', current: null };
    case 'error':
      return { ...run, status: 'failed', error: event.error, current: null };
    default:
      return run;
  }
}
