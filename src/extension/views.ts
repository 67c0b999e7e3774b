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
import { webviewActions } from './webviewConnection';
import { ResultsPanel, SIDEBAR_VIEW_ID, SidebarView } from './webviews';

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

export function createViews(context: vscode.ExtensionContext, d: ViewsDeps): Views {
  const { store, manager, log } = d;
  const tree = new RunsTree(store, d.progressOf, d.workspaceKey);
  const treeView = vscode.window.createTreeView('trim.runs', { treeDataProvider: tree, showCollapseAll: false });
  // The webviews' run lists follow the Runs view's scope (this workspace, or all).
  const snapshots = new RunSnapshots(store, manager, () => (tree.scopeAll ? undefined : d.workspaceKey));
  const actions = webviewActions({ ...d, warn: (m) => void vscode.window.showWarningMessage(m) }, () => ({ panel, sidebar }));
  const panel = new ResultsPanel(context.extensionUri, snapshots, manager, actions, log);
  const sidebar = new SidebarView(context.extensionUri, snapshots, manager, actions, log);
  context.subscriptions.push(
    tree,
    treeView,
    panel,
    sidebar,
    vscode.window.registerWebviewViewProvider(SIDEBAR_VIEW_ID, sidebar),
    treeView.onDidChangeVisibility((e) => {
      if (e.visible) store.refresh();
    }),
    store.onDidChange(() => tree.refresh()),
  );
  return { tree, snapshots, panel, sidebar };
}
