/**
 * "Run again" controls: every option that changes a result — TRIM on/off, iterations, score,
 * target sparsity (global, per block), allocation and its parameters (OWL λ and M, AlphaPruning
 * ε), calibration windows and tokens per window, evaluation windows, precision. The bounds and
 * choices come from schemas/trim.config.schema.json (bundled), the one source the CLI and the
 * configuration use too. Values are kept as the user typed them (a draft, saved with the panel
 * state) and turned into RunOverrides only when valid.
 */
import type { Allocation, PruneOptions } from '../../src/contract';
import type { RunOverrides, RunSnapshot } from '../../src/webviewProtocol';
import schema from '../../schemas/trim.config.schema.json';
import { button, dropdown, textField, type Field } from '../shared/toolkit';

/** The schema of one option (the keywords this form reads). */
interface OptionSchema {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: string[];
  items?: OptionSchema;
  if?: { minimum?: number };
  then?: unknown;
}
/**
 * The options' schemas, a fraction's "below 1" read as its exclusive maximum: the schema states it
 * as `if: {minimum: 1}, then: {errorMessage}` so that VS Code shows the words to write (the core's
 * OPTION_BOUNDS reads it the same way).
 */
const bounded = (p: OptionSchema): OptionSchema => ({
  ...p,
  ...(p.exclusiveMaximum === undefined && typeof p.if?.minimum === 'number' && p.then ? { exclusiveMaximum: p.if.minimum } : {}),
  ...(p.items ? { items: bounded(p.items) } : {}),
});
const props: Record<string, OptionSchema> = Object.fromEntries(
  Object.entries((schema as unknown as { properties: Record<string, OptionSchema> }).properties).map(([k, p]) => [k, bounded(p)]),
);

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
function range(p: OptionSchema, scale = 1): string {
  const lo = p.exclusiveMinimum !== undefined ? `above ${num(p.exclusiveMinimum * scale)}` : p.minimum !== undefined ? `from ${num(p.minimum * scale)}` : '';
  const hi = p.exclusiveMaximum !== undefined ? `up to (not including) ${num(p.exclusiveMaximum * scale)}` : p.maximum !== undefined ? `to ${num(p.maximum * scale)}` : 'or more';
  return `${lo} ${hi}`.trim();
}

function inRange(x: number, p: OptionSchema, scale = 1): boolean {
  if (p.minimum !== undefined && x < p.minimum * scale) return false;
  if (p.exclusiveMinimum !== undefined && x <= p.exclusiveMinimum * scale) return false;
  if (p.maximum !== undefined && x > p.maximum * scale) return false;
  if (p.exclusiveMaximum !== undefined && x >= p.exclusiveMaximum * scale) return false;
  return true;
}

const isInt = (p: OptionSchema) => (Array.isArray(p.type) ? p.type.includes('integer') : p.type === 'integer');
const nullable = (p: OptionSchema) => Array.isArray(p.type) && p.type.includes('null');

const LABELS: Record<TextKey | ChoiceKey | 'trim' | 'sparsity' | 'blockSparsity', string> = {
  trim: 'TRIM', iterations: 'Iterations', score: 'Score', sparsity: 'Target sparsity (%)', blockSparsity: 'Per-block targets (%)',
  allocation: 'Allocation', owlLambda: 'OWL λ', owlM: 'OWL M', alphaEpsilon: 'AlphaPruning ε', nsamples: 'Calibration windows',
  seqlen: 'Tokens per window', maxEvalWindows: 'Evaluation windows', precision: 'Precision',
};
const EMPTY: Partial<Record<TextKey, string>> = { seqlen: 'auto', maxEvalWindows: 'all' };

/** One text option checked against its schema: the number, null (empty and nullable) or the problem. */
function parseText(key: TextKey, raw: string | undefined): { value: number | null | undefined } | { error: string } {
  const p = props[key];
  const t = (raw ?? '').trim();
  if (raw === undefined) return { value: undefined };
  if (t === '' && nullable(p)) return { value: null };
  const x = Number(t);
  const kind = isInt(p) ? 'a whole number' : 'a number';
  const blank = nullable(p) ? `, or empty for ${EMPTY[key] ?? 'the default'}` : '';
  if (t === '' || !Number.isFinite(x) || (isInt(p) && !Number.isInteger(x)) || !inRange(x, p)) return { error: `${LABELS[key]}: ${kind} ${range(p)}${blank}.` };
  return { value: x };
}

/** Validates a draft; returns the overrides or the message of the first problem. */
export function parseDraft(d: Draft, blocks: number): { overrides: RunOverrides } | { error: string } {
  const out: RunOverrides = {};
  if (d.trim !== undefined) {
    if (d.trim !== 'on' && d.trim !== 'off') return { error: 'TRIM: on or off.' };
    out.trim = d.trim === 'on';
  }
  const sp = props.sparsity;
  const s = Number(d.sparsity.trim());
  if (d.sparsity.trim() === '' || !Number.isFinite(s) || !inRange(s, sp, 100)) return { error: `${LABELS.sparsity}: a percentage ${range(sp, 100)}.` };
  out.sparsity = s / 100;
  const bs = d.blockSparsity.trim();
  if (bs !== '') {
    const item = props.blockSparsity.items ?? {};
    const nums = bs.split(/[\s,;]+/).filter((x) => x !== '').map(Number);
    if (nums.some((x) => !Number.isFinite(x) || !inRange(x, item, 100))) return { error: `${LABELS.blockSparsity}: percentages ${range(item, 100)}, separated by commas.` };
    if (nums.length !== blocks) return { error: `Per-block targets: give ${blocks} values (one per block), or leave empty; got ${nums.length}.` };
    out.blockSparsity = nums.map((x) => x / 100);
  } else out.blockSparsity = null;
  for (const k of ['score', 'allocation', 'precision'] as const) {
    const v = d[k];
    if (v === undefined) continue;
    const choices = props[k]?.enum ?? [];
    if (!choices.includes(v)) return { error: `${LABELS[k]}: one of ${choices.join(', ')}.` };
    (out as Record<string, unknown>)[k] = v;
  }
  out.allocation = out.allocation as Allocation;
  for (const k of ['iterations', 'owlLambda', 'owlM', 'alphaEpsilon', 'nsamples', 'seqlen', 'maxEvalWindows'] as const) {
    const r = parseText(k, d[k]);
    if ('error' in r) return r;
    if (r.value !== undefined) (out as Record<string, unknown>)[k] = r.value;
  }
  return { overrides: out };
}

export class Controls {
  readonly root: HTMLElement;
  private readonly trim = dropdown('trim', LABELS.trim, [{ value: 'on', label: 'on' }, { value: 'off', label: 'off (plain score)' }]);
  private readonly iterations = textField('iterations', LABELS.iterations, { size: 6, hint: `TRIM search steps per learning rate: ${range(props.iterations)}` });
  private readonly score = dropdown('score', LABELS.score, (props.score.enum ?? []).map((v) => ({ value: v, label: v })));
  private readonly sparsity = textField('sparsity', LABELS.sparsity, { size: 6, hint: 'Global target sparsity of the linear layers' });
  private readonly allocation = dropdown('allocation', LABELS.allocation, [
    { value: 'uniform', label: 'uniform' }, { value: 'owl', label: 'OWL' }, { value: 'alpha', label: 'AlphaPruning' },
  ].filter((x) => (props.allocation.enum ?? []).includes(x.value)));
  private readonly owlLambda = textField('owl-lambda', LABELS.owlLambda, { size: 5, hint: `OWL: block targets span target ± λ; ${range(props.owlLambda)}` });
  private readonly owlM = textField('owl-m', LABELS.owlM, { size: 5, hint: `OWL: a score is an outlier above M × the mean; ${range(props.owlM)}` });
  private readonly alphaEpsilon = textField('alpha-epsilon', LABELS.alphaEpsilon, { size: 5, hint: `AlphaPruning: block targets span target ± ε; ${range(props.alphaEpsilon)}` });
  private readonly blocks = textField('block-sparsity', LABELS.blockSparsity, { size: 40, placeholder: 'empty = from allocation', hint: 'One percentage per block, comma-separated; overrides the allocation' });
  private readonly nsamples = textField('nsamples', LABELS.nsamples, { size: 6, hint: `Calibration windows: ${range(props.nsamples)}` });
  private readonly seqlen = textField('seqlen', LABELS.seqlen, { size: 7, placeholder: 'auto', hint: `Tokens per calibration and evaluation window: ${range(props.seqlen)}; empty = auto` });
  private readonly maxEvalWindows = textField('max-eval-windows', LABELS.maxEvalWindows, { size: 6, placeholder: 'all', hint: 'Evaluate perplexity on at most this many windows; empty = all' });
  private readonly precision = dropdown('precision', LABELS.precision, (props.precision?.enum ?? ['float32']).map((v) => ({ value: v, label: v })));
  private readonly run = button('run-again', 'Run again', () => this.submit());
  private readonly message: HTMLElement;
  private draft: Draft | null = null;
  private blockCount = 0;
  private readonly fields: [keyof Draft, Field][];

  constructor(parent: HTMLElement, private readonly onChange: (d: Draft) => void, private readonly onRun: (runId: string, o: RunOverrides) => void) {
    this.root = document.createElement('form');
    this.root.className = 'controls';
    this.root.setAttribute('aria-label', 'Run again with');
    this.root.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.message = document.createElement('div');
    this.message.className = 'controls-message';
    this.message.id = 'controls-message';
    this.message.setAttribute('role', 'status');
    this.fields = [
      ['trim', this.trim], ['iterations', this.iterations], ['score', this.score], ['sparsity', this.sparsity],
      ['allocation', this.allocation], ['owlLambda', this.owlLambda], ['owlM', this.owlM], ['alphaEpsilon', this.alphaEpsilon],
      ['blockSparsity', this.blocks], ['nsamples', this.nsamples], ['seqlen', this.seqlen], ['maxEvalWindows', this.maxEvalWindows],
      ['precision', this.precision],
    ];
    const row1 = document.createElement('div');
    row1.className = 'controls-row';
    row1.append(this.trim.element, this.iterations.element, this.score.element, this.sparsity.element, this.allocation.element, this.owlLambda.element, this.owlM.element, this.alphaEpsilon.element, this.blocks.element);
    const row2 = document.createElement('div');
    row2.className = 'controls-row';
    row2.append(this.nsamples.element, this.seqlen.element, this.maxEvalWindows.element, this.precision.element, this.run.element);
    this.root.append(row1, row2, this.message);
    parent.append(this.root);
    const edit = () => {
      if (!this.draft) return;
      const next: Draft = { ...this.draft };
      for (const [k, f] of this.fields) (next as unknown as Record<string, string>)[k] = f.value;
      this.draft = next;
      this.showRelevant();
      this.validate();
      this.onChange(this.draft);
    };
    for (const [, f] of this.fields) f.onInput(edit);
    // Enter in a text field runs again (the toolkit's fields are not native form inputs).
    for (const f of [this.iterations, this.sparsity, this.blocks, this.owlLambda, this.owlM, this.alphaEpsilon, this.nsamples, this.seqlen, this.maxEvalWindows]) {
      f.element.addEventListener('keydown', (e) => { if ((e as KeyboardEvent).key === 'Enter') { e.preventDefault(); edit(); this.submit(); } });
    }
  }

  /** Shows the draft for `run` (the saved one when it belongs to this run, else the run's options). */
  show(run: RunSnapshot | null, saved: Draft | null, blocks: number): Draft | null {
    this.blockCount = blocks;
    if (!run) { this.draft = null; this.setDisabled(true); this.message.textContent = 'No run selected.'; return null; }
    if (!run.options) { this.draft = null; this.setDisabled(true); this.message.textContent = 'Waiting for the run to start…'; return null; }
    // A draft saved before a field existed takes that field from the run.
    this.draft = saved && saved.runId === run.id ? { ...draftFrom(run), ...saved } : draftFrom(run);
    for (const [k, f] of this.fields) f.value = (this.draft[k] as string | undefined) ?? '';
    this.setDisabled(false);
    if (run.report) {
      const b = run.blocks.map((x) => Number((x.target * 100).toFixed(2))).join(', ');
      this.blocks.element.setAttribute('placeholder', `empty = from allocation (last run: ${b})`);
    }
    this.showRelevant();
    this.validate();
    return this.draft;
  }

  /** Parameters that do nothing with the current choices are hidden (their values are kept). */
  private showRelevant(): void {
    const d = this.draft;
    this.iterations.element.hidden = d?.trim === 'off';
    this.owlLambda.element.hidden = d?.allocation !== 'owl';
    this.owlM.element.hidden = d?.allocation !== 'owl';
    this.alphaEpsilon.element.hidden = d?.allocation !== 'alpha';
  }

  private setDisabled(d: boolean): void {
    for (const [, f] of this.fields) f.disabled = d;
    this.run.disabled = d;
  }

  private validate(): boolean {
    if (!this.draft) return false;
    const r = parseDraft(this.draft, this.blockCount);
    const ok = 'overrides' in r;
    this.message.textContent = ok ? '' : r.error;
    this.message.classList.toggle('error', !ok);
    this.run.disabled = !ok;
    return ok;
  }

  private submit(): void {
    if (!this.draft) return;
    const r = parseDraft(this.draft, this.blockCount);
    if ('error' in r) { this.message.textContent = r.error; return; }
    this.message.textContent = 'Queued a new run with these settings; it will open beside this one for comparison.';
    this.onRun(this.draft.runId, r.overrides);
  }
}
