/**
 * What the heatmaps show, derived from a run snapshot. Pure functions (no DOM), so they are
 * tested in Node against numbers read from the report file.
 */
import type { LayerReport } from '../../src/contract';
import type { RunSnapshot } from '../../src/webviewProtocol';
import type { ColorMode } from './colorScale';

/** Names of the linears of one block, in order. */
export function linearNames(run: RunSnapshot): string[] {
  if (run.model) return run.model.linears;
  const first = run.blocks[0] ?? null;
  if (first) return first.layers.map((l) => l.name);
  return run.current?.layers.map((l) => l.name) ?? [];
}

/** Number of blocks of the model (known from the start event, or the report). */
export function blockCount(run: RunSnapshot): number {
  if (run.model) return run.model.blocks;
  if (run.current) return run.current.blocks;
  return run.blocks.length === 0 ? 0 : Math.max(...run.blocks.map((b) => b.index)) + 1;
}

/** The report of linear `name` in block `block`, if it has arrived. */
export function layerAt(run: RunSnapshot, block: number, name: string): LayerReport | null {
  const b = run.blocks.find((x) => x.index === block);
  if (b) return b.layers.find((l) => l.name === name) ?? null;
  if (run.current && run.current.index === block) return run.current.layers.find((l) => l.name === name) ?? null;
  return null;
}

/** The metric gain of TRIM on a layer (after − before), or null when TRIM did not run. */
export function layerGain(l: LayerReport): number | null {
  return l.metricBefore === null || l.metricAfter === null ? null : l.metricAfter - l.metricBefore;
}

export function layerValue(l: LayerReport, mode: ColorMode): number | null {
  return mode === 'sparsity' ? l.achieved : layerGain(l);
}

/** True when at least one layer carries TRIM metrics (the gain mode makes sense). */
export function hasMetrics(run: RunSnapshot): boolean {
  const any = (ls: LayerReport[]) => ls.some((l) => l.metricBefore !== null && l.metricAfter !== null);
  return run.blocks.some((b) => any(b.layers)) || (run.current !== null && any(run.current.layers));
}

export interface LayerCell {
  /** Column = index of the linear; row = block. */
  x: number;
  y: number;
  block: number;
  name: string;
  layer: LayerReport | null;
  value: number | null;
}

/** Every cell of the blocks × linears grid; cells whose layer has not arrived have layer null. */
export function layerGrid(run: RunSnapshot, mode: ColorMode): { cols: number; rows: number; names: string[]; cells: LayerCell[] } {
  const names = linearNames(run);
  const rows = blockCount(run);
  const cells: LayerCell[] = [];
  for (let b = 0; b < rows; b++) {
    names.forEach((name, x) => {
      const layer = layerAt(run, b, name);
      cells.push({ x, y: b, block: b, name, layer, value: layer ? layerValue(layer, mode) : null });
    });
  }
  return { cols: names.length, rows, names, cells };
}

export interface RowBin {
  /** First row (inclusive) and last row (exclusive). */
  start: number;
  end: number;
  mean: number;
  min: number;
  max: number;
}

/** Splits the rows of a layer into `bins` contiguous bins (sizes differ by at most one). */
export function binRows(rowSparsity: readonly number[], bins: number): RowBin[] {
  const n = rowSparsity.length;
  const k = Math.max(1, Math.min(bins, n));
  const out: RowBin[] = [];
  for (let i = 0; i < k; i++) {
    const start = Math.floor((i * n) / k);
    const end = Math.floor(((i + 1) * n) / k);
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let r = start; r < end; r++) {
      const v = rowSparsity[r];
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    out.push({ start, end, mean: sum / (end - start), min, max });
  }
  return out;
}

/** Bins per linear in the overview of a block (every linear gets the same number). */
export const OVERVIEW_BINS = 64;

export interface RowCell {
  x: number;
  y: number;
  name: string;
  bin: RowBin;
  /** The bin's mean row sparsity (what the cell's colour shows). */
  value: number;
}

/** Overview of a block: one column per linear, OVERVIEW_BINS bins of rows each (top = row 0). */
export function blockRowGrid(run: RunSnapshot, block: number, bins = OVERVIEW_BINS): { cols: number; rows: number; names: string[]; cells: RowCell[] } {
  const names = linearNames(run);
  const layers = names.map((n) => layerAt(run, block, n));
  const minRows = Math.min(...layers.map((l) => (l ? l.rowSparsity.length : Infinity)));
  const k = Number.isFinite(minRows) ? Math.min(bins, minRows) : bins;
  const cells: RowCell[] = [];
  layers.forEach((l, x) => {
    if (!l) return;
    binRows(l.rowSparsity, k).forEach((bin, y) => cells.push({ x, y, name: l.name, bin, value: bin.mean }));
  });
  return { cols: names.length, rows: k, names, cells };
}

/** Width of the full-resolution grid: rows wrap onto lines of this many cells. */
export function fullWidth(rows: number): number {
  if (rows <= 64) return rows;
  return rows <= 4096 ? 64 : 128;
}

/** Full resolution of one linear: row r sits at (r mod W, ⌊r / W⌋). */
export function fullRowGrid(layer: LayerReport): { cols: number; rows: number; cells: { x: number; y: number; row: number; value: number }[] } {
  const n = layer.rowSparsity.length;
  const w = fullWidth(n);
  const cells = new Array(n);
  for (let r = 0; r < n; r++) cells[r] = { x: r % w, y: Math.floor(r / w), row: r, value: layer.rowSparsity[r] };
  return { cols: w, rows: Math.ceil(n / w), cells };
}

/** Run progress: finished blocks of all blocks. */
export function progress(run: RunSnapshot): { done: number; total: number } {
  return { done: run.blocks.length, total: blockCount(run) };
}

/** Ordered flat list of all arrived layers: for the metric chart. */
export function allLayers(run: RunSnapshot): { block: number; layer: LayerReport }[] {
  const out: { block: number; layer: LayerReport }[] = [];
  for (const b of run.blocks) for (const l of b.layers) out.push({ block: b.index, layer: l });
  if (run.current) for (const l of run.current.layers) out.push({ block: run.current.index, layer: l });
  return out;
}
