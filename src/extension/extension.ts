/**
 * The extension host side: commands, the Runs view, the two webviews, progress notifications and
 * the log. It never computes: jobs run in the worker process (JobManager), options are resolved by
 * configResolve, runs are kept by RunStore.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PruneOptions, TrimEvent } from '../contract';
import type { RunOverrides } from '../webviewProtocol';
import {
  OTHER_SETTINGS, SETTING_FIELDS, configFileLayer, demoModelPath, outputConfirmation, resolveOptionsAsync, settingsLayer, valuesLayer,
  type ConfigIssue, type LayerResult, type ResolveContext,
} from './configResolve';
import { JobManager, cleanInterrupted, hasCheckpoint, isInterrupted, newRunId } from './jobManager';
import { ProgressTracker, pct, type ProgressState } from './progress';
import { pickModel as pickModelFrom } from './modelPicker';
import { registerRunActions, workspaceKey } from './runActions';
import { pickItem } from './runLabels';
import { rerunCanHelp, SETTINGS_QUERY } from './rerun';
import { RunSnapshots } from './runSnapshots';
import { RunStore, type RunRecord } from './runStore';
import { RunsTree } from './runsTree';
import { ResultsPanel, SIDEBAR_VIEW_ID, SidebarView, connectionsOf, type WebviewActions } from './webviews';
import { GpuSupport } from './gpu';

const CONFIG_FILE = 'trim.config.json';

let jobs: JobManager | null = null;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('TRIM', { log: true });
  // A damaged runs list is set aside with a notice; it never stops the extension.
  const store = new RunStore(context.globalStorageUri.fsPath, undefined, (message) => {
    log.warn(message);
    void vscode.window.showWarningMessage(`TRIM: ${message}`);
  });
  const interrupted = store.recoverInterrupted();
  for (const { id, patch } of cleanInterrupted(interrupted)) store.update(id, patch);
  for (const r of interrupted) {
    const kept = hasCheckpoint(r.options.out);
    log.warn(`run ${r.id} (${r.label}) was interrupted by a reload; ${kept ? 'its finished blocks are kept for Resume' : 'what it left half-written was cleaned up'}`);
  }

  const workerPath = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const gpu = new GpuSupport(context, log);
  const manager = new JobManager({ workerPath, store, env: () => gpu.workerEnv() });
  jobs = manager;
  // The webviews' run lists follow the Runs view's scope (this workspace, or all).
  const snapshots = new RunSnapshots(store, manager, () => (tree.scopeAll ? undefined : wsKey));
  const trackers = new Map<string, ProgressTracker>();
  const progressOf = (id: string): ProgressState | undefined => trackers.get(id)?.state;
  const wsKey = workspaceKey();
  const tree = new RunsTree(store, progressOf, wsKey);
  const treeView = vscode.window.createTreeView('trim.runs', { treeDataProvider: tree, showCollapseAll: false });

  // ----- options

  const workspaceFolder = (): vscode.WorkspaceFolder | undefined => vscode.workspace.workspaceFolders?.[0];

  const readSettings = (): Record<string, unknown> => {
    const cfg = vscode.workspace.getConfiguration('trim', workspaceFolder());
    const out: Record<string, unknown> = {};
    for (const key of [...Object.keys(SETTING_FIELDS), ...OTHER_SETTINGS]) {
      const i = cfg.inspect(key);
      // Only values the user set: the defaults are the schema's (one source for both).
      const v = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
      if (v !== undefined) out[key] = v;
    }
    return out;
  };

  const resolveContext = (runId: string, settings: Record<string, unknown>): ResolveContext => ({
    extensionPath: context.extensionPath,
    workspaceFolder: workspaceFolder()?.uri.fsPath ?? null,
    outputFolder: typeof settings.outputFolder === 'string' && settings.outputFolder !== '' ? settings.outputFolder : null,
    storageDir: context.globalStorageUri.fsPath,
    runId,
  });

  /**
   * The workspace's trim.config.json (as the editor has it, saved first when dirty), if any. In
   * Restricted Mode (an untrusted workspace) it is not used: a file someone else wrote does not
   * choose what is read and written (package.json `capabilities.untrustedWorkspaces`).
   */
  const configLayer = async (uri?: vscode.Uri): Promise<{ layer: LayerResult; uri: vscode.Uri } | null> => {
    const target = uri ?? (workspaceFolder() ? vscode.Uri.joinPath(workspaceFolder()!.uri, CONFIG_FILE) : undefined);
    if (!target || !existsSync(target.fsPath)) return null;
    if (!vscode.workspace.isTrusted) {
      log.warn(`${CONFIG_FILE} is not used in Restricted Mode; trust the workspace to use it`);
      void vscode.window.showWarningMessage(`TRIM: ${CONFIG_FILE} is not used while the workspace is in Restricted Mode. Trust the workspace to use it.`, 'Manage Workspace Trust')
        .then((pick) => { if (pick) void vscode.commands.executeCommand('workbench.trust.manage'); });
      return null;
    }
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
    if (open?.isDirty) await open.save();
    const text = open ? open.getText() : Buffer.from(await vscode.workspace.fs.readFile(target)).toString('utf8');
    return { layer: configFileLayer(target.fsPath, text), uri: target };
  };

  const reportIssues = async (issues: ConfigIssue[], configUri: vscode.Uri | null): Promise<void> => {
    log.error(`the options are not valid:\n  ${issues.map(String).join('\n  ')}`);
    const first = String(issues[0]);
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more, see the log)` : '';
    const actions = [
      ...(configUri && issues.some((i) => i.source === CONFIG_FILE) ? ['Open trim.config.json'] : []),
      ...(issues.some((i) => i.source === 'settings') ? ['Open Settings'] : []),
      'Show Log',
    ];
    const pick = await vscode.window.showErrorMessage(`TRIM: ${first}${more}`, ...actions);
    if (pick === 'Open trim.config.json' && configUri) await vscode.window.showTextDocument(configUri);
    else if (pick === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', SETTINGS_QUERY);
    else if (pick === 'Show Log') log.show();
  };

  /** Resolves settings ← trim.config.json ← overrides and queues the job. */
  const startFromWorkspace = async (overrides: Partial<PruneOptions>, configUri?: vscode.Uri, overrideSource = 'command'): Promise<RunRecord | null> => {
    const runId = newRunId();
    const settings = readSettings();
    const cfg = await configLayer(configUri);
    const layers = [settingsLayer(settings, workspaceFolder()?.uri.fsPath ?? null)];
    if (cfg) layers.push(cfg.layer);
    layers.push(valuesLayer(overrideSource, overrides, workspaceFolder()?.uri.fsPath ?? null));
    const r = await resolveOptionsAsync(layers, resolveContext(runId, settings));
    if (!r.ok) {
      await reportIssues(r.issues, cfg?.uri ?? null);
      return null;
    }
    log.info(`options: ${Object.entries(r.sources).filter(([, s]) => s !== 'default').map(([k, s]) => `${k} from ${s}`).join(', ') || 'all defaults'}`);
    // A workspace file may not aim the output outside the workspace without the user's yes.
    const of = vscode.workspace.getConfiguration('trim', workspaceFolder()).inspect('outputFolder');
    const question = outputConfirmation(
      r, (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath), CONFIG_FILE,
      of?.workspaceFolderValue !== undefined || of?.workspaceValue !== undefined,
    );
    if (question) {
      const yes = await vscode.window.showWarningMessage(`TRIM: ${question}`, { modal: true }, 'Write There');
      if (yes !== 'Write There') {
        log.info(`not started: the output ${r.options.out} is outside the workspace and was not confirmed`);
        return null;
      }
    }
    return submit(r.options, r.outAuto, runId, null);
  };

  /** Runs a past run again with overrides (panel "Run again", Re-run). */
  const startFromRun = async (run: RunRecord, overrides: RunOverrides, source: string): Promise<RunRecord | null> => {
    const runId = newRunId();
    const { out, ...rest } = run.options;
    const base: Record<string, unknown> = run.outAuto ? rest : { ...rest, out };
    // "Run again" with a new target and no explicit per-block targets clears the old ones.
    const extra: Record<string, unknown> = { ...overrides };
    if (overrides.sparsity !== undefined && overrides.blockSparsity === undefined && run.options.blockSparsity) extra.blockSparsity = null;
    const settings = readSettings();
    const r = await resolveOptionsAsync(
      [valuesLayer(`run ${run.label}`, base, null), valuesLayer(source, extra, null)],
      resolveContext(runId, settings),
    );
    if (!r.ok) {
      await reportIssues(r.issues, null);
      return null;
    }
    return submit(r.options, r.outAuto, runId, run.id);
  };

  const submit = (options: PruneOptions, outAuto: boolean, id: string, parent: string | null): RunRecord => {
    const run = manager.submit({ options, outAuto, id, parent, workspace: wsKey });
    log.info(`queued ${run.id}: ${run.label} → ${options.out}`);
    if (manager.activeId !== run.id) {
      void vscode.window.showInformationMessage(`TRIM: ${run.label} is queued behind the running job.`);
    }
    void sidebar.select(run.id);
    return run;
  };

  // ----- picking

  const runFromArg = (arg: unknown): RunRecord | undefined => {
    if (typeof arg === 'string') return store.get(arg);
    if (arg && typeof arg === 'object' && 'id' in arg && typeof (arg as RunRecord).id === 'string') return store.get((arg as RunRecord).id);
    return undefined;
  };

  const pickRun = async (placeHolder: string, filter: (r: RunRecord) => boolean): Promise<RunRecord | undefined> => {
    const runs = store.list(tree.scopeAll ? undefined : wsKey).filter(filter);
    if (runs.length === 0) {
      void vscode.window.showInformationMessage('TRIM: no run to choose from.');
      return undefined;
    }
    if (runs.length === 1) return runs[0];
    const item = await vscode.window.showQuickPick(
      runs.map((r) => ({ ...pickItem(r), run: r })),
      { placeHolder, matchOnDescription: true, matchOnDetail: true },
    );
    return item?.run;
  };

  const pickModel = async (): Promise<string | undefined> => {
    const demo = demoModelPath(context.extensionPath);
    const recent = [...new Set(store.list(wsKey).map((r) => r.options.model))].filter((m) => m !== demo && existsSync(m)).slice(0, 5);
    // The demo, a folder, the Hugging Face cache, a download by model id (modelPicker.ts).
    return pickModelFrom({ demo, recent, browse: () => browseModel(), log });
  };

  const browseModel = async (): Promise<string | undefined> => {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true, canSelectFiles: false, canSelectMany: false,
      openLabel: 'Prune this model', title: 'A Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)',
      defaultUri: workspaceFolder()?.uri,
    });
    return picked?.[0]?.fsPath;
  };

  // ----- webviews

  const actions: WebviewActions = {
    runAgain: async (runId, overrides) => {
      const run = store.get(runId);
      if (!run) return void vscode.window.showWarningMessage('TRIM: that run is no longer in the Runs list.');
      const next = await startFromRun(run, overrides, 'Run again');
      // The new run opens beside the one it came from, ready to compare.
      if (next) await panel.open(next.id, undefined, run.id);
    },
    reveal: async (runId, block, layer) => { await panel.open(runId, { block, layer }); },
    cancel: async (runId) => { await manager.cancel(runId); },
    shown: (runId) => { void sidebar.select(runId); },
  };
  const panel = new ResultsPanel(context.extensionUri, snapshots, manager, actions, log);
  const sidebar = new SidebarView(context.extensionUri, snapshots, manager, actions, log);

  // ----- job events → log, progress, views

  const notifications = new Map<string, { report(p: ProgressState): void }>();

  manager.on('output', (id, stream, line) => (stream === 'stderr' ? log.warn(`[${id}] ${line}`) : log.info(`[${id}] ${line}`)));
  manager.on('event', (id, e) => {
    logEvent(log, id, e);
    gpu.onEvent(e);
    const state = trackers.get(id)?.update(e);
    if (state) notifications.get(id)?.report(state);
    tree.refresh(true);
    for (const c of connectionsOf(panel, sidebar)) c.event(id, e);
  });
  manager.on('change', (r) => {
    void vscode.commands.executeCommand('setContext', 'trim.busy', manager.busy);
    if (!manager.busy) gpu.idle();
    tree.refresh();
    for (const c of connectionsOf(panel, sidebar)) void c.runsChanged(r.id);
    if (r.status === 'running') {
      trackers.set(r.id, new ProgressTracker());
      showProgress(r);
    } else if (r.status === 'done' || r.status === 'failed' || r.status === 'cancelled') {
      trackers.delete(r.id);
      snapshots.forget(r.id);
      // An interrupted run (the host goes away) is offered for Resume by the next host.
      if (!isInterrupted(r)) void announce(r);
    }
  });

  const showProgress = (r: RunRecord): void => {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `TRIM: ${r.label}`, cancellable: true },
      (progress, token) => new Promise<void>((resolve) => {
        let shown = 0;
        notifications.set(r.id, {
          report: (p) => {
            const increment = Math.max(0, p.fraction * 100 - shown);
            shown += increment;
            progress.report({ message: p.message, increment });
          },
        });
        token.onCancellationRequested(() => {
          log.info(`cancelling ${r.id}`);
          void manager.cancel(r.id);
        });
        void manager.whenFinished(r.id).then(() => { notifications.delete(r.id); resolve(); });
      }),
    );
  };

  const announce = async (r: RunRecord): Promise<void> => {
    if (r.status === 'cancelled') {
      log.info(`${r.id} cancelled; nothing half-written remains`);
      vscode.window.setStatusBarMessage(`TRIM: ${r.label} cancelled`, 5000);
      return;
    }
    if (r.status === 'failed') {
      log.error(`${r.id} failed: ${r.error?.code}: ${r.error?.message}`);
      // Re-run only where the same options could pass (rerun.ts); else the message says what to change.
      const pick = await vscode.window.showErrorMessage(`TRIM: ${r.label} failed: ${r.error?.message ?? 'unknown error'}`, 'Show Log', ...(rerunCanHelp(r.error) ? ['Re-run'] : []));
      if (pick === 'Show Log') log.show();
      else if (pick === 'Re-run') await startFromRun(r, {}, 'Re-run');
      return;
    }
    const s = r.summary;
    const detail = s
      ? `${pct(s.sparsity)} sparse${s.perplexity !== null ? `, perplexity ${s.densePerplexity?.toFixed(2) ?? '–'} → ${s.perplexity.toFixed(2)}` : ''} (${s.ep.toUpperCase()}, ${s.seconds.toFixed(1)} s)`
      : 'done';
    log.info(`${r.id} done: ${detail} → ${r.options.out}`);
    const pick = await vscode.window.showInformationMessage(`TRIM: pruned ${r.label}: ${detail}.`, 'Open Results', 'Reveal Checkpoint');
    if (pick === 'Open Results') await panel.open(r.id);
    else if (pick === 'Reveal Checkpoint') await vscode.commands.executeCommand('trim.revealOutput', r.id);
  };

  // ----- commands

  const command = (id: string, fn: (...args: unknown[]) => unknown): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        await fn(...args);
      } catch (e) {
        log.error(`${id}: ${(e as Error).stack ?? e}`);
        void vscode.window.showErrorMessage(`TRIM: ${(e as Error).message}`);
      }
    }));
  };

  command('trim.setupGpu', () => gpu.setup());
  command('trim.checkGpu', () => gpu.check());

  command('trim.pruneModel', async (arg) => {
    // A model given by the caller (a URI of a folder, or {model}) or by trim.config.json is
    // used as is; otherwise the user picks one.
    let model: string | undefined;
    if (arg instanceof vscode.Uri) model = arg.fsPath;
    else if (arg && typeof arg === 'object' && typeof (arg as { model?: unknown }).model === 'string') model = (arg as { model: string }).model;
    if (!model) {
      const cfg = await configLayer();
      const fromConfig = cfg?.layer.layer?.values.model;
      if (typeof fromConfig !== 'string') {
        model = await pickModel();
        if (!model) return;
      }
    }
    await startFromWorkspace(model ? { model } : {});
  });
  command('trim.pruneDemo', () => startFromWorkspace({ model: demoModelPath(context.extensionPath), trim: true }));
  command('trim.pruneFolder', async () => {
    const model = await browseModel();
    if (model) await startFromWorkspace({ model });
  });
  command('trim.runConfig', async (arg) => {
    if (!vscode.workspace.isTrusted) {
      const pick = await vscode.window.showWarningMessage(`TRIM: ${CONFIG_FILE} is not run while the workspace is in Restricted Mode. Trust the workspace to run it.`, 'Manage Workspace Trust');
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
    await startFromWorkspace({}, uri, CONFIG_FILE);
  });
  command('trim.createConfig', async () => {
    const ws = workspaceFolder();
    if (!ws) return void vscode.window.showWarningMessage(`TRIM: open a folder first; ${CONFIG_FILE} lives in the workspace.`);
    const uri = vscode.Uri.joinPath(ws.uri, CONFIG_FILE);
    if (!existsSync(uri.fsPath)) {
      const starter = { sparsity: 0.7, trim: true, iterations: 10, allocation: 'uniform', score: 'wanda', nsamples: 128 };
      await vscode.workspace.fs.writeFile(uri, Buffer.from(`${JSON.stringify(starter, null, 2)}\n`));
    }
    await vscode.window.showTextDocument(uri);
  });
  command('trim.selectRun', async (arg) => {
    const run = runFromArg(arg);
    if (run) await sidebar.select(run.id);
  });
  command('trim.openResults', async (arg) => {
    const run = runFromArg(arg) ?? await pickRun('Open the results of which run?', (r) => r.status !== 'done' || (!!r.reportPath && existsSync(r.reportPath)));
    if (run) await panel.open(run.id);
  });
  command('trim.cancelRun', async (arg) => {
    const run = runFromArg(arg)
      ?? (manager.activeId && manager.queued.length === 0 ? store.get(manager.activeId) : undefined)
      ?? await pickRun('Cancel which run?', (r) => r.status === 'running' || r.status === 'queued');
    if (!run) return;
    if (!await manager.cancel(run.id)) void vscode.window.showInformationMessage(`TRIM: ${run.label} is not running.`);
  });
  command('trim.rerun', async (arg) => {
    const run = runFromArg(arg) ?? await pickRun('Run which run again?', (r) => r.status !== 'running' && r.status !== 'queued');
    if (run) await startFromRun(run, {}, 'Re-run');
  });
  command('trim.showLog', () => log.show());
  // Open from a row, Resume, checkpoint actions, Explorer "Prune with TRIM", workspace scope.
  registerRunActions({
    context, store, manager, tree, panel, sidebar, log, workspaceKey: wsKey, command, runFromArg,
    startFromWorkspace: (overrides) => startFromWorkspace(overrides),
  });

  // ----- trim.config.json CodeLens

  const lensProvider: vscode.CodeLensProvider = {
    provideCodeLenses: (doc) => {
      const top = new vscode.Range(0, 0, 0, 0);
      return [
        new vscode.CodeLens(top, { title: '$(play) Run TRIM with this file', command: 'trim.runConfig', arguments: [doc.uri] }),
        new vscode.CodeLens(top, { title: 'TRIM settings', command: 'workbench.action.openSettings', arguments: [SETTINGS_QUERY] }),
      ];
    },
  };

  context.subscriptions.push(
    log, tree, treeView, panel, sidebar, gpu,
    vscode.window.registerWebviewViewProvider(SIDEBAR_VIEW_ID, sidebar),
    vscode.languages.registerCodeLensProvider({ pattern: `**/${CONFIG_FILE}` }, lensProvider),
    treeView.onDidChangeVisibility((e) => { if (e.visible) store.refresh(); }),
    store.onDidChange(() => tree.refresh()),
  );
  void vscode.commands.executeCommand('setContext', 'trim.busy', false);
}

export async function deactivate(): Promise<void> {
  // The host goes away (reload, window closed): the running worker is ended and its run marked
  // interrupted, its finished blocks kept for Resume (not reported as a cancel).
  await jobs?.interrupt();
  jobs = null;
}

function logEvent(log: vscode.LogOutputChannel, id: string, e: TrimEvent): void {
  switch (e.type) {
    case 'start':
      log.info(`[${id}] ${e.model.architecture} (${e.model.blocks} blocks, ${e.model.parameters.toLocaleString()} parameters) on ${e.ep.toUpperCase()}`);
      if (e.epNotice) log.warn(`[${id}] ${e.epNotice}`);
      break;
    case 'phase':
      log.info(`[${id}] ${e.phase}: ${e.message}`);
      break;
    case 'block_end':
      log.info(`[${id}] block ${e.block + 1}/${e.blocks}: target ${pct(e.report.target)}, achieved ${pct(e.report.achieved)} (${(e.report.seconds.statistics + e.report.seconds.prune + e.report.seconds.propagate).toFixed(2)} s)`);
      break;
    case 'eval':
      log.info(`[${id}] perplexity (${e.which}): ${e.result.perplexity.toFixed(3)} over ${e.result.windows} windows of ${e.result.seqlen}`);
      break;
    case 'log':
      if (e.level === 'warn') log.warn(`[${id}] ${e.message}`);
      else log.info(`[${id}] ${e.message}`);
      break;
    case 'error':
      log.error(`[${id}] ${e.error.code}: ${e.error.message}`);
      break;
    case 'done':
      log.info(`[${id}] done`);
      break;
    default:
      break; // progress, block_start, layer: too many for the log
  }
}
