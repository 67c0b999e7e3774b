/**
 * The Runs view: past and running jobs with status, target, achieved sparsity and perplexity
 * before → after. Items are the store's RunRecords; a running one shows its live progress.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ProgressState } from './progress';
import { pct } from './progress';
import type { RunRecord, RunStore } from './runStore';
import { runContextValue } from './rerun';

const ICONS: Record<RunRecord['status'], [string, string | undefined]> = {
  queued: ['clock', undefined],
  running: ['loading~spin', undefined],
  done: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  cancelled: ['circle-slash', 'disabledForeground'],
};

const ppl = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : x.toFixed(2));

/** The run's label without the model's name: "70% · TRIM ×10". */
export function shortLabel(r: RunRecord): string {
  const model = path.basename(r.options.model);
  return r.label.startsWith(`${model} · `) ? r.label.slice(model.length + 3) : r.label;
}

/**
 * A row of the Runs view fits a sidebar of ordinary width (about 36 characters) with what matters
 * first: a finished run leads with its result ("69.8% · ppl 113.76 → 221.03") and follows with
 * what it was ("70% · TRIM ×10 · model"); any other run leads with what it is and follows with its
 * state or progress. The tooltip has everything.
 */
export function describeRow(r: RunRecord, progress?: ProgressState): { label: string; description: string } {
  const model = path.basename(r.options.model);
  const what = shortLabel(r);
  const tail = what === r.label ? '' : ` · ${model}`;
  switch (r.status) {
    case 'queued':
      return { label: what, description: `queued${tail}` };
    case 'running':
      // What it is doing, units done and time left; no percentage beside the target's (progress.ts).
      return { label: what, description: progress ? progress.message : 'starting…' };
    case 'done': {
      const s = r.summary;
      if (!s) return { label: what, description: `done${tail}` };
      const p = s.perplexity !== null || s.densePerplexity !== null ? ` · ppl ${ppl(s.densePerplexity)} → ${ppl(s.perplexity)}` : '';
      return { label: `${pct(s.sparsity)}${p}`, description: `${what}${tail}` };
    }
    case 'failed':
      return { label: what, description: `failed · ${r.error?.code ?? 'error'}${tail}` };
    case 'cancelled':
      return { label: what, description: `cancelled${tail}` };
  }
}

export class RunsTree implements vscode.TreeDataProvider<RunRecord>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunRecord | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly store: RunStore, private readonly progressOf: (id: string) => ProgressState | undefined) {}

  getChildren(element?: RunRecord): RunRecord[] {
    return element ? [] : this.store.list();
  }

  getParent(): undefined {
    return undefined;
  }

  getTreeItem(r: RunRecord): vscode.TreeItem {
    const row = describeRow(r, this.progressOf(r.id));
    const item = new vscode.TreeItem(row.label, vscode.TreeItemCollapsibleState.None);
    item.id = r.id;
    item.description = row.description;
    const [icon, color] = ICONS[r.status];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    item.contextValue = runContextValue(r);
    item.tooltip = tooltip(r);
    item.command = { command: 'trim.selectRun', title: 'Show in the Layers view', arguments: [r] };
    return item;
  }

  /** Refreshes now (state changes) or at most every 300 ms (progress). */
  refresh(soon = false): void {
    if (!soon) {
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
      this.changed.fire(undefined);
      return;
    }
    this.timer ??= setTimeout(() => { this.timer = null; this.changed.fire(undefined); }, 300);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }
}

function tooltip(r: RunRecord): vscode.MarkdownString {
  const o = r.options;
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escape(r.label)}** — ${r.status}\n\n`);
  const rows: [string, string][] = [
    ['model', o.model],
    ['target', `${pct(o.sparsity)}${o.blockSparsity ? ' (per block)' : ` · ${o.allocation}`}`],
    ['method', `${o.score}${o.trim ? ` + TRIM (${o.iterations} iterations, ${o.layerMetric}/${o.rowMetric})` : ''}${o.nm ? ` · ${o.nm}` : ''}`],
  ];
  if (r.summary) {
    rows.push(['achieved', pct(r.summary.sparsity)]);
    rows.push(['perplexity', `${ppl(r.summary.densePerplexity)} → ${ppl(r.summary.perplexity)}`]);
    rows.push(['ran on', `${r.summary.ep.toUpperCase()} in ${r.summary.seconds.toFixed(1)} s`]);
  }
  rows.push(['output', o.out]);
  rows.push(['created', new Date(r.createdAt).toLocaleString()]);
  md.appendMarkdown(rows.map(([k, v]) => `${k}: \`${v.replace(/`/g, "'")}\``).join('  \n'));
  if (r.error) md.appendMarkdown(`\n\n$(error) ${escape(r.error.message)}`);
  return md;
}

const escape = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');

/** Whether `p` lies in one of the workspace folders (then it can be revealed in the Explorer). */
export function inWorkspace(p: string): boolean {
  return (vscode.workspace.workspaceFolders ?? []).some((f) => {
    const rel = path.relative(f.uri.fsPath, p);
    return !rel.startsWith('..') && !path.isAbsolute(rel);
  });
}
