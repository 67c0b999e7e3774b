/**
 * The extension host side: it only wires. Commands (commands.ts, runActions.ts), pickers
 * (pickers.ts), starting jobs (launch.ts), job notifications (notifications.ts), the views
 * (views.ts, webviews.ts) and the trim.config.json CodeLens (codeLens.ts) are set up here with
 * what they need. It never computes: jobs run in the worker process (JobManager), options are
 * resolved by configResolve, runs are kept by RunStore.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { registerConfigCodeLens } from './codeLens';
import { registerCommands } from './commands';
import { GpuSupport } from './gpu';
import { JobManager, cleanInterrupted, hasCheckpoint } from './jobManager';
import { Launcher } from './launch';
import { registerJobNotifications } from './notifications';
import { createPickers } from './pickers';
import type { ProgressTracker } from './progress';
import { workspaceKey } from './runActions';
import { RunStore } from './runStore';
import { createViews } from './views';

let jobs: JobManager | null = null;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('TRIM', { log: true });
  context.subscriptions.push(log);
  // A damaged runs list is set aside with a notice; it never stops the extension.
  const store = new RunStore(context.globalStorageUri.fsPath, undefined, (message) => {
    log.warn(message);
    void vscode.window.showWarningMessage(`TRIM: ${message}`);
  });
  const interrupted = store.recoverInterrupted();
  for (const { id, patch } of cleanInterrupted(interrupted)) store.update(id, patch);
  for (const r of interrupted) {
    const kept = hasCheckpoint(r.options.out);
    log.warn(
      `run ${r.id} (${r.label}) was interrupted by a reload; ${kept ? 'its finished blocks are kept for Resume' : 'what it left half-written was cleaned up'}`,
    );
  }

  const workerPath = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const gpu = new GpuSupport(context, log);
  context.subscriptions.push(gpu);
  const manager = new JobManager({ workerPath, store, env: () => gpu.workerEnv() });
  jobs = manager;
  const wsKey = workspaceKey();
  const trackers = new Map<string, ProgressTracker>();

  // A queued run is shown in the sidebar (views exist by the time a run can be queued).
  const launcher = new Launcher({ context, manager, log, workspaceKey: wsKey, onQueued: (r) => void views.sidebar.select(r.id) });
  const views = createViews(context, { store, manager, launcher, log, workspaceKey: wsKey, progressOf: (id) => trackers.get(id)?.state });
  const { tree, snapshots, panel, sidebar } = views;
  const pickers = createPickers({ extensionPath: context.extensionPath, store, tree, workspaceKey: wsKey, log });

  registerJobNotifications({
    manager,
    log,
    gpu,
    tree,
    panel,
    sidebar,
    snapshots,
    trackers,
    startFromRun: (r, o, s) => launcher.startFromRun(r, o, s),
  });
  registerCommands(context, { store, manager, launcher, pickers, tree, panel, sidebar, gpu, log, workspaceKey: wsKey });
  registerConfigCodeLens(context);
  void vscode.commands.executeCommand('setContext', 'trim.busy', false);
}

export async function deactivate(): Promise<void> {
  // The host goes away (reload, window closed): the running worker is ended and its run marked
  // interrupted, its finished blocks kept for Resume (not reported as a cancel).
  await jobs?.interrupt();
  jobs = null;
}
