/**
 * The views: the Runs tree, the results panel and the sidebar visualization, and what their
 * webviews ask the host to do (Run again, open the panel at a sidebar cell, cancel).
 */
import * as vscode from 'vscode';
import type { JobManager } from './jobManager';
import type { Launcher } from './launch';
import type { ProgressState } from './progress';
import { RunSnapshots } from './runSnapshots';
import type { RunStore } from './runStore';
import { RunsTree } from './runsTree';
import { ResultsPanel, SIDEBAR_VIEW_ID, SidebarView, type WebviewActions } from './webviews';

export interface ViewsDeps {
  store: RunStore;
  manager: JobManager;
  launcher: Launcher;
  log: vscode.LogOutputChannel;
  workspaceKey: string;
  progressOf(id: string): ProgressState | undefined;
}

export interface Views {
  tree: RunsTree;
  snapshots: RunSnapshots;
  panel: ResultsPanel;
  sidebar: SidebarView;
}

/** What the webviews ask for, in host terms. */
export function webviewActions(
  d: { store: RunStore; manager: JobManager; launcher: Pick<Launcher, 'startFromRun'> },
  views: () => { panel: Pick<ResultsPanel, 'open'>; sidebar: Pick<SidebarView, 'select'> },
): WebviewActions {
  return {
    runAgain: async (runId, overrides) => {
      const run = d.store.get(runId);
      if (!run) return void vscode.window.showWarningMessage('TRIM: that run is no longer in the Runs list.');
      const next = await d.launcher.startFromRun(run, overrides, 'Run again');
      // The new run opens beside the one it came from, ready to compare.
      if (next) await views().panel.open(next.id, undefined, run.id);
    },
    // A sidebar cell: the panel opens on that run, at that block and linear.
    reveal: async (runId, block, layer) => { await views().panel.open(runId, { block, layer }); },
    cancel: async (runId) => { await d.manager.cancel(runId); },
    shown: (runId) => { void views().sidebar.select(runId); },
  };
}

export function createViews(context: vscode.ExtensionContext, d: ViewsDeps): Views {
  const { store, manager, log } = d;
  const tree = new RunsTree(store, d.progressOf, d.workspaceKey);
  const treeView = vscode.window.createTreeView('trim.runs', { treeDataProvider: tree, showCollapseAll: false });
  // The webviews' run lists follow the Runs view's scope (this workspace, or all).
  const snapshots = new RunSnapshots(store, manager, () => (tree.scopeAll ? undefined : d.workspaceKey));
  const actions = webviewActions(d, () => ({ panel, sidebar }));
  const panel = new ResultsPanel(context.extensionUri, snapshots, manager, actions, log);
  const sidebar = new SidebarView(context.extensionUri, snapshots, manager, actions, log);
  context.subscriptions.push(
    tree, treeView, panel, sidebar,
    vscode.window.registerWebviewViewProvider(SIDEBAR_VIEW_ID, sidebar),
    treeView.onDidChangeVisibility((e) => { if (e.visible) store.refresh(); }),
    store.onDidChange(() => tree.refresh()),
  );
  return { tree, snapshots, panel, sidebar };
}
