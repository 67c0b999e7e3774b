/**
 * A heatmap drawn by chart.js' matrix controller: a cols × rows grid of cells, coloured by a
 * scale, with an HTML tooltip (mouse and keyboard), a selectable cell and keyboard navigation
 * (arrows, Home/End, PageUp/PageDown, Enter/Space selects). After each render the canvas carries
 * data-cols, data-rows and data-area ("left,top,right,bottom" of the cell area, CSS pixels) so a
 * reader — a screen-reader summary, a test — can locate a cell without chart.js internals.
 */
import type { Chart as ChartT, ChartConfiguration, Plugin, ScriptableContext, TooltipModel } from 'chart.js';
import { Chart } from './charts';
import type { Theme } from './theme';

export interface HeatCell {
  x: number;
  y: number;
  value: number | null;
}

export interface HeatmapSpec<C extends HeatCell> {
  cols: number;
  rows: number;
  cells: C[];
  xLabel(i: number): string;
  yLabel(i: number): string;
  xTitle?: string;
  yTitle?: string;
  color(v: number): string;
  tooltip(c: C): string[];
  /** Accessible name of the heatmap. */
  label: string;
  /** Pixels per row of cells (the canvas height follows). */
  cellHeight: number;
  isSelected?(c: C): boolean;
  /** Pixels between neighbouring cells, horizontally and vertically (default 1 and 1). */
  gap?: [number, number];
  theme: Theme;
}

let counter = 0;

/** One tick per column (or row) centre; chart.js' autoSkip thins them when they do not fit. */
function integerTicks(n: number): { value: number }[] {
  return Array.from({ length: n }, (_, i) => ({ value: i }));
}

export class Heatmap<C extends HeatCell> {
  readonly root: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private readonly tip: HTMLDivElement;
  private readonly frame: HTMLDivElement;
  private chart: ChartT<'matrix', C[]> | null = null;
  private spec: HeatmapSpec<C> | null = null;
  private index = new Map<string, number>();
  private active: number | null = null;

  constructor(
    parent: HTMLElement,
    private readonly onSelect?: (c: C) => void,
  ) {
    const id = `heatmap-${++counter}`;
    this.root = document.createElement('div');
    this.root.className = 'heatmap';
    this.frame = document.createElement('div');
    this.frame.className = 'heatmap-frame';
    this.canvas = document.createElement('canvas');
    this.canvas.id = id;
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'img');
    this.tip = document.createElement('div');
    this.tip.className = 'heat-tooltip';
    this.tip.id = `${id}-tip`;
    this.tip.setAttribute('role', 'tooltip');
    this.tip.setAttribute('aria-live', 'polite');
    this.tip.hidden = true;
    this.canvas.setAttribute('aria-describedby', this.tip.id);
    this.frame.append(this.canvas, this.tip);
    this.root.append(this.frame);
    parent.append(this.root);
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.canvas.addEventListener('focus', () => {
      if (this.active === null && this.spec?.cells.length) this.activate(this.firstFilled());
      else if (this.active !== null) this.activate(this.active);
    });
    this.canvas.addEventListener('blur', () => {
      this.hideTip();
    });
    this.canvas.addEventListener('mouseleave', () => this.hideTip());
  }

  update(spec: HeatmapSpec<C>): void {
    this.spec = spec;
    this.index = new Map(spec.cells.map((c, i) => [`${c.x},${c.y}`, i]));
    if (this.active !== null && this.active >= spec.cells.length) this.active = null;
    this.canvas.setAttribute('aria-label', spec.label);
    this.frame.style.height = `${Math.max(60, spec.rows * spec.cellHeight + 48)}px`;
    const t = spec.theme;
    const cols = spec.cols;
    const rows = spec.rows;
    const [gapX, gapY] = spec.gap ?? [1, 1];
    const cellAt = (ctx: ScriptableContext<'matrix'>) => ctx.raw as C | undefined;
    const fill = (ctx: ScriptableContext<'matrix'>) => {
      const c = cellAt(ctx);
      return c && c.value !== null ? spec.color(c.value) : 'rgba(0, 0, 0, 0)';
    };
    const border = (ctx: ScriptableContext<'matrix'>) => {
      const c = cellAt(ctx);
      if (!c) return 'rgba(0, 0, 0, 0)';
      if (ctx.dataIndex === this.active && document.activeElement === this.canvas) return t.focus;
      if (spec.isSelected?.(c)) return t.foreground;
      if (c.value === null) return t.grid;
      return (gapY > 0 && t.contrastBorder) || 'rgba(0, 0, 0, 0)';
    };
    const borderWidth = (ctx: ScriptableContext<'matrix'>) => {
      const c = cellAt(ctx);
      if (!c) return 0;
      if ((ctx.dataIndex === this.active && document.activeElement === this.canvas) || spec.isSelected?.(c)) return 2;
      return c.value === null || (gapY > 0 && t.contrastBorder) ? 1 : 0;
    };
    const scaleCommon = {
      grid: { display: false },
      border: { display: false },
    };
    const data = spec.cells;
    if (!this.chart) {
      const area: Plugin<'matrix'> = {
        id: 'trimArea',
        afterRender: (chart) => {
          const a = chart.chartArea;
          const s = this.spec;
          if (!a || !s) return;
          this.canvas.dataset.area = `${a.left},${a.top},${a.right},${a.bottom}`;
          this.canvas.dataset.cols = String(s.cols);
          this.canvas.dataset.rows = String(s.rows);
          this.canvas.dataset.rendered = String(Number(this.canvas.dataset.rendered ?? '0') + 1);
        },
      };
      const config: ChartConfiguration<'matrix', C[]> = {
        type: 'matrix',
        data: { datasets: [{ data, label: spec.label }] },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          events: ['mousemove', 'mouseout', 'click'],
          plugins: {
            legend: { display: false },
            tooltip: { enabled: false, external: (ctx) => this.externalTip(ctx.tooltip) },
          },
          onClick: (_e, els) => {
            const el = els[0];
            if (el && this.spec) {
              this.active = el.index;
              this.select(el.index);
            }
          },
        },
        plugins: [area],
      };
      this.chart = new Chart(this.canvas, config);
    }
    const ch = this.chart;
    const ds = ch.data.datasets[0];
    ds.data = data;
    ds.label = spec.label;
    Object.assign(ds, {
      backgroundColor: fill,
      hoverBackgroundColor: fill,
      borderColor: border,
      hoverBorderColor: t.focus,
      borderWidth,
      hoverBorderWidth: 2,
      width: ({ chart }: { chart: ChartT }) => Math.max(1, (chart.chartArea?.width ?? 0) / cols - (gapX || -0.6)),
      // Without a gap, neighbours overlap by a fraction of a pixel so no anti-aliased seam shows.
      height: ({ chart }: { chart: ChartT }) => Math.max(1, (chart.chartArea?.height ?? 0) / rows - (gapY || -0.6)),
    });
    const font = { family: t.font, size: 11 };
    ch.options.scales = {
      x: {
        ...scaleCommon,
        type: 'linear',
        position: 'top',
        min: -0.5,
        max: cols - 0.5,
        offset: false,
        afterBuildTicks: (axis) => {
          axis.ticks = integerTicks(cols);
        },
        ticks: { color: t.foreground, font, autoSkip: true, maxRotation: 0, callback: (v) => spec.xLabel(Number(v)) },
        title: { display: !!spec.xTitle, text: spec.xTitle ?? '', color: t.muted, font },
      },
      y: {
        ...scaleCommon,
        type: 'linear',
        reverse: true,
        min: -0.5,
        max: rows - 0.5,
        offset: false,
        afterBuildTicks: (axis) => {
          axis.ticks = integerTicks(rows);
        },
        ticks: { color: t.foreground, font, autoSkip: true, callback: (v) => spec.yLabel(Number(v)) },
        title: { display: !!spec.yTitle, text: spec.yTitle ?? '', color: t.muted, font },
      },
    };
    ch.update('none');
    if (this.active !== null && document.activeElement === this.canvas) this.showTipFor(this.active);
  }

  /** Moves the keyboard cursor to the cell at (x, y) if it exists. */
  focusCell(x: number, y: number): void {
    const i = this.index.get(`${x},${y}`);
    if (i !== undefined) {
      this.canvas.focus();
      this.activate(i);
    }
  }

  /** The heatmap as a PNG data URL (chart.js' toBase64Image), or null before the first render. */
  png(): string | null {
    return this.chart ? this.chart.toBase64Image('image/png', 1) : null;
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = null;
    this.root.remove();
  }

  private firstFilled(): number {
    const cells = this.spec?.cells ?? [];
    const i = cells.findIndex((c) => c.value !== null);
    return i < 0 ? 0 : i;
  }

  private select(i: number): void {
    const c = this.spec?.cells[i];
    if (c && this.onSelect) this.onSelect(c);
  }

  private activate(i: number): void {
    this.active = i;
    this.chart?.update('none');
    this.showTipFor(i);
  }

  private onKey(e: KeyboardEvent): void {
    const s = this.spec;
    if (!s || s.cells.length === 0) return;
    const cur = s.cells[this.active ?? this.firstFilled()];
    let x = cur.x;
    let y = cur.y;
    switch (e.key) {
      case 'ArrowLeft':
        x--;
        break;
      case 'ArrowRight':
        x++;
        break;
      case 'ArrowUp':
        y--;
        break;
      case 'ArrowDown':
        y++;
        break;
      case 'Home':
        x = 0;
        break;
      case 'End':
        x = s.cols - 1;
        break;
      case 'PageUp':
        y = Math.max(0, y - 8);
        break;
      case 'PageDown':
        y = Math.min(s.rows - 1, y + 8);
        break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        if (this.active !== null) this.select(this.active);
        return;
      case 'Escape':
        this.hideTip();
        return;
      default:
        return;
    }
    e.preventDefault();
    const i = this.index.get(`${x},${y}`);
    if (i !== undefined) this.activate(i);
  }

  private externalTip(tooltip: TooltipModel<'matrix'>): void {
    if (tooltip.opacity === 0 || !tooltip.dataPoints?.length) {
      if (document.activeElement !== this.canvas) this.hideTip();
      return;
    }
    this.showTipFor(tooltip.dataPoints[0].dataIndex);
  }

  private showTipFor(i: number): void {
    const s = this.spec;
    const c = s?.cells[i];
    const el = this.chart?.getDatasetMeta(0).data[i] as unknown as { x: number; y: number; width: number; height: number } | undefined;
    if (!s || !c || !el) return;
    const lines = s.tooltip(c);
    this.tip.replaceChildren(
      ...lines.map((line, k) => {
        const d = document.createElement('div');
        if (k === 0) d.className = 'tip-title';
        d.textContent = line;
        return d;
      }),
    );
    this.tip.hidden = false;
    const fw = this.frame.clientWidth;
    const tw = this.tip.offsetWidth;
    const cx = el.x + el.width / 2;
    const left = Math.max(0, Math.min(fw - tw, cx + 12));
    const top = el.y + el.height + 6;
    this.tip.style.left = `${left}px`;
    this.tip.style.top = `${top}px`;
  }

  private hideTip(): void {
    this.tip.hidden = true;
  }
}
