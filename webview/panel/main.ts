/**
 * The results panel: one run (or two side by side, A and B), drawn from the messages of the
 * extension host (see src/webviewProtocol.ts). Live: `event` messages are folded into the run as
 * they arrive, so the heatmaps fill in block by block before the report exists.
 */
import './styles.css';
import type { PersistedWebviewState, RunSnapshot, ToWebview } from '../../src/webviewProtocol';
import { applyEvent } from '../../src/webviewProtocol';
import { makeScale, type ColorMode, type SparsityScale } from '../shared/colorScale';
import { Heatmap } from '../shared/heatmap';
import { legend } from '../shared/legend';
import * as fmt from '../shared/format';
import { pickerLabels, protocolWarning } from '../shared/protocol';
import { blockCount, blockRowValues, diffGrid, hasMetrics, layerGrid, linearNames, type DiffCell } from '../shared/runModel';
import { onThemeChange, readTheme } from '../shared/theme';
import { button, dropdown, registerControls } from '../shared/toolkit';
import { connect } from '../shared/vscodeApi';
import { Controls, type Draft } from './controls';
import { el, helpNote, HELP_SECTION, RunView, type ViewContext } from './runView';
import { coalesced } from '../shared/coalesce';

export interface PanelState extends PersistedWebviewState {
  v: 1;
  mode: ColorMode;
  /** How sparsity is coloured (absent in states saved before it existed: target). */
  scale?: SparsityScale;
  block: number;
  /** Linear shown at full resolution, or null for the whole block (binned). */
  layer: string | null;
  /** Selected row of that linear. */
  row?: number | null;
  draft: Draft | null;
}

registerControls();
const host = connect<PanelState>();
const saved = host.getState();
let state: PanelState =
  saved && saved.v === 1
    ? saved
    : {
        v: 1,
        primaryRunId: null,
        compareRunId: null,
        mode: 'sparsity',
        scale: 'target',
        block: 0,
        layer: null,
        row: null,
        draft: null,
      };
const save = () => host.setState(state);

let primary: RunSnapshot | null = null;
let compare: RunSnapshot | null = null;
let runsList: import('../../src/webviewProtocol').RunListItem[] = [];

// ----- layout
const app = document.getElementById('app') ?? document.body;
const header = document.createElement('header');
header.className = 'panel-header';
const title = document.createElement('h1');
title.textContent = 'TRIM results';
const status = document.createElement('div');
status.className = 'status';
status.id = 'status';
status.setAttribute('role', 'status');
header.append(title, status);

const toolbar = document.createElement('div');
toolbar.className = 'toolbar';
toolbar.setAttribute('role', 'toolbar');
toolbar.setAttribute('aria-label', 'View');
const modeField = dropdown('color-mode', 'Colour', [
  { value: 'sparsity', label: 'sparsity' },
  { value: 'gain', label: 'TRIM gain (after − before)' },
]);
const scaleField = dropdown('scale', 'Sparsity scale', [
  { value: 'target', label: 'difference from target (pp)' },
  { value: 'absolute', label: 'absolute, 0–100%' },
  { value: 'range', label: 'stretched to the observed range' },
]);
const blockField = dropdown('block', 'Block', []);
const wholeBlock = button('whole-block', 'Whole block', () => selectLayer(state.block, null), 'secondary');
const compareField = dropdown('compare', 'Compare with', [{ value: '', label: 'none' }]);
toolbar.append(modeField.element, scaleField.element, blockField.element, wholeBlock.element, compareField.element);

const notes = el('div', 'notes');
const gainNote = el('p', 'note gain-note');
gainNote.id = 'gain-note';
gainNote.hidden = true;
const warning = el('div', 'warning protocol-warning');
warning.id = 'protocol-warning';
warning.setAttribute('role', 'alert');
warning.hidden = true;
notes.append(gainNote, warning);

const controls = new Controls(
  app,
  (d) => {
    state.draft = d;
    save();
  },
  (runId, overrides) => host.post({ type: 'runAgain', runId, overrides }),
);
const runsEl = document.createElement('div');
runsEl.className = 'runs';
runsEl.id = 'runs';

// The difference view (compare only): B − A per layer on a diverging scale.
const diffSection = el('section', 'section diff');
diffSection.setAttribute('aria-label', 'Difference B − A');
const diffTitle = el('h3');
const diffLegend = el('div', 'legend');
const diffNote = el('p', 'note diff-note');
const diffExports = el('div', 'exports');
diffExports.append(
  button(
    'diff-export-png',
    'Save heatmap (PNG)',
    () => {
      const data = diffMap.png();
      if (data) host.post({ type: 'export', format: 'png', name: 'trim-difference-b-minus-a.png', data });
    },
    'secondary',
  ).element,
);
diffSection.append(diffTitle, diffExports, diffLegend, diffNote);
const diffMap = new Heatmap<DiffCell>(diffSection, (c) => selectLayer(c.block, c.name));
diffMap.canvas.classList.add('diff-heatmap');
const diffHelp = helpNote(diffSection, 'diff-help', '', () => help());
diffSection.hidden = true;

const empty = document.createElement('p');
empty.className = 'empty';
empty.textContent = 'Waiting for a run… Use “TRIM: Prune Model” or open a run from the TRIM sidebar.';
app.prepend(header, toolbar, notes);
app.append(runsEl, diffSection, empty);

const views: { primary: RunView | null; compare: RunView | null } = { primary: null, compare: null };

function help(section = HELP_SECTION): void {
  host.post({ type: 'help', section });
}

modeField.value = state.mode;
scaleField.value = state.scale ?? 'target';
modeField.onInput((v) => {
  if (v !== 'sparsity' && v !== 'gain') return;
  if (v === state.mode) return;
  state.mode = v;
  save();
  scheduleRender();
});
scaleField.onInput((v) => {
  if (v !== 'target' && v !== 'absolute' && v !== 'range') return;
  if (v === (state.scale ?? 'target')) return;
  state.scale = v;
  save();
  scheduleRender();
});
blockField.onInput((v) => {
  const b = Number(v);
  if (Number.isInteger(b) && b !== state.block) selectLayer(b, state.layer);
});
compareField.onInput((v) => {
  const id = v === '' ? null : v;
  if (id === state.compareRunId) return;
  if (id !== null && id === primary?.id) {
    compareField.value = state.compareRunId ?? '';
    return;
  }
  state.compareRunId = id;
  save();
  if (id === null || compare?.id !== id) {
    compare = null;
    scheduleRender();
  }
  host.post({ type: 'compare', runId: id });
});

function selectLayer(block: number, layer: string | null): void {
  state.block = block;
  state.layer = layer;
  state.row = null;
  save();
  scheduleRender();
}

// ----- messages
window.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as ToWebview;
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'run':
      if (m.slot === 'primary') {
        const prev = primary;
        const changed = (m.run?.id ?? null) !== state.primaryRunId;
        primary = m.run;
        state.primaryRunId = m.run?.id ?? null;
        if (changed) {
          state.layer = null;
          state.block = 0;
          state.row = null;
        }
        // No self-compare: the run opened as A was B; B becomes the run A was.
        if (primary && compare && compare.id === primary.id) {
          compare = prev && prev.id !== primary.id ? prev : null;
          state.compareRunId = compare?.id ?? null;
          host.post({ type: 'compare', runId: state.compareRunId });
        }
        refreshPickers();
        state.draft = controls.show(primary, state.draft, primary ? blockCount(primary) : 0);
      } else {
        if (m.run && primary && m.run.id === primary.id) {
          // The host asked for B = A: refuse (one run beside itself compares nothing).
          compare = null;
          state.compareRunId = null;
          host.post({ type: 'compare', runId: null });
        } else {
          compare = m.run;
          state.compareRunId = m.run?.id ?? null;
        }
        compareField.value = state.compareRunId ?? '';
      }
      save();
      scheduleRender();
      break;
    case 'event': {
      let touched = false;
      if (primary && primary.id === m.runId) {
        const before = primary.model;
        primary = applyEvent(primary, m.event);
        if (primary.model !== before) {
          refreshPickers();
          state.draft = controls.show(primary, state.draft, blockCount(primary));
          save();
        }
        touched = true;
      }
      if (compare && compare.id === m.runId) {
        compare = applyEvent(compare, m.event);
        touched = true;
      }
      if (touched) scheduleRender();
      break;
    }
    case 'runs':
      runsList = m.runs;
      refreshPickers();
      break;
    case 'focus':
      if (m.runId === state.primaryRunId) selectLayer(m.block, m.layer);
      else pendingFocus = m;
      break;
  }
});
let pendingFocus: Extract<ToWebview, { type: 'focus' }> | null = null;

function refreshPickers(): void {
  const names = pickerLabels(runsList);
  compareField.setOptions([
    { value: '', label: 'none' },
    ...runsList.filter((r) => r.id !== primary?.id).map((r) => ({ value: r.id, label: names.get(r.id) ?? r.label })),
  ]);
  compareField.value = state.compareRunId ?? '';
  const n = primary ? blockCount(primary) : 0;
  blockField.setOptions(Array.from({ length: n }, (_, i) => ({ value: String(i), label: `block ${i}` })));
  blockField.value = String(state.block);
}

function setOptionDisabled(field: HTMLElement, value: string, disabled: boolean): void {
  const o = field.querySelector(`vscode-option[value="${value}"]`);
  if (o) o.toggleAttribute('disabled', disabled);
}

// ----- rendering (coalesced: a burst of events draws once)
const scheduleRender = coalesced(() => render());

function render(): void {
  if (pendingFocus && primary && pendingFocus.runId === primary.id) {
    state.block = pendingFocus.block;
    state.layer = pendingFocus.layer;
    state.row = null;
    pendingFocus = null;
    save();
  }
  const theme = readTheme();
  const shown = [primary, compare].filter((r): r is RunSnapshot => r !== null);
  empty.hidden = shown.length > 0;
  const comparing = compare !== null && primary !== null;
  runsEl.classList.toggle('compare', comparing);
  const gainOk = shown.some(hasMetrics);
  const mode: ColorMode = state.mode === 'gain' && !gainOk ? 'sparsity' : state.mode;
  const kind: SparsityScale = state.scale ?? 'target';
  modeField.value = mode;
  scaleField.value = kind;
  setOptionDisabled(modeField.element, 'gain', !gainOk && shown.length > 0);
  gainNote.hidden = gainOk || shown.length === 0;
  gainNote.textContent = gainOk
    ? ''
    : `TRIM gain is not available: ${shown.length > 1 ? 'neither run was' : 'this run was not'} pruned with TRIM, so no layer metric was measured. Colour shows sparsity.`;
  if (primary) {
    const p = primary;
    const done = p.blocks.length;
    status.textContent = `${p.status}${p.status === 'running' ? ` · ${done}/${blockCount(p)} blocks` : ''}${p.error ? ` · ${p.error.message}` : ''}`;
    if (state.block >= blockCount(p) && blockCount(p) > 0) state.block = blockCount(p) - 1;
    if (state.layer !== null && !linearNames(p).includes(state.layer)) state.layer = null;
  } else status.textContent = '';
  blockField.value = String(state.block);
  wholeBlock.disabled = state.layer === null;

  const w = comparing ? protocolWarning(primary!, compare!) : null;
  warning.hidden = w === null;
  warning.textContent = w ?? '';

  // Shared scales: the same colour means the same value in both columns, and the block's
  // overview and its drill-down use one scale (every row of the block, not the bin means).
  // The rows always show sparsity (a row has no metric of its own): on the sparsity scale chosen.
  const relative = mode === 'sparsity' && kind === 'target';
  const rowRelative = kind === 'target';
  const metricName = primary?.options?.layerMetric ?? compare?.options?.layerMetric ?? 'metric';
  const layerValues: number[] = [];
  const layerAchieved: number[] = [];
  const rows = { values: [] as number[], achieved: [] as number[] };
  let pplMax = 0;
  for (const r of shown) {
    for (const c of layerGrid(r, mode === 'gain' ? 'gain' : relative ? 'vsTarget' : 'sparsity').cells) {
      if (c.value === null) continue;
      layerValues.push(c.value);
      if (c.layer) layerAchieved.push(c.layer.achieved);
    }
    blockRowValues(r, Math.min(state.block, Math.max(0, blockCount(r) - 1)), rowRelative, rows);
    for (const e of [r.perplexity.dense, r.perplexity.pruned, r.report?.baseline?.perplexity])
      if (e && Number.isFinite(e.perplexity)) pplMax = Math.max(pplMax, e.perplexity);
  }
  const layerKind = mode === 'gain' ? 'gain' : kind;
  const ctx: ViewContext = {
    mode,
    relative,
    rowRelative,
    layerScale: makeScale(layerKind, layerValues, { achieved: layerAchieved, metric: metricName }),
    rowScale: makeScale(kind, rows.values, { achieved: rows.achieved }),
    block: state.block,
    layer: state.layer,
    row: state.row ?? null,
    pplMax: niceMax(pplMax),
    theme,
    onSelectLayer: (b, l) => selectLayer(b, l),
    onSelectRow: (r) => {
      state.row = r;
      save();
      scheduleRender();
    },
    onHelp: (s) => help(s),
    onExport: (format, name, data) => host.post({ type: 'export', format, name, data }),
  };
  for (const slot of ['primary', 'compare'] as const) {
    const run = slot === 'primary' ? primary : compare;
    if (!run) {
      views[slot]?.destroy();
      views[slot] = null;
      continue;
    }
    if (!views[slot]) views[slot] = new RunView(runsEl, slot);
    views[slot]!.update(run, ctx);
  }
  renderDiff(comparing ? primary : null, comparing ? compare : null, mode, metricName, theme);
  document.body.dataset.renders = String(Number(document.body.dataset.renders ?? '0') + 1);
}

function renderDiff(
  a: RunSnapshot | null,
  b: RunSnapshot | null,
  mode: ColorMode,
  metricName: string,
  theme: ReturnType<typeof readTheme>,
): void {
  diffSection.hidden = !a || !b;
  if (!a || !b) return;
  const dmode = mode === 'gain' ? 'gain' : 'sparsity';
  const g = diffGrid(a, b, dmode);
  diffTitle.textContent = `Difference B − A per layer (${dmode === 'gain' ? `TRIM gain in ${metricName}` : 'achieved sparsity'})`;
  diffHelp.textContent =
    dmode === 'gain'
      ? `Each cell is B's TRIM gain minus A's for the same layer. Blue: B's TRIM improved that layer more; red: A's did; white: the same. Cells where either run has no TRIM metric are empty.`
      : "Each cell is B's achieved sparsity minus A's for the same layer, in percentage points. Orange: B removed more weights there; purple: A did; white: the same.";
  if (!g) {
    diffNote.hidden = false;
    diffNote.textContent = 'The two runs have different models (blocks or linear layers), so there is no cell-by-cell difference.';
    diffLegend.hidden = true;
    diffMap.root.hidden = true;
    return;
  }
  const values = g.cells.flatMap((c) => (c.value === null ? [] : [c.value]));
  const scale = makeScale(dmode === 'gain' ? 'diff-gain' : 'diff-sparsity', values, { metric: metricName });
  diffNote.hidden = values.length > 0;
  diffNote.textContent = values.length > 0 ? '' : 'No layer has a value in both runs.';
  diffLegend.hidden = values.length === 0;
  diffMap.root.hidden = values.length === 0;
  legend(diffLegend, scale);
  if (values.length === 0) return;
  const f = dmode === 'gain' ? fmt.gain : fmt.pp;
  const v = (l: import('../../src/contract').LayerReport | null) =>
    l === null
      ? '—'
      : dmode === 'gain'
        ? fmt.metric(l.metricAfter !== null && l.metricBefore !== null ? l.metricAfter - l.metricBefore : null)
        : fmt.pct(l.achieved);
  diffMap.update({
    cols: g.cols,
    rows: g.rows,
    cells: g.cells,
    xLabel: (i) => g.names[i] ?? '',
    yLabel: (i) => String(i),
    xTitle: 'linear layer',
    yTitle: 'block',
    color: (x) => scale.color(x),
    tooltip: (c) => [`block ${c.block} · ${c.name}`, `B − A ${f(c.value)}`, `A ${v(c.a)} · B ${v(c.b)}`],
    label: `Difference B − A per layer: ${g.rows} blocks × ${g.cols} linear layers, colour = ${scale.title}.`,
    cellHeight: g.rows > 16 ? 16 : 22,
    isSelected: (c) => c.block === state.block && (state.layer === null || c.name === state.layer),
    theme,
  });
}

/** An axis end above `v` that reads well: 1, 2, 2.5 or 5 × a power of ten. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const t = v * 1.12;
  const p = 10 ** Math.floor(Math.log10(t));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= t) return m * p;
  return 10 * p;
}

onThemeChange(() => scheduleRender());
scheduleRender();
host.post({ type: 'ready', kind: 'panel' });
