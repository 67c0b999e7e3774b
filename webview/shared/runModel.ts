/**
 * What the heatmaps show, derived from a run snapshot. Pure functions (no DOM), so they are
 * tested in Node against numbers read from the report file.
 */
import type { LayerReport } from '../../src/contract';
import type { RunSnapshot } from '../../src/webviewProtocol';

/**
 * What a cell's value is: the achieved sparsity (`sparsity`), its difference from the target
 * (`vsTarget`: achieved − target, the default colouring), or TRIM's metric gain (`gain`).
 */
export type Measure = 'sparsity' | 'vsTarget' | 'gain';

/** Names of the linears of one block, in order. */
export function linearNames(run: RunSnapshot): string[] {
  if (run.model) return run.model.linears;
  const first = run.blocks[0] ?? null;
  if (first) return first.layers.map((l) => l.name);
  return run.current?.layers.map((l) => l.name) ?? [];
}

/**
 * Which projection a row of a fused linear belongs to (Phi-3's qkv_proj: q, k, v; gate_up_proj:
 * gate, up), from the model's `linearParts`: "k (rows 32–47)"; null for a linear that is not fused.
 */
export function rowPart(run: RunSnapshot, linear: string, row: number): string | null {
  const p = run.model?.linearParts?.[linear]?.find((x) => row >= x.start && row < x.end);
  return p ? `${p.name} (rows ${p.start}–${p.end - 1})` : null;
}

/** A fused linear's parts with the mean sparsity of their rows (Phi-3: q, k, v of qkv_proj); [] for a linear that is not fused. */
export function partSparsity(run: RunSnapshot, layer: LayerReport): { name: string; start: number; end: number; mean: number }[] {
  return (run.model?.linearParts?.[layer.name] ?? []).map((p) => {
    let s = 0;
    for (let r = p.start; r < p.end; r++) s += layer.rowSparsity[r] ?? 0;
    return { ...p, mean: p.end > p.start ? s / (p.end - p.start) : 0 };
  });
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

export function layerValue(l: LayerReport, mode: Measure): number | null {
  return mode === 'sparsity' ? l.achieved : mode === 'vsTarget' ? l.achieved - l.target : layerGain(l);
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
export function layerGrid(run: RunSnapshot, mode: Measure): { cols: number; rows: number; names: string[]; cells: LayerCell[] } {
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
  /** The layer's target. */
  target: number;
  /** The bin's mean row sparsity, minus the layer's target when relative (what the colour shows). */
  value: number;
}

/**
 * Overview of a block: one column per linear, OVERVIEW_BINS bins of rows each (top = row 0).
 * `relative`: values are row sparsity − the layer's target.
 */
export function blockRowGrid(
  run: RunSnapshot,
  block: number,
  bins = OVERVIEW_BINS,
  relative = false,
): { cols: number; rows: number; names: string[]; cells: RowCell[] } {
  const names = linearNames(run);
  const layers = names.map((n) => layerAt(run, block, n));
  const minRows = Math.min(...layers.map((l) => (l ? l.rowSparsity.length : Infinity)));
  const k = Number.isFinite(minRows) ? Math.min(bins, minRows) : bins;
  const cells: RowCell[] = [];
  layers.forEach((l, x) => {
    if (!l) return;
    binRows(l.rowSparsity, k).forEach((bin, y) =>
      cells.push({ x, y, name: l.name, bin, target: l.target, value: relative ? bin.mean - l.target : bin.mean }),
    );
  });
  return { cols: names.length, rows: k, names, cells };
}

/** Width of the full-resolution grid: rows wrap onto lines of this many cells. */
export function fullWidth(rows: number): number {
  if (rows <= 64) return rows;
  return rows <= 4096 ? 64 : 128;
}

/** Full resolution of one linear: row r sits at (r mod W, ⌊r / W⌋). */
export function fullRowGrid(
  layer: LayerReport,
  relative = false,
): { cols: number; rows: number; cells: { x: number; y: number; row: number; sparsity: number; value: number }[] } {
  const n = layer.rowSparsity.length;
  const w = fullWidth(n);
  const cells = new Array(n);
  const off = relative ? layer.target : 0;
  for (let r = 0; r < n; r++)
    cells[r] = { x: r % w, y: Math.floor(r / w), row: r, sparsity: layer.rowSparsity[r], value: layer.rowSparsity[r] - off };
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

/**
 * Every row value of a block (all its linears, full resolution), for the row colour scale: the
 * overview (bin means) and the drill-down (rows) of a block then share one scale, since bin
 * means lie within the range of their rows.
 */
export function blockRowValues(run: RunSnapshot, block: number, relative: boolean, out: { values: number[]; achieved: number[] }): void {
  for (const n of linearNames(run)) {
    const l = layerAt(run, block, n);
    if (!l) continue;
    const off = relative ? l.target : 0;
    for (const v of l.rowSparsity) {
      out.values.push(v - off);
      out.achieved.push(v);
    }
  }
}

export interface DiffCell extends LayerCell {
  a: LayerReport | null;
  b: LayerReport | null;
}

/**
 * B − A per layer cell (same blocks × linears grid), of achieved sparsity or of TRIM's gain;
 * null where either side has no value. Null when the two runs do not have the same grid.
 */
export function diffGrid(
  a: RunSnapshot,
  b: RunSnapshot,
  mode: 'sparsity' | 'gain',
): { cols: number; rows: number; names: string[]; cells: DiffCell[] } | null {
  const names = linearNames(a);
  const nb = linearNames(b);
  const rows = blockCount(a);
  if (rows !== blockCount(b) || names.length !== nb.length || names.some((n, i) => n !== nb[i])) return null;
  const cells: DiffCell[] = [];
  for (let y = 0; y < rows; y++) {
    names.forEach((name, x) => {
      const la = layerAt(a, y, name);
      const lb = layerAt(b, y, name);
      const va = la ? layerValue(la, mode) : null;
      const vb = lb ? layerValue(lb, mode) : null;
      cells.push({ x, y, block: y, name, layer: lb, a: la, b: lb, value: va === null || vb === null ? null : vb - va });
    });
  }
  return { cols: names.length, rows, names, cells };
}
