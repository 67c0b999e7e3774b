/**
 * The sidebar visualization: a compact per-layer heatmap (blocks × linears, colour = achieved
 * sparsity) of the selected run, filled in live as blocks finish. Choosing a cell (click, or
 * Enter on the focused cell) asks the host to open the panel there.
 */
import './styles.css';
import type { PersistedWebviewState, RunSnapshot, ToWebview } from '../../src/webviewProtocol';
import { applyEvent } from '../../src/webviewProtocol';
import { makeScale } from '../shared/colorScale';
import * as fmt from '../shared/format';
import { Heatmap } from '../shared/heatmap';
import { legend } from '../shared/legend';
import { blockCount, layerGrid, progress, type LayerCell } from '../shared/runModel';
import { onThemeChange, readTheme } from '../shared/theme';
import { connect } from '../shared/vscodeApi';
import { coalesced } from '../shared/coalesce';

type SidebarState = PersistedWebviewState & { v: 1 };

const host = connect<SidebarState>();
const state: SidebarState = host.getState() ?? { v: 1, primaryRunId: null, compareRunId: null };
let run: RunSnapshot | null = null;

const app = document.getElementById('app') ?? document.body;
const head = document.createElement('div');
head.className = 'sidebar-head';
head.id = 'status';
head.setAttribute('role', 'status');
const leg = document.createElement('div');
const map = new Heatmap<LayerCell>(app, (c) => {
  if (run) host.post({ type: 'reveal', runId: run.id, block: c.block, layer: c.name });
});
map.canvas.classList.add('layer-heatmap');
app.prepend(head, leg);

window.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as ToWebview;
  if (!m || typeof m !== 'object') return;
  if (m.type === 'run' && m.slot === 'primary') {
    run = m.run;
    state.primaryRunId = run?.id ?? null;
    host.setState(state);
    schedule();
  } else if (m.type === 'event' && run && run.id === m.runId) {
    run = applyEvent(run, m.event);
    schedule();
  }
});

const schedule = coalesced(() => render());

function render(): void {
  const theme = readTheme();
  map.root.hidden = !run;
  leg.hidden = !run;
  if (!run) {
    head.textContent = 'No run selected. Prune a model or pick a run in Runs.';
    return;
  }
  const r = run;
  const p = progress(r);
  const ppl = r.perplexity.pruned ? ` · ppl ${fmt.ppl(r.perplexity.dense?.perplexity)} → ${fmt.ppl(r.perplexity.pruned.perplexity)}` : '';
  head.textContent = `${r.label} · ${r.status}${r.status === 'running' ? ` ${p.done}/${p.total}` : ''}${ppl}`;
  // A run that ended before any block finished (or whose blocks were not kept, e.g. one of an
  // earlier session) has nothing to draw: say so instead of an empty map with a 0–100% legend.
  if ((r.status === 'failed' || r.status === 'cancelled') && r.blocks.length === 0 && !r.current) {
    map.root.hidden = true;
    leg.hidden = true;
    const why = r.error?.code === 'INTERRUPTED' ? 'interrupted' : r.status;
    head.textContent = `${r.label} · ${why}. No layers to show: ${r.error ? r.error.message : 'no block had finished, or the run was cancelled in an earlier session.'}`;
    document.body.dataset.renders = String(Number(document.body.dataset.renders ?? '0') + 1);
    return;
  }
  // The same default scale as the panel: achieved − target, diverging around 0 (pp).
  const g = layerGrid(r, 'vsTarget');
  const scale = makeScale(
    'target',
    g.cells.flatMap((c) => (c.value === null ? [] : [c.value])),
    { achieved: g.cells.flatMap((c) => (c.layer ? [c.layer.achieved] : [])) },
  );
  legend(leg, scale, 'sparsity − target');
  map.update({
    cols: g.cols,
    rows: g.rows,
    cells: g.cells,
    xLabel: (i) => abbreviate(g.names[i] ?? ''),
    yLabel: (i) => (blockCount(r) > 16 && i % 4 !== 0 ? '' : String(i)),
    color: (v) => scale.color(v),
    tooltip: (c) =>
      c.layer
        ? [
            `block ${c.block} · ${c.name}`,
            `achieved ${fmt.pct(c.layer.achieved)} (target ${fmt.pct(c.layer.target)})`,
            `${fmt.pp(c.layer.achieved - c.layer.target)} from target`,
          ]
        : [`block ${c.block} · ${c.name}`, 'not pruned yet'],
    label: `Per-layer sparsity of ${r.label}: ${g.rows} blocks × ${g.cols} linear layers. Arrow keys move, Enter opens the panel there.`,
    cellHeight: g.rows > 16 ? 10 : 14,
    theme,
  });
  document.body.dataset.renders = String(Number(document.body.dataset.renders ?? '0') + 1);
}

/** q_proj → q, gate_proj → gate, fc1 → fc1: the sidebar is narrow. */
function abbreviate(name: string): string {
  return name.replace(/_proj$/, '');
}

onThemeChange(schedule);
schedule();
host.post({ type: 'ready', kind: 'sidebar' });
