/**
 * The results panel: one run (or two side by side), drawn from the messages of the extension host
 * (see src/webviewProtocol.ts). Live: `event` messages are folded into the run as they arrive,
 * so the heatmaps fill in block by block before the report exists.
 */
import './styles.css';
import type { PersistedWebviewState, RunSnapshot, ToWebview } from '../../src/webviewProtocol';
import { applyEvent } from '../../src/webviewProtocol';
import { makeScale, type ColorMode } from '../shared/colorScale';
import { blockCount, blockRowGrid, hasMetrics, layerAt, layerGrid, linearNames } from '../shared/runModel';
import { onThemeChange, readTheme } from '../shared/theme';
import { button, dropdown, registerControls } from '../shared/toolkit';
import { connect } from '../shared/vscodeApi';
import { Controls, type Draft } from './controls';
import { RunView, type ViewContext } from './runView';
import { coalesced } from '../shared/coalesce';

export interface PanelState extends PersistedWebviewState {
  v: 1;
  mode: ColorMode;
  block: number;
  /** Linear shown at full resolution, or null for the whole block (binned). */
  layer: string | null;
  draft: Draft | null;
}

registerControls();
const host = connect<PanelState>();
const saved = host.getState();
let state: PanelState = saved && saved.v === 1 ? saved : {
  v: 1, primaryRunId: null, compareRunId: null, mode: 'sparsity', block: 0, layer: null, draft: null,
};
const save = () => host.setState(state);

let primary: RunSnapshot | null = null;
let compare: RunSnapshot | null = null;
let runsList: { value: string; label: string }[] = [];

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
  { value: 'sparsity', label: 'achieved sparsity' },
  { value: 'gain', label: 'TRIM metric gain (after − before)' },
]);
const blockField = dropdown('block', 'Block', []);
const wholeBlock = button('whole-block', 'Whole block', () => selectLayer(state.block, null), 'secondary');
const compareField = dropdown('compare', 'Compare with', [{ value: '', label: 'none' }]);
toolbar.append(modeField.element, blockField.element, wholeBlock.element, compareField.element);

const controls = new Controls(app, (d) => { state.draft = d; save(); }, (runId, overrides) => host.post({ type: 'runAgain', runId, overrides }));
const runsEl = document.createElement('div');
runsEl.className = 'runs';
runsEl.id = 'runs';
const empty = document.createElement('p');
empty.className = 'empty';
empty.textContent = 'Waiting for a run… Use “TRIM: Prune Model” or open a run from the TRIM sidebar.';
app.prepend(header, toolbar);
app.append(runsEl, empty);

const views: { primary: RunView | null; compare: RunView | null } = { primary: null, compare: null };

modeField.value = state.mode;
modeField.onInput((v) => {
  if (v !== 'sparsity' && v !== 'gain') return;
  if (v === state.mode) return;
  state.mode = v; save(); scheduleRender();
});
blockField.onInput((v) => {
  const b = Number(v);
  if (Number.isInteger(b) && b !== state.block) selectLayer(b, state.layer);
});
compareField.onInput((v) => {
  const id = v === '' ? null : v;
  if (id === state.compareRunId) return;
  state.compareRunId = id; save();
  if (id === null) { compare = null; scheduleRender(); }
  host.post({ type: 'compare', runId: id });
});

function selectLayer(block: number, layer: string | null): void {
  state.block = block;
  state.layer = layer;
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
        const changed = (m.run?.id ?? null) !== state.primaryRunId;
        primary = m.run;
        state.primaryRunId = m.run?.id ?? null;
        if (changed) { state.layer = null; state.block = 0; }
        refreshPickers();
        state.draft = controls.show(primary, state.draft, primary ? blockCount(primary) : 0);
      } else {
        compare = m.run;
        state.compareRunId = m.run?.id ?? null;
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
        if (primary.model !== before) { refreshPickers(); state.draft = controls.show(primary, state.draft, blockCount(primary)); save(); }
        touched = true;
      }
      if (compare && compare.id === m.runId) { compare = applyEvent(compare, m.event); touched = true; }
      if (touched) scheduleRender();
      break;
    }
    case 'runs':
      runsList = m.runs.map((r) => ({ value: r.id, label: `${r.label} (${r.status})` }));
      refreshPickers();
      break;
  }
});

function refreshPickers(): void {
  compareField.setOptions([{ value: '', label: 'none' }, ...runsList.filter((r) => r.value !== primary?.id)]);
  compareField.value = state.compareRunId ?? '';
  const n = primary ? blockCount(primary) : 0;
  blockField.setOptions(Array.from({ length: n }, (_, i) => ({ value: String(i), label: `block ${i}` })));
  blockField.value = String(state.block);
}

// ----- rendering (coalesced: a burst of events draws once)
const scheduleRender = coalesced(() => render());

function render(): void {
  const theme = readTheme();
  const shown = [primary, compare].filter((r): r is RunSnapshot => r !== null);
  empty.hidden = shown.length > 0;
  runsEl.classList.toggle('compare', compare !== null && primary !== null);
  const gainOk = shown.some(hasMetrics);
  const mode: ColorMode = state.mode === 'gain' && !gainOk ? 'sparsity' : state.mode;
  modeField.value = state.mode;
  if (primary) {
    const p = primary;
    const done = p.blocks.length;
    status.textContent = `${p.status}${p.status === 'running' ? ` · ${done}/${blockCount(p)} blocks` : ''}${p.error ? ` · ${p.error.message}` : ''}`;
    if (state.block >= blockCount(p) && blockCount(p) > 0) state.block = blockCount(p) - 1;
    if (state.layer !== null && !linearNames(p).includes(state.layer)) state.layer = null;
  } else status.textContent = '';
  blockField.value = String(state.block);
  wholeBlock.disabled = state.layer === null;

  // Shared scales: the same colour means the same value in both columns.
  const layerValues: number[] = [];
  const rowValues: number[] = [];
  for (const r of shown) {
    for (const c of layerGrid(r, mode).cells) if (c.value !== null) layerValues.push(c.value);
    const l = state.layer ? layerAt(r, state.block, state.layer) : null;
    if (l) for (const v of l.rowSparsity) rowValues.push(v);
    else for (const c of blockRowGrid(r, state.block).cells) rowValues.push(c.bin.mean);
  }
  const ctx: ViewContext = {
    mode,
    layerScale: makeScale(mode, layerValues),
    rowScale: makeScale('sparsity', rowValues),
    block: state.block,
    layer: state.layer,
    theme,
    onSelectLayer: (b, l) => selectLayer(b, l),
  };
  for (const slot of ['primary', 'compare'] as const) {
    const run = slot === 'primary' ? primary : compare;
    if (!run) { views[slot]?.destroy(); views[slot] = null; continue; }
    if (!views[slot]) views[slot] = new RunView(runsEl, slot);
    views[slot]!.update(run, ctx);
  }
  document.body.dataset.renders = String(Number(document.body.dataset.renders ?? '0') + 1);
}

onThemeChange(() => scheduleRender());
scheduleRender();
host.post({ type: 'ready', kind: 'panel' });
