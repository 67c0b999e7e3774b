/** What the panel's exports contain: the per-layer table as CSV (pure; tested against the report). */
import type { RunSnapshot } from '../../src/webviewProtocol';
import { allLayers } from './runModel';

const COLUMNS = [
  'block',
  'linear',
  'rows',
  'cols',
  'target',
  'achieved',
  'achieved_minus_target_pp',
  'metric',
  'metric_before',
  'metric_after',
  'gain',
  'lr',
  'best_iteration',
  'baseline_achieved',
  'seconds',
] as const;

const cell = (v: string | number | null | undefined): string => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One line per linear layer of the run (in block order), full precision, header first. */
export function layerCsv(run: RunSnapshot): string {
  const metric = run.options?.layerMetric ?? '';
  const base = run.report?.baseline ?? null;
  const lines = [COLUMNS.join(',')];
  for (const { block, layer: l } of allLayers(run)) {
    const bl = base?.blocks.find((b) => b.index === block)?.layers.find((x) => x.name === l.name)?.achieved ?? null;
    const gain = l.metricBefore !== null && l.metricAfter !== null ? l.metricAfter - l.metricBefore : null;
    lines.push(
      [
        block,
        l.name,
        l.rows,
        l.cols,
        l.target,
        l.achieved,
        (l.achieved - l.target) * 100,
        l.metricBefore !== null ? metric : '',
        l.metricBefore,
        l.metricAfter,
        gain,
        l.lr,
        l.iteration,
        bl,
        l.seconds,
      ]
        .map(cell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A file name from a run label: "demo · 70% · TRIM ×10" → "demo-70pct-TRIM-x10". */
export function fileStem(label: string): string {
  return (
    label
      .replace(/%/g, 'pct')
      .replace(/×/g, 'x')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'trim-run'
  );
}
