/**
 * How a run was measured (its protocol), read from its report or options, and what differs
 * between two runs' protocols; distinguishable names for the runs of the compare picker. Pure
 * functions (no DOM).
 */
import type { PruneOptions } from '../../src/contract';
import type { RunListItem, RunSnapshot } from '../../src/webviewProtocol';

export interface ProtocolItem {
  key: string;
  label: string;
  value: string;
}

const base = (p: string | null | undefined): string =>
  p
    ? (p
        .replace(/[\\/]+$/, '')
        .split(/[\\/]/)
        .pop() ?? p)
    : '—';

/** The windows the perplexity was measured on (from the report), or what was asked for. */
function evalWindows(run: RunSnapshot): string {
  const e = run.perplexity.pruned ?? run.perplexity.dense;
  if (e) return `${e.windows} × ${e.seqlen} tokens`;
  const o = run.options;
  if (!o || o.eval === null) return '—';
  return o.maxEvalWindows === null ? 'all windows' : `at most ${o.maxEvalWindows} windows`;
}

/** The protocol of a run: what has to match for two runs' numbers to be comparable. */
export function runProtocol(run: RunSnapshot): ProtocolItem[] {
  const o = run.options;
  const r = run.report;
  const seqlen = o?.seqlen ?? run.perplexity.dense?.seqlen ?? null;
  const items: ProtocolItem[] = [
    { key: 'model', label: 'model', value: run.model?.path ?? o?.model ?? '—' },
    { key: 'calib', label: 'calibration text', value: o ? base(o.calib) : '—' },
    { key: 'calibWindows', label: 'calibration windows', value: o ? `${o.nsamples} × ${seqlen ?? 'auto'} tokens` : '—' },
    { key: 'eval', label: 'evaluation text', value: o ? (o.eval === null ? 'not evaluated' : base(o.eval)) : '—' },
    { key: 'evalWindows', label: 'evaluation windows', value: evalWindows(run) },
    { key: 'precision', label: 'precision', value: o ? (o.precision ?? 'float32') : '—' },
    { key: 'device', label: 'device', value: r ? r.ep.toUpperCase() : o ? `${o.ep} (not started)` : '—' },
    { key: 'versions', label: 'versions', value: r ? `trim ${r.versions.trim} · onnxruntime ${r.versions.onnxruntime}` : '—' },
  ];
  return items;
}

/** Each protocol item whose value differs between A and B: "evaluation windows: 310 × 512 tokens (A) vs 60 × 512 tokens (B)". */
export function protocolDifferences(a: RunSnapshot, b: RunSnapshot): string[] {
  const pa = runProtocol(a);
  const pb = runProtocol(b);
  const out: string[] = [];
  pa.forEach((x, i) => {
    const y = pb[i];
    if (x.value === '—' || y.value === '—') return;
    if (x.value !== y.value) out.push(`${x.label}: ${x.value} (A) vs ${y.value} (B)`);
  });
  return out;
}

/** The warning shown when two compared runs were not measured the same way (null: they were). */
export function protocolWarning(a: RunSnapshot, b: RunSnapshot): string | null {
  const d = protocolDifferences(a, b);
  if (d.length === 0) return null;
  return `These runs were not measured the same way, so their numbers are not directly comparable. Differences: ${d.join('; ')}.`;
}

/** Options shown in the picker when they differ between runs (the run label already names target, allocation and method). */
const PICKER_KEYS: [keyof PruneOptions, string][] = [
  ['nsamples', 'calib'],
  ['seqlen', 'seqlen'],
  ['maxEvalWindows', 'eval windows'],
  ['precision', 'precision'],
  ['owlLambda', 'λ'],
  ['owlM', 'M'],
  ['alphaEpsilon', 'ε'],
  ['layerMetric', 'metric'],
  ['ep', 'ep'],
  ['calib', 'calib text'],
  ['eval', 'eval text'],
  ['model', 'model'],
];

function optionText(o: PruneOptions, k: keyof PruneOptions): string {
  const v = o[k];
  if (v === undefined || v === null) return k === 'maxEvalWindows' ? 'all' : k === 'precision' ? 'float32' : 'auto';
  return k === 'calib' || k === 'eval' || k === 'model' ? base(String(v)) : String(v);
}

/** "Dec 5, 07:12" in the webview's locale-free form (UTC): the date tells runs of one label apart. */
function when(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const m = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${m} ${d.getUTCDate()}, ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/**
 * Picker names that tell the runs apart: the run's label, the options that differ between the
 * listed runs, the date, the status; when two names still coincide, the run's id is added.
 */
export function pickerLabels(items: RunListItem[]): Map<string, string> {
  const vary = PICKER_KEYS.filter(([k]) => new Set(items.filter((i) => i.options).map((i) => optionText(i.options!, k))).size > 1);
  const named = items.map((i) => {
    const parts = [i.label];
    if (i.options) for (const [k, name] of vary) parts.push(`${name} ${optionText(i.options, k)}`);
    const w = when(i.createdAt);
    if (w) parts.push(w);
    return { id: i.id, text: `${parts.join(' · ')} (${i.status})` };
  });
  const count = new Map<string, number>();
  for (const n of named) count.set(n.text, (count.get(n.text) ?? 0) + 1);
  return new Map(named.map((n) => [n.id, (count.get(n.text) ?? 0) > 1 ? `${n.text} [${n.id}]` : n.text]));
}
