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
  OTHER_SETTINGS, SETTING_FIELDS, configFileLayer, demoModelPath, resolveOptionsAsync, settingsLayer, valuesLayer,
  type ConfigIssue, type LayerResult, type ResolveContext,
} from './configResolve';
import { JobManager, cleanInterrupted, newRunId } from './jobManager';
import { ProgressTracker, pct, type ProgressState } from './progress';
import { RunSnapshots } from './runSnapshots';
import { RunStore, type RunRecord } from './runStore';
import { RunsTree, inWorkspace } from './runsTree';
import { ResultsPanel, SIDEBAR_VIEW_ID, SidebarView, connectionsOf, type WebviewActions } from './webviews';

const CONFIG_FILE = 'trim.config.json';

let jobs: JobManager | null = null;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('TRIM', { log: true });
  const store = new RunStore(context.globalStorageUri.fsPath);
  const interrupted = store.recoverInterrupted();
  void cleanInterrupted(interrupted);
  for (const r of interrupted) log.warn(`run ${r.id} (${r.label}) was interrupted by a reload; its partial output was removed`);

  const workerPath = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const manager = new JobManager({ workerPath, store });
  jobs = manager;
  const snapshots = new RunSnapshots(store, manager);
  const trackers = new Map<string, ProgressTracker>();
  const progressOf = (id: string): ProgressState | undefined => trackers.get(id)?.state;
  const tree = new RunsTree(store, progressOf);
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

  /** The workspace's trim.config.json (as the editor has it, saved first when dirty), if any. */
  const configLayer = async (uri?: vscode.Uri): Promise<{ layer: LayerResult; uri: vscode.Uri } | null> => {
    const target = uri ?? (workspaceFolder() ? vscode.Uri.joinPath(workspaceFolder()!.uri, CONFIG_FILE) : undefined);
    if (!target || !existsSync(target.fsPath)) return null;
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
    else if (pick === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'trim.');
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
    const run = manager.submit({ options, outAuto, id, parent });
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
    const runs = store.list().filter(filter);
    if (runs.length === 0) {
      void vscode.window.showInformationMessage('TRIM: no run to choose from.');
      return undefined;
    }
    if (runs.length === 1) return runs[0];
    const item = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: r.label, description: r.status, detail: r.options.out, run: r })),
      { placeHolder },
    );
    return item?.run;
  };

  const pickModel = async (): Promise<string | undefined> => {
    const demo = demoModelPath(context.extensionPath);
    const recent = [...new Set(store.list().map((r) => r.options.model))].filter((m) => m !== demo && existsSync(m)).slice(0, 5);
    type Item = vscode.QuickPickItem & { model?: string; browse?: boolean };
    const items: Item[] = [
      { label: '$(beaker) Demo model', description: 'trim-demo-qwen2-small · Qwen2 · 6.8M parameters · shipped with the extension', model: demo },
      { label: '$(folder-opened) Choose a model folder…', description: 'config.json, *.safetensors, tokenizer.json', browse: true },
      ...recent.map((m) => ({ label: `$(history) ${path.basename(m)}`, description: m, model: m })),
    ];
    const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Which checkpoint should TRIM prune?' });
    if (!pick) return undefined;
    return pick.browse ? browseModel() : pick.model;
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
      if (next) await panel.open(next.id);
    },
    reveal: async (runId) => { await panel.open(runId); },
    cancel: async (runId) => { await manager.cancel(runId); },
  };
  const panel = new ResultsPanel(context.extensionUri, snapshots, manager, actions, log);
  const sidebar = new SidebarView(context.extensionUri, snapshots, manager, actions, log);

  // ----- job events → log, progress, views

  const notifications = new Map<string, { report(p: ProgressState): void }>();

  manager.on('output', (id, stream, line) => (stream === 'stderr' ? log.warn(`[${id}] ${line}`) : log.info(`[${id}] ${line}`)));
  manager.on('event', (id, e) => {
    logEvent(log, id, e);
    const state = trackers.get(id)?.update(e);
    if (state) notifications.get(id)?.report(state);
    tree.refresh(true);
    for (const c of connectionsOf(panel, sidebar)) c.event(id, e);
  });
  manager.on('change', (r) => {
    void vscode.commands.executeCommand('setContext', 'trim.busy', manager.busy);
    tree.refresh();
    for (const c of connectionsOf(panel, sidebar)) void c.runsChanged(r.id);
    if (r.status === 'running') {
      trackers.set(r.id, new ProgressTracker());
      showProgress(r);
    } else if (r.status === 'done' || r.status === 'failed' || r.status === 'cancelled') {
      trackers.delete(r.id);
      snapshots.forget(r.id);
      void announce(r);
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
      const pick = await vscode.window.showErrorMessage(`TRIM: ${r.label} failed: ${r.error?.message ?? 'unknown error'}`, 'Show Log', 'Re-run');
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
    else if (pick === 'Reveal Checkpoint') await revealOutput(r);
  };

  const revealOutput = async (r: RunRecord): Promise<void> => {
    const uri = vscode.Uri.file(r.options.out);
    if (!existsSync(r.options.out)) return void vscode.window.showWarningMessage(`TRIM: ${r.options.out} does not exist (any more).`);
    await vscode.commands.executeCommand(inWorkspace(r.options.out) ? 'revealInExplorer' : 'revealFileInOS', uri);
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
  command('trim.pruneDemo', () => startFromWorkspace({ model: demoModelPath(context.extensionPath) }));
  command('trim.pruneFolder', async () => {
    const model = await browseModel();
    if (model) await startFromWorkspace({ model });
  });
  command('trim.runConfig', async (arg) => {
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
    const run = runFromArg(arg) ?? await pickRun('Open the results of which run?', () => true);
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
  command('trim.revealOutput', async (arg) => {
    const run = runFromArg(arg) ?? await pickRun('Reveal the checkpoint of which run?', (r) => r.status === 'done');
    if (run) await revealOutput(run);
  });
  command('trim.openReport', async (arg) => {
    const run = runFromArg(arg) ?? await pickRun('Open the report of which run?', (r) => r.status === 'done');
    if (run?.reportPath) await vscode.window.showTextDocument(vscode.Uri.file(run.reportPath));
  });
  command('trim.removeRun', (arg) => {
    const run = runFromArg(arg);
    if (run && run.status !== 'running' && run.status !== 'queued') store.remove(run.id);
  });
  command('trim.showLog', () => log.show());

  // ----- trim.config.json CodeLens

  const lensProvider: vscode.CodeLensProvider = {
    provideCodeLenses: (doc) => {
      const top = new vscode.Range(0, 0, 0, 0);
      return [
        new vscode.CodeLens(top, { title: '$(play) Run TRIM with this file', command: 'trim.runConfig', arguments: [doc.uri] }),
        new vscode.CodeLens(top, { title: 'TRIM settings', command: 'workbench.action.openSettings', arguments: ['trim.'] }),
      ];
    },
  };

  context.subscriptions.push(
    log, tree, treeView, panel, sidebar,
    vscode.window.registerWebviewViewProvider(SIDEBAR_VIEW_ID, sidebar),
    vscode.languages.registerCodeLensProvider({ pattern: `**/${CONFIG_FILE}` }, lensProvider),
    treeView.onDidChangeVisibility((e) => { if (e.visible) store.refresh(); }),
    store.onDidChange(() => tree.refresh()),
  );
  void vscode.commands.executeCommand('setContext', 'trim.busy', false);
}

export async function deactivate(): Promise<void> {
  // Kill a running worker and remove its partial output before the host goes away.
  await jobs?.dispose();
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
