/**
 * One run's column in the panel: perplexity headline, protocol, per-layer heatmap, per-row heatmap
 * of the selected block (binned) or linear (full resolution, a click selects a row), TRIM's gain
 * per layer. Two of these sit side by side when comparing runs (A = primary, B = compared); they
 * share colour scales and the perplexity axis, so equal colours and equal bar lengths mean equal
 * values. Each chart has a "What am I looking at?" note.
 */
import type { LayerReport } from '../../src/contract';
import type { RunSnapshot } from '../../src/webviewProtocol';
import { Chart } from '../shared/charts';
import type { ColorMode, Scale } from '../shared/colorScale';
import * as fmt from '../shared/format';
import { Heatmap } from '../shared/heatmap';
import { legend } from '../shared/legend';
import { runProtocol } from '../shared/protocol';
import { fileStem, layerCsv } from '../shared/exports';
import { button } from '../shared/toolkit';
import {
  allLayers,
  blockCount,
  blockRowGrid,
  fullRowGrid,
  hasMetrics,
  layerAt,
  layerGain,
  layerGrid,
  partSparsity,
  progress,
  rowPart,
  type LayerCell,
  type RowCell,
} from '../shared/runModel';
import type { Theme } from '../shared/theme';

export interface ViewContext {
  mode: ColorMode;
  /** Sparsity cells carry achieved − target (the default scale). */
  relative: boolean;
  /** The same for the rows (which show sparsity in the gain mode too). */
  rowRelative: boolean;
  layerScale: Scale;
  rowScale: Scale;
  block: number;
  layer: string | null;
  /** Selected row of the linear shown at full resolution. */
  row: number | null;
  /** Upper end of the perplexity axis, shared by both columns. */
  pplMax: number;
  theme: Theme;
  onSelectLayer(block: number, layer: string | null): void;
  onSelectRow(row: number): void;
  onHelp(section: string): void;
  onExport(format: 'csv' | 'png', name: string, data: string): void;
}

type FullCell = { x: number; y: number; row: number; sparsity: number; value: number };

/** README section the notes link to. */
export const HELP_SECTION = 'reading-the-results-panel';

export function helpNote(parent: HTMLElement, cls: string, text: string, onHelp: () => void): HTMLElement {
  const d = document.createElement('details');
  d.className = `help ${cls}`;
  const s = document.createElement('summary');
  s.textContent = 'What am I looking at?';
  const p = document.createElement('p');
  p.className = 'help-text';
  p.textContent = text;
  const a = document.createElement('a');
  a.href = '#';
  a.className = 'help-link';
  a.textContent = 'More in the README: Reading the results panel';
  a.addEventListener('click', (e) => {
    e.preventDefault();
    onHelp();
  });
  d.append(s, p, a);
  parent.append(d);
  return p;
}

/** Draws each bar's value at its end (the chart is readable without hovering). */
const barValues: import('chart.js').Plugin<'bar'> = {
  id: 'trimBarValues',
  afterDatasetsDraw(chart) {
    const c = chart.ctx;
    const color = (chart.options as { color?: string }).color ?? '#888';
    chart.data.datasets.forEach((ds, di) => {
      const meta = chart.getDatasetMeta(di);
      meta.data.forEach((el, i) => {
        const v = ds.data[i] as number | null;
        if (v === null || v === undefined || !Number.isFinite(v) || v === 0) return;
        const p = el as unknown as { x: number; y: number };
        c.save();
        c.fillStyle = color;
        c.font = '11px sans-serif';
        c.textBaseline = 'middle';
        c.fillText(fmt.ppl(v), p.x + 4, p.y);
        c.restore();
      });
    });
  },
};

export class RunView {
  readonly root: HTMLElement;
  private readonly header: HTMLElement;
  private readonly pplText: HTMLElement;
  private readonly pplCanvas: HTMLCanvasElement;
  private readonly pplFrame: HTMLElement;
  private pplChart: Chart<'bar', (number | null)[]> | null = null;
  private readonly protocolList: HTMLElement;
  private readonly layerLegend: HTMLElement;
  private readonly layerNote: HTMLElement;
  private readonly layerHelp: HTMLElement;
  private readonly layerMap: Heatmap<LayerCell>;
  private readonly rowTitle: HTMLElement;
  private readonly rowLegend: HTMLElement;
  private readonly rowHost: HTMLElement;
  private readonly rowInfo: HTMLElement;
  private readonly rowHelp: HTMLElement;
  private blockRows: Heatmap<RowCell> | null = null;
  private fullRows: Heatmap<FullCell> | null = null;
  private readonly metricNote: HTMLElement;
  private readonly metricFrame: HTMLElement;
  private readonly metricHelp: HTMLElement;
  private readonly metricCanvas: HTMLCanvasElement;
  private metricChart: Chart<'bar'> | null = null;
  private barColor = '#3794ff';
  private ctx: ViewContext | null = null;

  constructor(
    parent: HTMLElement,
    readonly slot: 'primary' | 'compare',
  ) {
    this.root = el('section', `run run-${slot}`);
    this.root.setAttribute('aria-label', slot === 'primary' ? 'Run A' : 'Compared run B');
    this.header = el('h2', 'run-title');
    const help = () => this.ctx?.onHelp(HELP_SECTION);

    const ppl = el('div', 'ppl');
    this.pplText = el('div', 'ppl-text');
    const pplFrame = el('div', 'ppl-frame');
    this.pplFrame = pplFrame;
    this.pplCanvas = document.createElement('canvas');
    this.pplCanvas.className = 'ppl-chart';
    this.pplCanvas.setAttribute('role', 'img');
    pplFrame.append(this.pplCanvas);
    ppl.append(this.pplText, pplFrame);
    const pplHelp = el('div');
    helpNote(
      pplHelp,
      'ppl-help',
      "Perplexity of the evaluation text (lower is better): the dense model before pruning and the pruned model after; for a TRIM run with a baseline, also the same job with TRIM off (plain score at each layer's target, same protocol), so the difference is what TRIM bought. Each bar is labelled with its value; in compare both columns share one axis. Only runs measured with the same protocol (below) can be compared number for number.",
      help,
    );

    const proto = document.createElement('details');
    proto.className = 'protocol';
    const ps = document.createElement('summary');
    ps.textContent = 'Protocol (how this run was measured)';
    this.protocolList = el('dl', 'protocol-list');
    proto.append(ps, this.protocolList);

    const layers = el('div', 'section layers');
    const lh = el('h3');
    lh.textContent = 'Per-layer';
    this.layerLegend = el('div', 'legend');
    this.layerNote = el('p', 'note layer-note');
    this.layerNote.hidden = true;
    const exports = el('div', 'exports');
    exports.append(
      button(`${slot}-export-csv`, 'Save table (CSV)', () => this.export('csv'), 'secondary').element,
      button(`${slot}-export-layers-png`, 'Save heatmap (PNG)', () => this.export('layers'), 'secondary').element,
    );
    layers.append(lh, exports, this.layerLegend, this.layerNote);
    this.layerMap = new Heatmap<LayerCell>(layers, (c) => this.ctx?.onSelectLayer(c.block, c.name));
    this.layerMap.canvas.classList.add('layer-heatmap');
    this.layerHelp = helpNote(layers, 'layer-help', '', help);

    const rows = el('div', 'section rows');
    this.rowTitle = el('h3');
    this.rowLegend = el('div', 'legend');
    this.rowHost = el('div', 'row-host');
    this.rowInfo = el('div', 'row-info');
    this.rowInfo.setAttribute('role', 'status');
    const rowExports = el('div', 'exports');
    rowExports.append(button(`${slot}-export-rows-png`, 'Save heatmap (PNG)', () => this.export('rows'), 'secondary').element);
    rows.append(this.rowTitle, rowExports, this.rowLegend, this.rowHost, this.rowInfo);
    this.rowHelp = helpNote(rows, 'row-help', '', help);

    const metrics = el('div', 'section metrics');
    const mh = el('h3');
    mh.textContent = 'TRIM gain per layer';
    this.metricNote = el('p', 'note metric-note');
    this.metricFrame = el('div', 'metric-frame');
    this.metricCanvas = document.createElement('canvas');
    this.metricCanvas.className = 'metric-chart';
    this.metricCanvas.setAttribute('role', 'img');
    this.metricCanvas.tabIndex = 0;
    this.metricFrame.append(this.metricCanvas);
    metrics.append(mh, this.metricNote, this.metricFrame);
    this.metricHelp = helpNote(metrics, 'metric-help', '', help);

    this.root.append(this.header, ppl, pplHelp, proto, layers, rows, metrics);
    parent.append(this.root);
  }

  update(run: RunSnapshot, ctx: ViewContext): void {
    this.ctx = ctx;
    this.run = run;
    const p = progress(run);
    const status = run.status === 'running' ? `running · block ${Math.min(p.done + 1, p.total)}/${p.total}` : run.status;
    this.header.textContent = `${this.slot === 'primary' ? 'A' : 'B'}: ${run.label} — ${status}`;
    if (run.error) this.header.title = run.error.message;
    this.renderPerplexity(run, ctx);
    this.renderProtocol(run);
    this.renderLayers(run, ctx);
    this.renderRows(run, ctx);
    this.renderMetrics(run, ctx.theme);
  }

  private run: RunSnapshot | null = null;

  /** Saves the per-layer table (CSV) or a heatmap (PNG) through the host's save dialog. */
  private export(what: 'csv' | 'layers' | 'rows'): void {
    const run = this.run;
    const ctx = this.ctx;
    if (!run || !ctx) return;
    const stem = fileStem(run.label);
    if (what === 'csv') {
      ctx.onExport('csv', `${stem}-layers.csv`, layerCsv(run));
      return;
    }
    const map = what === 'layers' ? this.layerMap : (this.fullRows ?? this.blockRows);
    const data = map?.png();
    if (!data) return;
    const part = what === 'layers' ? 'layers' : ctx.layer ? `block${ctx.block}-${ctx.layer}-rows` : `block${ctx.block}-rows`;
    ctx.onExport('png', `${stem}-${part}.png`, data);
  }

  destroy(): void {
    this.pplChart?.destroy();
    this.metricChart?.destroy();
    this.layerMap.destroy();
    this.blockRows?.destroy();
    this.fullRows?.destroy();
    this.root.remove();
  }

  private renderPerplexity(run: RunSnapshot, ctx: ViewContext): void {
    const t = ctx.theme;
    const d = run.perplexity.dense?.perplexity ?? null;
    const q = run.perplexity.pruned?.perplexity ?? null;
    const base = run.report?.baseline ?? null;
    const bq = base?.perplexity?.perplexity ?? null;
    const sparsity = run.report ? ` · achieved sparsity ${fmt.pct(run.report.sparsity)}` : '';
    const rel = (a: number, b: number) => `${a >= b ? '+' : '−'}${Math.abs((a / b - 1) * 100).toFixed(1)}%`;
    if (bq !== null) {
      // dense → baseline (TRIM off, same protocol) → TRIM, and what TRIM bought over the baseline.
      const vs = q !== null ? ` (TRIM ${rel(q, bq)} vs baseline)` : '';
      this.pplText.textContent = `Perplexity: dense ${fmt.ppl(d)} → pruned ${fmt.ppl(q)} with TRIM; baseline (${base!.score}, TRIM off, same protocol) ${fmt.ppl(bq)}${vs}${sparsity}`;
    } else {
      const change = d !== null && q !== null ? ` (${rel(q, d)})` : '';
      this.pplText.textContent = `Perplexity: dense ${fmt.ppl(d)} → pruned ${fmt.ppl(q)}${change}${sparsity}`;
    }
    this.pplCanvas.setAttribute('aria-label', this.pplText.textContent);
    this.pplCanvas.dataset.axisMax = String(ctx.pplMax);
    const labels = bq !== null ? ['dense', 'baseline', 'TRIM'] : ['dense', 'pruned'];
    const data = bq !== null ? [d, bq, q] : [d, q];
    this.pplFrame.style.height = `${bq !== null ? 90 : 70}px`;
    if (!this.pplChart) {
      this.pplChart = new Chart<'bar', (number | null)[]>(this.pplCanvas, {
        type: 'bar',
        data: { labels, datasets: [{ label: 'perplexity', data }] },
        options: {
          indexAxis: 'y',
          plugins: { legend: { display: false } },
          responsive: true,
          maintainAspectRatio: false,
          layout: { padding: { right: 48 } },
        },
        plugins: [barValues],
      });
    }
    const ch = this.pplChart;
    ch.data.labels = labels;
    ch.data.datasets[0].data = data;
    ch.data.datasets[0].backgroundColor = bq !== null ? [t.accentA, t.muted, t.accentB] : [t.accentA, t.accentB];
    (ch.options as { color?: string }).color = t.foreground;
    ch.options.scales = {
      x: { beginAtZero: true, min: 0, max: ctx.pplMax, ticks: { color: t.foreground, maxTicksLimit: 6 }, grid: { color: t.grid } },
      // Both bars keep their label however short the chart is.
      y: { ticks: { color: t.foreground, autoSkip: false }, grid: { display: false } },
    };
    ch.update('none');
  }

  private renderProtocol(run: RunSnapshot): void {
    this.protocolList.replaceChildren(
      ...runProtocol(run).flatMap((x) => {
        const dt = el('dt');
        dt.textContent = x.label;
        const dd = el('dd');
        dd.textContent = x.value;
        dd.dataset.key = x.key;
        return [dt, dd];
      }),
    );
  }

  private renderLayers(run: RunSnapshot, ctx: ViewContext): void {
    const noGain = ctx.mode === 'gain' && !hasMetrics(run);
    const measure = ctx.mode === 'gain' ? 'gain' : ctx.relative ? 'vsTarget' : 'sparsity';
    const g = layerGrid(run, measure);
    const metricName = run.options?.layerMetric ?? 'metric';
    legend(this.layerLegend, ctx.layerScale);
    this.layerLegend.hidden = noGain;
    this.layerNote.hidden = !noGain;
    this.layerNote.textContent = noGain
      ? 'No TRIM gain to show: this run was pruned without TRIM, so no layer metric was measured. Colour by sparsity to see it.'
      : '';
    this.layerMap.root.hidden = noGain;
    this.layerHelp.textContent =
      ctx.mode === 'gain'
        ? `One cell per linear layer (columns) of each block (rows). The colour is how much TRIM improved the layer's output similarity to the dense model (${metricName}) over the uniform start at the same sparsity: after − before. Blue: better; white: no change; red: worse. The scale is symmetric around 0 and its ends are written in the legend.`
        : ctx.relative
          ? "One cell per linear layer (columns) of each block (rows). The colour is the achieved sparsity minus the layer's target, in percentage points: white is on target, purple below (more weights kept), orange above (more removed). The scale is symmetric around 0; its ends are in the legend. Hover a cell for the numbers; click it to see its rows."
          : "One cell per linear layer (columns) of each block (rows). The colour is the achieved sparsity (the fraction of the layer's weights that are zero) on the scale in the legend. Hover a cell for the numbers; click it to see its rows.";
    if (noGain) return;
    this.layerMap.update({
      cols: g.cols,
      rows: g.rows,
      cells: g.cells,
      xLabel: (i) => g.names[i] ?? '',
      yLabel: (i) => String(i),
      xTitle: 'linear layer',
      yTitle: 'block',
      color: (v) => ctx.layerScale.color(v),
      tooltip: (c) => layerTooltip(c, metricName, run),
      label: `Per-layer heatmap of ${run.label}: ${g.rows} blocks × ${g.cols} linear layers, colour = ${ctx.layerScale.title}. Arrow keys move, Enter opens the rows of a layer.`,
      cellHeight: g.rows > 16 ? 16 : 22,
      isSelected: (c) => c.block === ctx.block && (ctx.layer === null || c.name === ctx.layer),
      theme: ctx.theme,
    });
  }

  private renderRows(run: RunSnapshot, ctx: ViewContext): void {
    const blocks = blockCount(run);
    const block = Math.min(ctx.block, Math.max(0, blocks - 1));
    const layer = ctx.layer ? layerAt(run, block, ctx.layer) : null;
    legend(this.rowLegend, ctx.rowScale);
    const what = ctx.rowRelative
      ? "row sparsity minus the layer's target (percentage points; white on target, purple below, orange above)"
      : 'row sparsity';
    if (layer) {
      this.blockRows?.destroy();
      this.blockRows = null;
      const g = fullRowGrid(layer, ctx.rowRelative);
      this.rowTitle.textContent = `Rows of block ${block} · ${layer.name} (${layer.rows} rows, full resolution, ${g.cols} per line)`;
      if (!this.fullRows) this.fullRows = new Heatmap<FullCell>(this.rowHost, (c) => this.ctx?.onSelectRow(c.row));
      this.fullRows.canvas.classList.add('row-heatmap');
      const sel = ctx.row !== null && ctx.row < layer.rows ? ctx.row : null;
      this.rowInfo.textContent =
        sel === null
          ? 'Click a row (or Enter on it) to select it; "Whole block" returns to the overview.'
          : `Selected: row ${sel}${partNote(run, layer.name, sel)} · sparsity ${fmt.pct(layer.rowSparsity[sel])} (${fmt.pp(layer.rowSparsity[sel] - layer.target)} from the layer's target ${fmt.pct(layer.target)})`;
      this.rowHelp.textContent = `Every output row of this linear, left to right and top to bottom (${g.cols} rows per line). The colour is the ${what}. TRIM gives each row its own sparsity; plain Wanda gives every row the layer's target. The scale is the same as the block's overview.`;
      this.fullRows.update({
        cols: g.cols,
        rows: g.rows,
        cells: g.cells,
        xLabel: (i) => (i % 16 === 0 ? `+${i}` : ''),
        yLabel: (i) => String(i * g.cols),
        xTitle: 'row offset',
        yTitle: 'first row',
        color: (v) => ctx.rowScale.color(v),
        tooltip: (c) => [
          `block ${block} · ${layer.name} · row ${c.row}${partNote(run, layer.name, c.row)}`,
          `sparsity ${fmt.pct(c.sparsity)}`,
        ],
        label: `Row sparsity of block ${block} ${layer.name}, ${layer.rows} rows. Enter selects a row.`,
        cellHeight: g.rows > 64 ? 4 : g.rows > 16 ? 8 : 16,
        gap: [0, 0],
        isSelected: (c) => c.row === sel,
        theme: ctx.theme,
      });
      return;
    }
    this.fullRows?.destroy();
    this.fullRows = null;
    this.rowInfo.textContent = '';
    const g = blockRowGrid(run, block, undefined, ctx.rowRelative);
    this.rowTitle.textContent = `Rows of block ${block}, every linear (binned: ${g.rows} bins per linear)`;
    this.rowHelp.textContent = `The output rows of each linear of block ${block} (columns), top = row 0, averaged in ${g.rows} bins of neighbouring rows. The colour is the ${what}, on the same scale as the full-resolution view of one linear. Click a column to see every row of that linear.`;
    if (!this.blockRows) this.blockRows = new Heatmap<RowCell>(this.rowHost, (c) => this.ctx?.onSelectLayer(block, c.name));
    this.blockRows.canvas.classList.add('row-heatmap');
    this.blockRows.update({
      cols: g.cols,
      rows: g.rows,
      cells: g.cells,
      xLabel: (i) => g.names[i] ?? '',
      yLabel: (i) => (i % 8 === 0 ? `${i}` : ''),
      xTitle: 'linear layer',
      yTitle: 'row bin',
      color: (v) => ctx.rowScale.color(v),
      tooltip: (c) => [
        `block ${block} · ${c.name} · rows ${c.bin.start}–${c.bin.end - 1}${partNote(run, c.name, c.bin.start)}`,
        `mean sparsity ${fmt.pct(c.bin.mean)}`,
        `min ${fmt.pct(c.bin.min)} · max ${fmt.pct(c.bin.max)} · target ${fmt.pct(c.target)}`,
      ],
      label: `Row sparsity of block ${block}, ${g.cols} linear layers in ${g.rows} bins of rows each. Enter opens one layer at full resolution.`,
      cellHeight: 6,
      gap: [3, 0],
      theme: ctx.theme,
    });
  }

  private renderMetrics(run: RunSnapshot, t: Theme): void {
    const show = hasMetrics(run);
    const name = run.options?.layerMetric ?? 'metric';
    this.metricFrame.hidden = !show;
    this.metricNote.hidden = show;
    this.metricNote.textContent = show
      ? ''
      : "This run was pruned without TRIM (plain score at each layer's target), so there is no layer metric and no gain to show.";
    const lrs = [
      ...new Set(
        allLayers(run)
          .map((x) => x.layer.lr)
          .filter((x): x is number => x !== null),
      ),
    ].sort((a, b) => a - b);
    this.metricHelp.textContent = `TRIM starts each layer from the uniform sparsity plain Wanda uses and moves sparsity between its rows to keep the layer's output close to the dense one, measured by ${name} (higher is better). Each bar is the gain after − before of one layer (block.linear). TRIM runs ${run.options?.iterations ?? 'N'} steps for each learning rate of a sweep and keeps the best; the learning rate (lr) is the step size — a step moves up to 2 × lr of sparsity (lr 0.01 = 2 percentage points) towards the rows whose output suffers least, a negative lr the other way — and "best at iteration k" is the step that gave the best metric (0: the uniform start was kept).${lrs.length ? ` Learning rates chosen in this run: ${lrs.join(', ')}.` : ''}`;
    if (!show) return;
    const all = allLayers(run);
    const labels = all.map((x) => `${x.block}.${x.layer.name}`);
    const gains = all.map((x) => layerGain(x.layer));
    this.metricCanvas.setAttribute('aria-label', `TRIM gain in ${name} (after − before) for ${all.length} layers`);
    if (!this.metricChart) {
      this.metricChart = new Chart(this.metricCanvas, {
        type: 'bar',
        data: { labels, datasets: [{ label: 'gain', data: gains }] },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          plugins: {
            legend: { display: false },
            tooltip: {
              callbacks: {
                label: (c) => {
                  const l = all[c.dataIndex]?.layer;
                  if (!l) return '';
                  return [
                    `gain ${fmt.gain(c.parsed.y)}`,
                    `${name} ${fmt.metric(l.metricBefore)} → ${fmt.metric(l.metricAfter)}`,
                    l.lr !== null ? `lr ${l.lr}, best at step ${l.iteration ?? '—'}` : '',
                  ].filter(Boolean);
                },
              },
            },
          },
        },
      });
    }
    const ch = this.metricChart;
    ch.data.labels = labels;
    const ds = ch.data.datasets[0];
    ds.data = gains;
    ds.label = `gain in ${name}`;
    // Scriptable, so chart.js resolves it at each draw (a plain colour is cached from the first one).
    this.barColor = t.accentA;
    Object.assign(ds, { backgroundColor: () => this.barColor, borderColor: () => this.barColor });
    ch.options.scales = {
      x: { ticks: { color: t.foreground, autoSkip: true, maxRotation: 0 }, grid: { display: false } },
      y: {
        beginAtZero: true,
        ticks: { color: t.foreground },
        grid: { color: t.grid },
        title: { display: true, text: `after − before (${name})`, color: t.muted },
      },
    };
    ch.update('none');
  }
}

function layerTooltip(c: LayerCell, metricName: string, run: RunSnapshot): string[] {
  const l: LayerReport | null = c.layer;
  const title = `block ${c.block} · ${c.name}`;
  if (!l) return [title, 'not pruned yet'];
  const lines = [title, `achieved ${fmt.pct(l.achieved)} (target ${fmt.pct(l.target)})`];
  if (l.metricBefore !== null && l.metricAfter !== null) {
    lines.push(`${metricName} ${fmt.metric(l.metricBefore)} → ${fmt.metric(l.metricAfter)} (${fmt.gain(layerGain(l))})`);
  }
  lines.push(`${fmt.pp(l.achieved - l.target)} from target`);
  for (const p of partSparsity(run, l)) lines.push(`${p.name} (rows ${p.start}–${p.end - 1}): ${fmt.pct(p.mean)}`);
  const bl = run.report?.baseline?.blocks.find((b) => b.index === c.block)?.layers.find((x) => x.name === c.name);
  if (bl) lines.push(`baseline (TRIM off) ${fmt.pct(bl.achieved)} (${fmt.pp(l.achieved - bl.achieved)} with TRIM)`);
  if (l.lr !== null)
    lines.push(l.lr === 0 ? 'TRIM kept the uniform start' : `TRIM step size (lr) ${l.lr}, best after ${l.iteration ?? '—'} step(s)`);
  lines.push(`${l.rows} × ${l.cols} · ${fmt.seconds(l.seconds)}`);
  return lines;
}

export function el(tag: string, cls = ''): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

/** " · part k (rows 32–47)" for a row of a fused linear (Phi-3), else "". */
function partNote(run: RunSnapshot, linear: string, row: number): string {
  const p = rowPart(run, linear, row);
  return p ? ` · part ${p}` : '';
}
