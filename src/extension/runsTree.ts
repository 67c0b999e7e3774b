/**
 * The Runs view: past and running jobs with status, target, achieved sparsity and perplexity
 * before → after. Items are the store's RunRecords; a running one shows its live progress.
 */
import * as vscode from 'vscode';
import { isWithin } from '../core/io/paths';
import { canResume, isInterrupted } from './jobManager';
import type { ProgressState } from './progress';
import { runState, runTitle, shortDate, tooltipRows } from './runLabels';
import type { RunRecord, RunStore } from './runStore';
import { runContextValue } from './rerun';

const ICONS: Record<RunRecord['status'], [string, string | undefined]> = {
  queued: ['clock', undefined],
  running: ['loading~spin', undefined],
  done: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  cancelled: ['circle-slash', 'disabledForeground'],
};

/**
 * A row of the Runs view leads with what the run was — model · method · target — and follows with
 * its result ("69.8% sparse · ppl 113.76 → 221.03") or its state or progress, then when it was
 * made, so that runs of the same settings differ. The tooltip has everything.
 */
export function describeRow(r: RunRecord, progress?: ProgressState): { label: string; description: string } {
  const label = runTitle(r.options, true);
  if (r.status === 'running') {
    // What it is doing, units done and time left; no percentage beside the target's (progress.ts).
    return { label, description: progress ? progress.message : 'starting…' };
  }
  return { label, description: `${runState(r)} · ${shortDate(r.createdAt)}` };
}

export class RunsTree implements vscode.TreeDataProvider<RunRecord>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunRecord | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | null = null;

  /** The runs of this workspace only (false: of every workspace). */
  private scope: string | undefined;

  constructor(
    private readonly store: RunStore,
    private readonly progressOf: (id: string) => ProgressState | undefined,
    workspace?: string,
  ) {
    this.scope = workspace;
  }

  /** Whether the runs of every workspace are shown. */
  get scopeAll(): boolean {
    return this.scope === undefined;
  }

  /** Shows the runs of `workspace` only, or (undefined) of every workspace. */
  setScope(workspace: string | undefined): void {
    this.scope = workspace;
    this.refresh();
  }

  getChildren(element?: RunRecord): RunRecord[] {
    return element ? [] : this.store.list(this.scope);
  }

  getParent(): undefined {
    return undefined;
  }

  getTreeItem(r: RunRecord): vscode.TreeItem {
    const row = describeRow(r, this.progressOf(r.id));
    const item = new vscode.TreeItem(row.label, vscode.TreeItemCollapsibleState.None);
    item.id = r.id;
    item.description = row.description;
    const [icon, color] = isInterrupted(r) ? ['debug-pause', 'editorWarning.foreground'] : ICONS[r.status];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    // run.<status>[.final][.resumable]: menus match /^run\.(done|…)\b/, Re-run only without .final.
    item.contextValue = runContextValue(r, canResume(r));
    item.tooltip = tooltip(r);
    // A click (or Enter) opens the results (and shows the run in the Layers view).
    item.command = { command: 'trim.openRunRow', title: 'Open Results', arguments: [r] };
    return item;
  }

  /** Refreshes now (state changes) or at most every 300 ms (progress). */
  refresh(soon = false): void {
    if (!soon) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      this.changed.fire(undefined);
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.changed.fire(undefined);
    }, 300);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }
}

function tooltip(r: RunRecord): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escape(runTitle(r.options))}** — ${escape(runState(r))}\n\n`);
  md.appendMarkdown(
    tooltipRows(r)
      .map(([k, v]) => `${k}: \`${v.replace(/`/g, "'")}\``)
      .join('  \n'),
  );
  if (r.error) md.appendMarkdown(`\n\n$(error) ${escape(r.error.message)}`);
  return md;
}

const escape = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');

/** Whether `p` lies in one of the workspace folders (then it can be revealed in the Explorer). */
export function inWorkspace(p: string): boolean {
  return (vscode.workspace.workspaceFolders ?? []).some((f) => isWithin(p, f.uri.fsPath));
}
