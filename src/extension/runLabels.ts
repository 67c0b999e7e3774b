/**
 * How a run is named wherever a person must tell runs apart: the Runs rows, their tooltips and
 * the pickers. A run leads with what it was — model · method · target — and follows with its
 * result or state. No `vscode` import (unit-tested).
 */
import * as path from 'node:path';
import type { PruneOptions } from '../contract';
import { DEFAULTS } from './configResolve';
import type { RunRecord } from './runStore';

const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;
const ppl = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : x.toFixed(2));

/** "TRIM ×10", "magnitude + TRIM ×10", "Wanda", "magnitude 2:4". */
export function methodOf(o: PruneOptions): string {
  const score = o.score === 'wanda' ? 'Wanda' : o.score;
  const m = o.trim ? `${o.score === 'wanda' ? '' : `${score} + `}TRIM ×${o.iterations}` : score;
  return o.nm ? `${m} ${o.nm}` : m;
}

/** "70%", "70% owl", "70% alpha", "70% per block". */
export function targetOf(o: PruneOptions): string {
  if (o.blockSparsity) return `${pct(o.sparsity)} per block`;
  return o.allocation === 'uniform' ? pct(o.sparsity) : `${pct(o.sparsity)} ${o.allocation}`;
}

/**
 * What the run was: "trim-demo-qwen2-small · TRIM ×10 · 70% owl". `short` (a Runs row, in a
 * narrow side bar) drops the organisation of a Hugging Face model id.
 */
export function runTitle(o: PruneOptions, short = false): string {
  const name = modelName(o.model);
  return `${short ? name.slice(name.lastIndexOf('/') + 1) : name} · ${methodOf(o)} · ${targetOf(o)}`;
}

/**
 * The model's name: the folder's, or for a Hugging Face cache snapshot
 * (…/models--ORG--NAME/snapshots/REV) the model id ORG/NAME.
 */
export function modelName(model: string): string {
  const parts = model.split(/[\\/]+/).filter(Boolean);
  const n = parts.length;
  if (n >= 3 && parts[n - 2] === 'snapshots' && parts[n - 3].startsWith('models--')) {
    return parts[n - 3].slice('models--'.length).split('--').join('/');
  }
  return path.basename(model);
}

/** Its result or state: "69.8% sparse · ppl 113.76 → 221.03", "interrupted", "failed: E_OPTION". */
export function runState(r: RunRecord): string {
  switch (r.status) {
    case 'queued':
      return 'queued';
    case 'running':
      return 'running';
    case 'done': {
      const s = r.summary;
      if (!s) return 'done';
      const p = s.perplexity !== null || s.densePerplexity !== null ? ` · ppl ${ppl(s.densePerplexity)} → ${ppl(s.perplexity)}` : '';
      return `${pct(s.sparsity)} sparse${p}`;
    }
    case 'failed':
      return r.error?.code === 'INTERRUPTED' ? 'interrupted' : `failed: ${r.error?.code ?? 'error'}`;
    case 'cancelled':
      return 'cancelled';
  }
}

/** "5 Dec 14:02" (the run's creation, local time; the year when it is not this one's). */
export function shortDate(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const sameYear = d.getFullYear() === now.getFullYear();
  const day = d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
  const time = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  return `${day} ${time}`;
}

/** The run's options that differ from the built-in defaults, as "name: value" (model, out and texts aside). */
export function changedOptions(o: PruneOptions): string[] {
  const skip = new Set(['model', 'out', 'calib', 'eval', 'overwrite', 'resume']);
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (skip.has(k) || v === undefined) continue;
    const d = (DEFAULTS as Record<string, unknown>)[k];
    if (JSON.stringify(d ?? null) === JSON.stringify(v ?? null)) continue;
    out.push(
      `${k}: ${Array.isArray(v) ? `[${v.map((x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x)).join(', ')}]` : JSON.stringify(v)}`,
    );
  }
  return out;
}

/** The calibration and evaluation protocol: "128 × 512 tokens of calib.txt; eval eval-brown.txt (≤ 4 windows)". */
export function protocolOf(o: PruneOptions): string {
  const seqlen = o.seqlen === null ? 'auto' : String(o.seqlen);
  const evalPart = o.eval
    ? `perplexity on ${path.basename(o.eval)}${o.maxEvalWindows !== null ? ` (≤ ${o.maxEvalWindows} windows)` : ''}`
    : 'no evaluation';
  return `${o.nsamples} windows × ${seqlen} tokens of ${path.basename(o.calib)}; ${evalPart}`;
}

/** Seconds between start and end, or the summary's total: "1 min 12 s", "7.2 s". */
export function durationOf(r: RunRecord): string | null {
  let s: number | null = r.summary?.seconds ?? null;
  if (s === null && r.startedAt && r.finishedAt) s = (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;
  if (s === null || !Number.isFinite(s)) return null;
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`;
}

/** Lines of a run's tooltip (plain text; the view turns them into Markdown). */
export function tooltipRows(r: RunRecord): [string, string][] {
  const o = r.options;
  const rows: [string, string][] = [
    ['date', new Date(r.createdAt).toLocaleString('en-GB')],
    ['model', o.model],
    ['method', `${methodOf(o)}${o.trim ? ` (${o.layerMetric}/${o.rowMetric})` : ''}`],
    ['target', targetOf(o)],
  ];
  const changed = changedOptions(o);
  rows.push(['options', changed.length ? changed.join(', ') : 'defaults']);
  rows.push(['protocol', protocolOf(o)]);
  rows.push(['device', r.summary ? r.summary.ep.toUpperCase() : `${o.ep} (asked)`]);
  const d = durationOf(r);
  if (d) rows.push(['duration', d]);
  if (r.summary) {
    rows.push(['achieved', pct(r.summary.sparsity)]);
    rows.push(['perplexity', `${ppl(r.summary.densePerplexity)} → ${ppl(r.summary.perplexity)}`]);
  }
  rows.push(['output', o.out]);
  return rows;
}

/** A picker's item for a run: the row's words, the date and the output folder. */
export function pickItem(r: RunRecord): { label: string; description: string; detail: string } {
  return { label: runTitle(r.options), description: runState(r), detail: `${shortDate(r.createdAt)} · ${r.options.out}` };
}
