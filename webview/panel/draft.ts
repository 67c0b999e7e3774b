/**
 * The "Run again" form's values, without the DOM: a draft as the user typed it (saved with the
 * panel state) and its check, which turns it into RunOverrides only when valid. Bounds come from
 * schemas/trim.config.schema.json (bundled), read by the contract's numberBounds as the core, the
 * CLI and the host read them; choices are the contract's lists.
 */
import {
  ALLOCATIONS,
  numberBounds,
  PRECISIONS,
  SCORES,
  withinBounds,
  type NumberBounds,
  type OptionSchema,
  type PruneOptions,
} from '../../src/contract';
import type { RunOverrides, RunSnapshot } from '../../src/webviewProtocol';
import schema from '../../schemas/trim.config.schema.json';

const PROPS = (schema as unknown as { properties: Record<string, OptionSchema> }).properties;
/** The bounds of a numeric option. */
export const bounds = (key: string): NumberBounds => numberBounds(PROPS[key]) ?? { integer: false, nullable: false };
/** The choices of the options the form offers as a list. */
export const CHOICES = { score: SCORES, allocation: ALLOCATIONS, precision: PRECISIONS } as const;

export interface Draft {
  /** The run whose options the draft started from. */
  runId: string;
  trim?: string;
  iterations: string;
  score?: string;
  sparsity: string;
  blockSparsity: string;
  allocation: string;
  owlLambda?: string;
  owlM?: string;
  alphaEpsilon?: string;
  nsamples?: string;
  seqlen?: string;
  maxEvalWindows?: string;
  precision?: string;
}

type TextKey = 'iterations' | 'owlLambda' | 'owlM' | 'alphaEpsilon' | 'nsamples' | 'seqlen' | 'maxEvalWindows';
type ChoiceKey = 'score' | 'allocation' | 'precision';

const num = (v: number) => String(Number(v.toPrecision(12)));

/** The draft a run's own options give. */
export function draftFrom(run: RunSnapshot): Draft {
  const o = run.options;
  const pct = (v: number) => String(Number((v * 100).toFixed(4)));
  const s = (k: keyof PruneOptions, empty = '') => {
    const v = o?.[k];
    return v === null || v === undefined ? empty : typeof v === 'number' ? num(v) : String(v);
  };
  return {
    runId: run.id,
    trim: o ? (o.trim ? 'on' : 'off') : 'on',
    iterations: s('iterations'),
    score: s('score', 'wanda'),
    sparsity: o ? pct(o.sparsity) : '',
    blockSparsity: o?.blockSparsity ? o.blockSparsity.map(pct).join(', ') : '',
    allocation: o?.allocation ?? 'uniform',
    owlLambda: s('owlLambda'),
    owlM: s('owlM'),
    alphaEpsilon: s('alphaEpsilon'),
    nsamples: s('nsamples'),
    seqlen: s('seqlen'),
    maxEvalWindows: s('maxEvalWindows'),
    precision: s('precision', 'float32'),
  };
}

/** "from 0 to 1000", "above 0 up to 1000000", "from 0 up to (not including) 100". */
export function range(p: NumberBounds, scale = 1): string {
  const lo =
    p.exclusiveMinimum !== undefined
      ? `above ${num(p.exclusiveMinimum * scale)}`
      : p.minimum !== undefined
        ? `from ${num(p.minimum * scale)}`
        : '';
  const hi =
    p.exclusiveMaximum !== undefined
      ? `up to (not including) ${num(p.exclusiveMaximum * scale)}`
      : p.maximum !== undefined
        ? `to ${num(p.maximum * scale)}`
        : 'or more';
  return `${lo} ${hi}`.trim();
}

export const LABELS: Record<TextKey | ChoiceKey | 'trim' | 'sparsity' | 'blockSparsity', string> = {
  trim: 'TRIM',
  iterations: 'Iterations',
  score: 'Score',
  sparsity: 'Target sparsity (%)',
  blockSparsity: 'Per-block targets (%)',
  allocation: 'Allocation',
  owlLambda: 'OWL λ',
  owlM: 'OWL M',
  alphaEpsilon: 'AlphaPruning ε',
  nsamples: 'Calibration windows',
  seqlen: 'Tokens per window',
  maxEvalWindows: 'Evaluation windows',
  precision: 'Precision',
};
const EMPTY: Partial<Record<TextKey, string>> = { seqlen: 'auto', maxEvalWindows: 'all' };

/** One text option checked against its schema: the number, null (empty and nullable) or the problem. */
function parseText(key: TextKey, raw: string | undefined): { value: number | null | undefined } | { error: string } {
  const p = bounds(key);
  const t = (raw ?? '').trim();
  if (raw === undefined) return { value: undefined };
  if (t === '' && p.nullable) return { value: null };
  const x = Number(t);
  const kind = p.integer ? 'a whole number' : 'a number';
  const blank = p.nullable ? `, or empty for ${EMPTY[key] ?? 'the default'}` : '';
  if (t === '' || !withinBounds(p, x)) return { error: `${LABELS[key]}: ${kind} ${range(p)}${blank}.` };
  return { value: x };
}

/** Validates a draft; returns the overrides or the message of the first problem. */
export function parseDraft(d: Draft, blocks: number): { overrides: RunOverrides } | { error: string } {
  const out: RunOverrides = {};
  if (d.trim !== undefined) {
    if (d.trim !== 'on' && d.trim !== 'off') return { error: 'TRIM: on or off.' };
    out.trim = d.trim === 'on';
  }
  const sp = bounds('sparsity');
  const s = Number(d.sparsity.trim());
  if (d.sparsity.trim() === '' || !withinBounds(sp, s, 100)) return { error: `${LABELS.sparsity}: a percentage ${range(sp, 100)}.` };
  out.sparsity = s / 100;
  const bs = d.blockSparsity.trim();
  if (bs !== '') {
    const item = numberBounds(PROPS.blockSparsity.items ?? {}) ?? { integer: false, nullable: false };
    const nums = bs
      .split(/[\s,;]+/)
      .filter((x) => x !== '')
      .map(Number);
    if (nums.some((x) => !withinBounds(item, x, 100)))
      return { error: `${LABELS.blockSparsity}: percentages ${range(item, 100)}, separated by commas.` };
    if (nums.length !== blocks)
      return { error: `Per-block targets: give ${blocks} values (one per block), or leave empty; got ${nums.length}.` };
    out.blockSparsity = nums.map((x) => x / 100);
  } else out.blockSparsity = null;
  for (const k of ['score', 'allocation', 'precision'] as const) {
    const v = d[k];
    if (v === undefined) continue;
    const choices: readonly string[] = CHOICES[k];
    if (!choices.includes(v)) return { error: `${LABELS[k]}: one of ${choices.join(', ')}.` };
    (out as Record<string, unknown>)[k] = v;
  }
  for (const k of ['iterations', 'owlLambda', 'owlM', 'alphaEpsilon', 'nsamples', 'seqlen', 'maxEvalWindows'] as const) {
    const r = parseText(k, d[k]);
    if ('error' in r) return r;
    if (r.value !== undefined) (out as Record<string, unknown>)[k] = r.value;
  }
  return { overrides: out };
}
