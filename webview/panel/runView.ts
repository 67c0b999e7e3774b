/**
 * One run's column in the panel: perplexity, per-layer heatmap, per-row heatmap of the selected
 * block (binned) or linear (full resolution), metric before/after per layer. Two of these sit
 * side by side when comparing runs; they share colour scales so equal colours mean equal values.
 */
import type { LayerReport } from '../../src/contract';
import type { RunSnapshot } from '../../src/webviewProtocol';
import { Chart } from '../shared/charts';
import type { ColorMode, Scale } from '../shared/colorScale';
import * as fmt from '../shared/format';
import { Heatmap } from '../shared/heatmap';
import { legend } from '../shared/legend';
import {
  allLayers, blockCount, blockRowGrid, fullRowGrid, hasMetrics, layerAt, layerGain, layerGrid,
  progress, type LayerCell, type RowCell,
} from '../shared/runModel';
import type { Theme } from '../shared/theme';

export interface ViewContext {
  mode: ColorMode;
  layerScale: Scale;
  rowScale: Scale;
  block: number;
  layer: string | null;
  theme: Theme;
  onSelectLayer(block: number, layer: string | null): void;
}

type FullCell = { x: number; y: number; row: number; value: number };

export class RunView {
  readonly root: HTMLElement;
  private readonly header: HTMLElement;
  private readonly pplText: HTMLElement;
  private readonly pplCanvas: HTMLCanvasElement;
  private pplChart: Chart<'bar'> | null = null;
  private readonly layerLegend: HTMLElement;
  private readonly layerMap: Heatmap<LayerCell>;
  private readonly rowTitle: HTMLElement;
  private readonly rowLegend: HTMLElement;
  private readonly rowHost: HTMLElement;
  private blockRows: Heatmap<RowCell> | null = null;
  private fullRows: Heatmap<FullCell> | null = null;
  private readonly metricSection: HTMLElement;
  private readonly metricCanvas: HTMLCanvasElement;
  private metricChart: Chart<'line'> | null = null;
  private ctx: ViewContext | null = null;

  constructor(parent: HTMLElement, readonly slot: 'primary' | 'compare') {
    this.root = el('section', `run run-${slot}`);
    this.root.setAttribute('aria-label', slot === 'primary' ? 'Run' : 'Compared run');
    this.header = el('h2', 'run-title');
    const ppl = el('div', 'ppl');
    this.pplText = el('div', 'ppl-text');
    const pplFrame = el('div', 'ppl-frame');
    this.pplCanvas = document.createElement('canvas');
    this.pplCanvas.className = 'ppl-chart';
    this.pplCanvas.setAttribute('role', 'img');
    pplFrame.append(this.pplCanvas);
    ppl.append(this.pplText, pplFrame);

    const layers = el('div', 'section layers');
    const lh = el('h3');
    lh.textContent = 'Per-layer';
    this.layerLegend = el('div', 'legend');
    layers.append(lh, this.layerLegend);
    this.layerMap = new Heatmap<LayerCell>(layers, (c) => this.ctx?.onSelectLayer(c.block, c.name));
    this.layerMap.canvas.classList.add('layer-heatmap');

    const rows = el('div', 'section rows');
    this.rowTitle = el('h3');
    this.rowLegend = el('div', 'legend');
    this.rowHost = el('div', 'row-host');
    rows.append(this.rowTitle, this.rowLegend, this.rowHost);

    this.metricSection = el('div', 'section metrics');
    const mh = el('h3');
    mh.textContent = 'Layer metric before / after TRIM';
    const mf = el('div', 'metric-frame');
    this.metricCanvas = document.createElement('canvas');
    this.metricCanvas.className = 'metric-chart';
    this.metricCanvas.setAttribute('role', 'img');
    this.metricCanvas.tabIndex = 0;
    mf.append(this.metricCanvas);
    this.metricSection.append(mh, mf);

    this.root.append(this.header, ppl, layers, rows, this.metricSection);
    parent.append(this.root);
  }

  update(run: RunSnapshot, ctx: ViewContext): void {
    this.ctx = ctx;
    const p = progress(run);
    const status = run.status === 'running' ? `running · block ${Math.min(p.done + 1, p.total)}/${p.total}` : run.status;
    this.header.textContent = `${run.label} — ${status}`;
    if (run.error) this.header.title = run.error.message;
    this.renderPerplexity(run, ctx.theme);
    this.renderLayers(run, ctx);
    this.renderRows(run, ctx);
    this.renderMetrics(run, ctx.theme);
  }

  destroy(): void {
    this.pplChart?.destroy();
    this.metricChart?.destroy();
    this.layerMap.destroy();
    this.blockRows?.destroy();
    this.fullRows?.destroy();
    this.root.remove();
  }

  private renderPerplexity(run: RunSnapshot, t: Theme): void {
    const d = run.perplexity.dense?.perplexity ?? null;
    const q = run.perplexity.pruned?.perplexity ?? null;
    const sparsity = run.report ? ` · achieved sparsity ${fmt.pct(run.report.sparsity)}` : '';
    this.pplText.textContent = `Perplexity: dense ${fmt.ppl(d)} → pruned ${fmt.ppl(q)}${sparsity}`;
    this.pplCanvas.setAttribute('aria-label', this.pplText.textContent);
    const data = [d ?? 0, q ?? 0];
    if (!this.pplChart) {
      this.pplChart = new Chart(this.pplCanvas, {
        type: 'bar',
        data: { labels: ['dense', 'pruned'], datasets: [{ label: 'perplexity', data }] },
        options: { indexAxis: 'y', plugins: { legend: { display: false } }, responsive: true, maintainAspectRatio: false },
      });
    }
    const ch = this.pplChart;
    ch.data.datasets[0].data = data;
    ch.data.datasets[0].backgroundColor = [t.accentA, t.accentB];
    ch.options.scales = {
      x: { beginAtZero: true, ticks: { color: t.foreground }, grid: { color: t.grid } },
      // Both bars keep their label however short the chart is.
      y: { ticks: { color: t.foreground, autoSkip: false }, grid: { display: false } },
    };
    ch.update('none');
  }

  private renderLayers(run: RunSnapshot, ctx: ViewContext): void {
    const g = layerGrid(run, ctx.mode);
    const metricName = run.options?.layerMetric ?? 'metric';
    legend(this.layerLegend, ctx.layerScale, ctx.mode === 'sparsity' ? 'achieved sparsity' : `gain in ${metricName} (after − before)`);
    this.layerMap.update({
      cols: g.cols,
      rows: g.rows,
      cells: g.cells,
      xLabel: (i) => g.names[i] ?? '',
      yLabel: (i) => String(i),
      xTitle: 'linear layer',
      yTitle: 'block',
      color: (v) => ctx.layerScale.color(v),
      tooltip: (c) => layerTooltip(c, metricName),
      label: `Per-layer heatmap of ${run.label}: ${g.rows} blocks × ${g.cols} linear layers, colour = ${ctx.mode === 'sparsity' ? 'achieved sparsity' : 'metric gain'}. Arrow keys move, Enter opens the rows of a layer.`,
      cellHeight: g.rows > 16 ? 16 : 22,
      isSelected: (c) => c.block === ctx.block && (ctx.layer === null || c.name === ctx.layer),
      theme: ctx.theme,
    });
  }

  private renderRows(run: RunSnapshot, ctx: ViewContext): void {
    const blocks = blockCount(run);
    const block = Math.min(ctx.block, Math.max(0, blocks - 1));
    const layer = ctx.layer ? layerAt(run, block, ctx.layer) : null;
    legend(this.rowLegend, ctx.rowScale, 'row sparsity');
    if (layer) {
      this.blockRows?.destroy();
      this.blockRows = null;
      const g = fullRowGrid(layer);
      this.rowTitle.textContent = `Rows of block ${block} · ${layer.name} (${layer.rows} rows, full resolution, ${g.cols} per line)`;
      if (!this.fullRows) this.fullRows = new Heatmap<FullCell>(this.rowHost, () => ctx.onSelectLayer(block, null));
      this.fullRows.canvas.classList.add('row-heatmap');
      this.fullRows.update({
        cols: g.cols,
        rows: g.rows,
        cells: g.cells,
        xLabel: (i) => (i % 16 === 0 ? `+${i}` : ''),
        yLabel: (i) => String(i * g.cols),
        xTitle: 'row offset',
        yTitle: 'first row',
        color: (v) => ctx.rowScale.color(v),
        tooltip: (c) => [`block ${block} · ${layer.name} · row ${c.row}`, `sparsity ${fmt.pct(c.value)}`],
        label: `Row sparsity of block ${block} ${layer.name}, ${layer.rows} rows. Enter returns to the whole block.`,
        cellHeight: g.rows > 64 ? 4 : g.rows > 16 ? 8 : 16,
        gap: [0, 0],
        theme: ctx.theme,
      });
      return;
    }
    this.fullRows?.destroy();
    this.fullRows = null;
    const g = blockRowGrid(run, block);
    const binned = g.cells.length > 0 ? g.cells[0].bin.end - g.cells[0].bin.start : 0;
    this.rowTitle.textContent = `Rows of block ${block}, every linear (binned: ${g.rows} bins per linear${binned > 1 ? '' : ''})`;
    if (!this.blockRows) this.blockRows = new Heatmap<RowCell>(this.rowHost, (c) => ctx.onSelectLayer(block, c.name));
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
        `block ${block} · ${c.name} · rows ${c.bin.start}–${c.bin.end - 1}`,
        `mean sparsity ${fmt.pct(c.bin.mean)}`,
        `min ${fmt.pct(c.bin.min)} · max ${fmt.pct(c.bin.max)}`,
      ],
      label: `Row sparsity of block ${block}, ${g.cols} linear layers in ${g.rows} bins of rows each. Enter opens one layer at full resolution.`,
      cellHeight: 6,
      gap: [3, 0],
      theme: ctx.theme,
    });
  }

  private renderMetrics(run: RunSnapshot, t: Theme): void {
    const show = hasMetrics(run);
    this.metricSection.hidden = !show;
    if (!show) return;
    const all = allLayers(run);
    const labels = all.map((x) => `${x.block}.${x.layer.name}`);
    const before = all.map((x) => x.layer.metricBefore);
    const after = all.map((x) => x.layer.metricAfter);
    const name = run.options?.layerMetric ?? 'metric';
    this.metricCanvas.setAttribute('aria-label', `Layer metric ${name} before and after TRIM for ${all.length} layers`);
    if (!this.metricChart) {
      this.metricChart = new Chart(this.metricCanvas, {
        type: 'line',
        data: { labels, datasets: [{ label: 'before', data: before }, { label: 'after', data: after }] },
        options: {
          responsive: true, maintainAspectRatio: false,
          interaction: { mode: 'index', intersect: false },
          plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmt.metric(c.parsed.y)}` } } },
        },
      });
    }
    const ch = this.metricChart;
    ch.data.labels = labels;
    const [b, a] = ch.data.datasets;
    b.data = before; a.data = after;
    b.label = `${name} before`; a.label = `${name} after`;
    Object.assign(b, { borderColor: t.accentB, backgroundColor: t.accentB, pointRadius: 1.5, borderWidth: 1.5 });
    Object.assign(a, { borderColor: t.accentA, backgroundColor: t.accentA, pointRadius: 1.5, borderWidth: 1.5 });
    ch.options.plugins!.legend = { labels: { color: t.foreground } };
    ch.options.scales = {
      x: { ticks: { color: t.foreground, autoSkip: true, maxRotation: 0 }, grid: { color: t.grid } },
      y: { ticks: { color: t.foreground }, grid: { color: t.grid } },
    };
    ch.update('none');
  }
}

function layerTooltip(c: LayerCell, metricName: string): string[] {
  const l: LayerReport | null = c.layer;
  const title = `block ${c.block} · ${c.name}`;
  if (!l) return [title, 'not pruned yet'];
  const lines = [
    title,
    `achieved ${fmt.pct(l.achieved)} (target ${fmt.pct(l.target)})`,
  ];
  if (l.metricBefore !== null && l.metricAfter !== null) {
    lines.push(`${metricName} ${fmt.metric(l.metricBefore)} → ${fmt.metric(l.metricAfter)} (${fmt.gain(layerGain(l))})`);
  }
  if (l.lr !== null) lines.push(`lr ${l.lr} · best at iteration ${l.iteration ?? '—'}`);
  lines.push(`${l.rows} × ${l.cols} · ${fmt.seconds(l.seconds)}`);
  return lines;
}

function el(tag: string, cls = ''): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}
