/**
 * "Run again" controls: iteration count, global target sparsity, per-block targets, allocation.
 * Values are kept as the user typed them (a draft, saved with the panel state) and turned into
 * RunOverrides only when valid.
 */
import type { Allocation } from '../../src/contract';
import type { RunOverrides, RunSnapshot } from '../../src/webviewProtocol';
import { button, dropdown, textField } from '../shared/toolkit';

export interface Draft {
  /** The run whose options the draft started from. */
  runId: string;
  iterations: string;
  sparsity: string;
  blockSparsity: string;
  allocation: string;
}

/** The draft a run's own options give. */
export function draftFrom(run: RunSnapshot): Draft {
  const o = run.options;
  const pct = (v: number) => String(Number((v * 100).toFixed(4)));
  return {
    runId: run.id,
    iterations: o ? String(o.iterations) : '',
    sparsity: o ? pct(o.sparsity) : '',
    blockSparsity: o?.blockSparsity ? o.blockSparsity.map(pct).join(', ') : '',
    allocation: o?.allocation ?? 'uniform',
  };
}

/** Validates a draft; returns the overrides or the message of the first problem. */
export function parseDraft(d: Draft, blocks: number): { overrides: RunOverrides } | { error: string } {
  const it = d.iterations.trim();
  if (!/^\d+$/.test(it) || Number(it) > 10000) return { error: 'Iterations: a whole number from 0 to 10000.' };
  const s = Number(d.sparsity.trim());
  if (d.sparsity.trim() === '' || !Number.isFinite(s) || s < 0 || s >= 100) return { error: 'Target sparsity: a percentage from 0 up to (not including) 100.' };
  let blockSparsity: number[] | null = null;
  const bs = d.blockSparsity.trim();
  if (bs !== '') {
    const parts = bs.split(/[\s,;]+/).filter((x) => x !== '');
    const nums = parts.map(Number);
    if (nums.some((x) => !Number.isFinite(x) || x < 0 || x >= 100)) return { error: 'Per-block targets: percentages from 0 up to 100, separated by commas.' };
    if (nums.length !== blocks) return { error: `Per-block targets: give ${blocks} values (one per block), or leave empty; got ${nums.length}.` };
    blockSparsity = nums.map((x) => x / 100);
  }
  const a = d.allocation;
  if (a !== 'uniform' && a !== 'owl' && a !== 'alpha') return { error: 'Allocation: uniform, owl or alpha.' };
  return { overrides: { iterations: Number(it), sparsity: s / 100, blockSparsity, allocation: a as Allocation } };
}

export class Controls {
  readonly root: HTMLElement;
  private readonly iterations = textField('iterations', 'Iterations', { size: 6, hint: 'TRIM search iterations per layer' });
  private readonly sparsity = textField('sparsity', 'Target sparsity (%)', { size: 6, hint: 'Global target sparsity of the linear layers' });
  private readonly blocks = textField('block-sparsity', 'Per-block targets (%)', { size: 40, placeholder: 'empty = from allocation', hint: 'One percentage per block, comma-separated; overrides the allocation' });
  private readonly allocation = dropdown('allocation', 'Allocation', [
    { value: 'uniform', label: 'uniform' }, { value: 'owl', label: 'OWL' }, { value: 'alpha', label: 'AlphaPruning' },
  ]);
  private readonly run = button('run-again', 'Run again', () => this.submit());
  private readonly message: HTMLElement;
  private draft: Draft | null = null;
  private blockCount = 0;

  constructor(parent: HTMLElement, private readonly onChange: (d: Draft) => void, private readonly onRun: (runId: string, o: RunOverrides) => void) {
    this.root = document.createElement('form');
    this.root.className = 'controls';
    this.root.setAttribute('aria-label', 'Run again with');
    this.root.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.message = document.createElement('div');
    this.message.className = 'controls-message';
    this.message.id = 'controls-message';
    this.message.setAttribute('role', 'status');
    this.root.append(this.iterations.element, this.sparsity.element, this.allocation.element, this.blocks.element, this.run.element, this.message);
    parent.append(this.root);
    const edit = () => {
      if (!this.draft) return;
      this.draft = { ...this.draft, iterations: this.iterations.value, sparsity: this.sparsity.value, blockSparsity: this.blocks.value, allocation: this.allocation.value };
      this.validate();
      this.onChange(this.draft);
    };
    for (const f of [this.iterations, this.sparsity, this.blocks, this.allocation]) f.onInput(edit);
    // Enter in a text field runs again (the toolkit's fields are not native form inputs).
    for (const f of [this.iterations, this.sparsity, this.blocks]) {
      f.element.addEventListener('keydown', (e) => { if ((e as KeyboardEvent).key === 'Enter') { e.preventDefault(); edit(); this.submit(); } });
    }
  }

  /** Shows the draft for `run` (the saved one when it belongs to this run, else the run's options). */
  show(run: RunSnapshot | null, saved: Draft | null, blocks: number): Draft | null {
    this.blockCount = blocks;
    if (!run) { this.draft = null; this.setDisabled(true); this.message.textContent = 'No run selected.'; return null; }
    if (!run.options) { this.draft = null; this.setDisabled(true); this.message.textContent = 'Waiting for the run to start…'; return null; }
    this.draft = saved && saved.runId === run.id ? saved : draftFrom(run);
    this.iterations.value = this.draft.iterations;
    this.sparsity.value = this.draft.sparsity;
    this.blocks.value = this.draft.blockSparsity;
    this.allocation.value = this.draft.allocation;
    this.setDisabled(false);
    if (run.report) {
      const b = run.report.blocks.map((x) => Number((x.target * 100).toFixed(2))).join(', ');
      this.blocks.element.setAttribute('placeholder', `empty = from allocation (last run: ${b})`);
    }
    this.validate();
    return this.draft;
  }

  private setDisabled(d: boolean): void {
    for (const f of [this.iterations, this.sparsity, this.blocks, this.allocation]) f.disabled = d;
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
    this.message.textContent = 'Queued a new run with these settings.';
    this.onRun(this.draft.runId, r.overrides);
  }
}
