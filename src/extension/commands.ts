/**
 * The palette's and the views' commands (ids and `when` clauses in package.json): prune a model,
 * the demo or a folder, run or create trim.config.json, open, select, cancel and re-run runs, the
 * log and the GPU setup; the run and checkpoint actions are in runActions.ts.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULTS, demoModelPath } from './configResolve';
import type { GpuSupport } from './gpu';
import type { JobManager } from './jobManager';
import { CONFIG_FILE, workspaceFolder, type Launcher } from './launch';
import type { Pickers } from './pickers';
import { registerRunActions } from './runActions';
import type { RunStore } from './runStore';
import type { RunsTree } from './runsTree';
import type { ResultsPanel, SidebarView } from './webviews';

export interface CommandsDeps {
  store: RunStore;
  manager: JobManager;
  launcher: Launcher;
  pickers: Pickers;
  tree: RunsTree;
  panel: ResultsPanel;
  sidebar: SidebarView;
  gpu: GpuSupport;
  log: vscode.LogOutputChannel;
  workspaceKey: string;
}

export function registerCommands(context: vscode.ExtensionContext, d: CommandsDeps): void {
  const { store, manager, launcher, pickers, panel, sidebar, gpu, log } = d;
  const { runFromArg, pickRun } = pickers;

  /** Registers a command whose errors go to the log and an error message, never unhandled. */
  const command = (id: string, fn: (...args: unknown[]) => unknown): void => {
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          await fn(...args);
        } catch (e) {
          log.error(`${id}: ${(e as Error).stack ?? e}`);
          void vscode.window.showErrorMessage(`TRIM: ${(e as Error).message}`);
        }
      }),
    );
  };

  command('trim.setupGpu', () => gpu.setup());
  command('trim.checkGpu', () => gpu.check());

  command('trim.pruneModel', async (arg) => {
    // A model given by the caller (a URI of a folder, or {model}) or by trim.config.json is
    // used as is; otherwise the user picks one.
    let model: string | undefined;
    if (arg instanceof vscode.Uri) model = arg.fsPath;
    else if (arg && typeof arg === 'object' && typeof (arg as { model?: unknown }).model === 'string')
      model = (arg as { model: string }).model;
    if (!model) {
      const cfg = await launcher.configLayer();
      const fromConfig = cfg?.layer.layer?.values.model;
      if (typeof fromConfig !== 'string') {
        model = await pickers.pickModel();
        if (!model) return;
      }
    }
    await launcher.startFromWorkspace(model ? { model } : {});
  });
  command('trim.pruneDemo', () => launcher.startFromWorkspace({ model: demoModelPath(context.extensionPath), trim: true }));
  command('trim.pruneFolder', async () => {
    const model = await pickers.browseModel();
    if (model) await launcher.startFromWorkspace({ model });
  });
  command('trim.runConfig', async (arg) => {
    if (!vscode.workspace.isTrusted) {
      const pick = await vscode.window.showWarningMessage(
        `TRIM: ${CONFIG_FILE} is not run while the workspace is in Restricted Mode. Trust the workspace to run it.`,
        'Manage Workspace Trust',
      );
      if (pick) await vscode.commands.executeCommand('workbench.trust.manage');
      return;
    }
    let uri = arg instanceof vscode.Uri ? arg : undefined;
    const active = vscode.window.activeTextEditor?.document.uri;
    if (!uri && active && path.basename(active.fsPath) === CONFIG_FILE) uri = active;
    if (!uri && !(workspaceFolder() && existsSync(path.join(workspaceFolder()!.uri.fsPath, CONFIG_FILE)))) {
      const pick = await vscode.window.showInformationMessage(`TRIM: this workspace has no ${CONFIG_FILE}.`, `Create ${CONFIG_FILE}`);
      if (pick) await vscode.commands.executeCommand('trim.createConfig');
      return;
    }
    await launcher.startFromWorkspace({}, uri, CONFIG_FILE);
  });
  command('trim.createConfig', async () => {
    const ws = workspaceFolder();
    if (!ws) return void vscode.window.showWarningMessage(`TRIM: open a folder first; ${CONFIG_FILE} lives in the workspace.`);
    const uri = vscode.Uri.joinPath(ws.uri, CONFIG_FILE);
    if (!existsSync(uri.fsPath)) {
      // The schema's defaults, TRIM on: the options a user is most likely to change.
      const { sparsity, iterations, allocation, score, nsamples } = DEFAULTS;
      const starter = { sparsity, trim: true, iterations, allocation, score, nsamples };
      await vscode.workspace.fs.writeFile(uri, Buffer.from(`${JSON.stringify(starter, null, 2)}\n`));
    }
    await vscode.window.showTextDocument(uri);
  });
  command('trim.selectRun', async (arg) => {
    const run = runFromArg(arg);
    if (run) await sidebar.select(run.id);
  });
  command('trim.openResults', async (arg) => {
    const run =
      runFromArg(arg) ??
      (await pickRun('Open the results of which run?', (r) => r.status !== 'done' || (!!r.reportPath && existsSync(r.reportPath))));
    if (run) await panel.open(run.id);
  });
  command('trim.cancelRun', async (arg) => {
    const run =
      runFromArg(arg) ??
      (manager.activeId && manager.queued.length === 0 ? store.get(manager.activeId) : undefined) ??
      (await pickRun('Cancel which run?', (r) => r.status === 'running' || r.status === 'queued'));
    if (!run) return;
    if (!(await manager.cancel(run.id))) void vscode.window.showInformationMessage(`TRIM: ${run.label} is not running.`);
  });
  command('trim.rerun', async (arg) => {
    const run = runFromArg(arg) ?? (await pickRun('Run which run again?', (r) => r.status !== 'running' && r.status !== 'queued'));
    if (run) await launcher.startFromRun(run, {}, 'Re-run');
  });
  command('trim.showLog', () => log.show());
  // Open from a row, Resume, checkpoint actions, Explorer "Prune with TRIM", workspace scope.
  registerRunActions({
    context,
    store,
    manager,
    tree: d.tree,
    panel,
    sidebar,
    log,
    workspaceKey: d.workspaceKey,
    command,
    runFromArg,
    pickRun,
    startFromWorkspace: (overrides) => launcher.startFromWorkspace(overrides),
  });
}
