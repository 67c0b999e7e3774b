/**
 * "Run again" controls: every option that changes a result — TRIM on/off, iterations, score,
 * target sparsity (global, per block), allocation and its parameters (OWL λ and M, AlphaPruning
 * ε), calibration windows and tokens per window, evaluation windows, precision. The values and
 * their check live in ./draft.ts (bounds from the option table, choices from the contract).
 */
import type { RunOverrides, RunSnapshot } from '../../src/webviewProtocol';
import { button, dropdown, textField, type Field } from '../shared/toolkit';
import { bounds, CHOICES, draftFrom, LABELS, parseDraft, range, type Draft } from './draft';

export type { Draft } from './draft';

export class Controls {
  readonly root: HTMLElement;
  private readonly trim = dropdown('trim', LABELS.trim, [
    { value: 'on', label: 'on' },
    { value: 'off', label: 'off (plain score)' },
  ]);
  private readonly iterations = textField('iterations', LABELS.iterations, {
    size: 6,
    hint: `TRIM search steps per learning rate: ${range(bounds('iterations'))}`,
  });
  private readonly score = dropdown(
    'score',
    LABELS.score,
    CHOICES.score.map((v) => ({ value: v, label: v })),
  );
  private readonly sparsity = textField('sparsity', LABELS.sparsity, { size: 6, hint: 'Global target sparsity of the linear layers' });
  private readonly allocation = dropdown(
    'allocation',
    LABELS.allocation,
    [
      { value: 'uniform', label: 'uniform' },
      { value: 'owl', label: 'OWL' },
      { value: 'alpha', label: 'AlphaPruning' },
    ].filter((x) => (CHOICES.allocation as readonly string[]).includes(x.value)),
  );
  private readonly owlLambda = textField('owl-lambda', LABELS.owlLambda, {
    size: 5,
    hint: `OWL: block targets span target ± λ; ${range(bounds('owlLambda'))}`,
  });
  private readonly owlM = textField('owl-m', LABELS.owlM, {
    size: 5,
    hint: `OWL: a score is an outlier above M × the mean; ${range(bounds('owlM'))}`,
  });
  private readonly alphaEpsilon = textField('alpha-epsilon', LABELS.alphaEpsilon, {
    size: 5,
    hint: `AlphaPruning: block targets span target ± ε; ${range(bounds('alphaEpsilon'))}`,
  });
  private readonly blocks = textField('block-sparsity', LABELS.blockSparsity, {
    size: 40,
    placeholder: 'empty = from allocation',
    hint: 'One percentage per block, comma-separated; overrides the allocation',
  });
  private readonly nsamples = textField('nsamples', LABELS.nsamples, {
    size: 6,
    hint: `Calibration windows: ${range(bounds('nsamples'))}`,
  });
  private readonly seqlen = textField('seqlen', LABELS.seqlen, {
    size: 7,
    placeholder: 'auto',
    hint: `Tokens per calibration and evaluation window: ${range(bounds('seqlen'))}; empty = auto`,
  });
  private readonly maxEvalWindows = textField('max-eval-windows', LABELS.maxEvalWindows, {
    size: 6,
    placeholder: 'all',
    hint: 'Evaluate perplexity on at most this many windows; empty = all',
  });
  private readonly precision = dropdown(
    'precision',
    LABELS.precision,
    CHOICES.precision.map((v) => ({ value: v, label: v })),
  );
  private readonly run = button('run-again', 'Run again', () => this.submit());
  private readonly message: HTMLElement;
  private draft: Draft | null = null;
  private blockCount = 0;
  private readonly fields: [keyof Draft, Field][];

  constructor(
    parent: HTMLElement,
    private readonly onChange: (d: Draft) => void,
    private readonly onRun: (runId: string, o: RunOverrides) => void,
  ) {
    this.root = document.createElement('form');
    this.root.className = 'controls';
    this.root.setAttribute('aria-label', 'Run again with');
    this.root.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.message = document.createElement('div');
    this.message.className = 'controls-message';
    this.message.id = 'controls-message';
    this.message.setAttribute('role', 'status');
    this.fields = [
      ['trim', this.trim],
      ['iterations', this.iterations],
      ['score', this.score],
      ['sparsity', this.sparsity],
      ['allocation', this.allocation],
      ['owlLambda', this.owlLambda],
      ['owlM', this.owlM],
      ['alphaEpsilon', this.alphaEpsilon],
      ['blockSparsity', this.blocks],
      ['nsamples', this.nsamples],
      ['seqlen', this.seqlen],
      ['maxEvalWindows', this.maxEvalWindows],
      ['precision', this.precision],
    ];
    const row1 = document.createElement('div');
    row1.className = 'controls-row';
    row1.append(
      this.trim.element,
      this.iterations.element,
      this.score.element,
      this.sparsity.element,
      this.allocation.element,
      this.owlLambda.element,
      this.owlM.element,
      this.alphaEpsilon.element,
      this.blocks.element,
    );
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
    for (const f of [
      this.iterations,
      this.sparsity,
      this.blocks,
      this.owlLambda,
      this.owlM,
      this.alphaEpsilon,
      this.nsamples,
      this.seqlen,
      this.maxEvalWindows,
    ]) {
      f.element.addEventListener('keydown', (e) => {
        if ((e as KeyboardEvent).key === 'Enter') {
          e.preventDefault();
          edit();
          this.submit();
        }
      });
    }
  }

  /** Shows the draft for `run` (the saved one when it belongs to this run, else the run's options). */
  show(run: RunSnapshot | null, saved: Draft | null, blocks: number): Draft | null {
    this.blockCount = blocks;
    if (!run) {
      this.draft = null;
      this.setDisabled(true);
      this.message.textContent = 'No run selected.';
      return null;
    }
    if (!run.options) {
      this.draft = null;
      this.setDisabled(true);
      this.message.textContent = 'Waiting for the run to start…';
      return null;
    }
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
    if ('error' in r) {
      this.message.textContent = r.error;
      return;
    }
    this.message.textContent = 'Queued a new run with these settings; it will open beside this one for comparison.';
    this.onRun(this.draft.runId, r.overrides);
  }
}
