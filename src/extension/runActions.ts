/**
 * What one can do with a run and its checkpoint, beside starting it: open it from its row, resume
 * it after a reload, reveal / copy / delete / evaluate the pruned checkpoint, remove it from the
 * list, prune a folder from the Explorer, and keep the Runs list per workspace. Registered by
 * extension.ts; the decisions that need no editor live in jobManager.ts, runLabels.ts and
 * evalRunner.ts.
 */
import { existsSync, promises as fsp, readFileSync, unwatchFile, watchFile } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { partialDirFor, type EvalOptions, type PruneOptions } from '../contract';
import { startEval } from './evalRunner';
import { RESUME_DIR, canResume, cleanInterrupted, hasCheckpoint, isInterrupted, newRunId, type JobManager } from './jobManager';
import type { RunRecord, RunStore } from './runStore';
import type { RunsTree } from './runsTree';
import { inWorkspace } from './runsTree';
import type { ResultsPanel, SidebarView } from './webviews';

export interface RunActionsDeps {
  context: vscode.ExtensionContext;
  store: RunStore;
  manager: JobManager;
  tree: RunsTree;
  panel: ResultsPanel;
  sidebar: SidebarView;
  log: vscode.LogOutputChannel;
  workspaceKey: string;
  /** Registers a command with the extension's error handling. */
  command(id: string, fn: (...args: unknown[]) => unknown): void;
  /** Resolves settings ← trim.config.json ← overrides and queues the job (extension.ts). */
  startFromWorkspace(overrides: Partial<PruneOptions>): Promise<RunRecord | null>;
  runFromArg(arg: unknown): RunRecord | undefined;
  /** The one run in the Runs view's scope that passes `filter`, or the one the user picks (pickers.ts). */
  pickRun(placeHolder: string, filter: (r: RunRecord) => boolean): Promise<RunRecord | undefined>;
}

/** The key of the window's workspace: its .code-workspace file, else its first folder, else ''. */
export function workspaceKey(): string {
  return vscode.workspace.workspaceFile?.toString() ?? vscode.workspace.workspaceFolders?.[0]?.uri.toString() ?? '';
}

/** Blocks kept in an interrupted run's checkpoint (state.json's nextBlock), or null. */
export function finishedBlocks(r: RunRecord): number | null {
  try {
    const s = JSON.parse(readFileSync(path.join(partialDirFor(r.options.out), RESUME_DIR, 'state.json'), 'utf8')) as {
      nextBlock?: unknown;
    };
    return typeof s.nextBlock === 'number' ? s.nextBlock : null;
  } catch {
    return null;
  }
}

/** Bytes under a folder (files only, links not followed). */
async function folderSize(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await folderSize(p);
    else if (e.isFile()) n += (await fsp.stat(p)).size;
  }
  return n;
}

export const bytes = (n: number): string =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(1)} GB`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(1)} MB`
      : `${Math.max(1, Math.round(n / 1024))} KB`;

export function registerRunActions(d: RunActionsDeps): void {
  const { store, manager, tree, panel, sidebar, log, command } = d;

  // ----- the Runs list: per workspace, and what changes in another window or host

  void vscode.commands.executeCommand('setContext', 'trim.allWorkspaces', false);
  command('trim.showAllWorkspaces', async () => {
    tree.setScope(undefined);
    await vscode.commands.executeCommand('setContext', 'trim.allWorkspaces', true);
  });
  command('trim.showThisWorkspace', async () => {
    tree.setScope(d.workspaceKey);
    await vscode.commands.executeCommand('setContext', 'trim.allWorkspaces', false);
  });
  // Another window, or the extension host this one replaced (a reload), may change the list
  // after this host read it: e.g. the old host marks its run interrupted as it goes.
  const file = store.file;
  const listener = (): void => store.refresh();
  watchFile(file, { interval: 1000 }, listener);
  // A run of another extension host (the one this window replaced, or another window) whose host
  // ended without marking it (killed, crashed) is interrupted: found here, not only at activation.
  const sweep = setInterval(() => {
    if (!store.list().some((r) => (r.status === 'running' || r.status === 'queued') && r.hostPid !== process.pid)) return;
    const found = store.recoverInterrupted();
    for (const { id, patch } of cleanInterrupted(found)) store.update(id, patch);
  }, 10_000);
  d.context.subscriptions.push({
    dispose: () => {
      unwatchFile(file, listener);
      clearInterval(sweep);
    },
  });

  /** A run of the list: the argument, else the user's pick among those that pass `filter` (pickers.ts). */
  const pick = async (arg: unknown, placeHolder: string, filter: (r: RunRecord) => boolean): Promise<RunRecord | undefined> =>
    d.runFromArg(arg) ?? (await d.pickRun(placeHolder, filter));
  const outExists = (r: RunRecord): boolean => r.status === 'done' && existsSync(r.options.out);

  // ----- a row: click or Enter opens the results

  command('trim.openRunRow', async (arg) => {
    const run = d.runFromArg(arg);
    if (!run) return;
    await sidebar.select(run.id);
    await panel.open(run.id);
  });

  // ----- resume after a reload (or a cancelled resumed run)

  const resume = async (run: RunRecord): Promise<void> => {
    const r = manager.resume(run.id);
    log.info(`resuming ${r.id} (${r.label}) from its checkpoint in ${partialDirFor(r.options.out)}`);
    await sidebar.select(r.id);
  };
  command('trim.resumeRun', async (arg) => {
    const run = await pick(arg, 'Resume which run?', canResume);
    if (run) await resume(run);
  });

  /** Offers Resume for runs that a reload interrupted moments ago. */
  const offered = new Set<string>();
  const offerResume = (r: RunRecord): void => {
    if (offered.has(r.id)) return;
    offered.add(r.id);
    const blocks = finishedBlocks(r);
    const kept = blocks ? `; its ${blocks} finished block${blocks === 1 ? ' is' : 's are'} kept` : '';
    void vscode.window
      .showWarningMessage(`TRIM: ${r.label} was interrupted when VS Code reloaded or closed${kept}.`, 'Resume', 'Discard')
      .then(async (choice) => {
        if (choice === 'Resume' && canResume(store.get(r.id) ?? r)) await resume(r);
        else if (choice === 'Discard')
          await fsp.rm(partialDirFor(r.options.out), { recursive: true, force: true }).then(() => tree.refresh());
      });
  };
  const recent = (r: RunRecord): boolean => r.finishedAt !== null && Date.now() - Date.parse(r.finishedAt) < 10 * 60_000;
  const scanInterrupted = (): void => {
    for (const r of store.list(d.workspaceKey)) if (isInterrupted(r) && recent(r) && canResume(r)) offerResume(r);
  };
  scanInterrupted();
  d.context.subscriptions.push(store.onDidChange(scanInterrupted));

  // ----- the checkpoint

  const revealOutput = async (r: RunRecord): Promise<void> => {
    const out = r.options.out;
    if (!existsSync(out)) return void vscode.window.showWarningMessage(`TRIM: ${out} does not exist (any more).`);
    const uri = vscode.Uri.file(out);
    if (inWorkspace(out)) return void (await vscode.commands.executeCommand('revealInExplorer', uri));
    // The OS's file manager exists only beside a desktop window on this machine; remote and web
    // windows get the path (copied) and the folder in a new window.
    if (vscode.env.uiKind === vscode.UIKind.Desktop && vscode.env.remoteName === undefined) {
      return void (await vscode.commands.executeCommand('revealFileInOS', uri));
    }
    const copied = await vscode.env.clipboard.writeText(out).then(
      () => true,
      () => false,
    );
    const choice = await vscode.window.showInformationMessage(
      `TRIM: the checkpoint is at ${out}, outside this workspace${copied ? ' (path copied)' : ''}.`,
      'Open in New Window',
      ...(copied ? [] : ['Copy Path']),
    );
    if (choice === 'Open in New Window') await vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: true });
    else if (choice === 'Copy Path') await copyPath(r);
  };
  const copyPath = async (r: RunRecord): Promise<void> => {
    await vscode.env.clipboard.writeText(r.options.out);
    void vscode.window.showInformationMessage(`TRIM: copied ${r.options.out}`);
  };
  command('trim.revealOutput', async (arg) => {
    const run = await pick(arg, 'Reveal the checkpoint of which run?', outExists);
    if (run) await revealOutput(run);
  });
  command('trim.copyOutputPath', async (arg) => {
    const run = await pick(arg, 'Copy the checkpoint path of which run?', outExists);
    if (run) await copyPath(run);
  });
  command('trim.openReport', async (arg) => {
    const run = await pick(arg, 'Open the report of which run?', (r) => outExists(r) && !!r.reportPath && existsSync(r.reportPath));
    if (run?.reportPath) await vscode.window.showTextDocument(vscode.Uri.file(run.reportPath));
  });

  command('trim.deleteCheckpoint', async (arg) => {
    const run = await pick(arg, 'Delete the pruned checkpoint of which run?', outExists);
    if (!run) return;
    const out = run.options.out;
    if (!existsSync(out)) return void vscode.window.showWarningMessage(`TRIM: ${out} does not exist (any more).`);
    // Only a folder that is recognisably a TRIM output: never a source model or anything else.
    if (!existsSync(path.join(out, 'trim-report.json'))) {
      return void vscode.window.showErrorMessage(
        `TRIM: ${out} holds no trim-report.json, so it is not a checkpoint TRIM wrote; it was not deleted.`,
      );
    }
    const size = await folderSize(out).catch(() => null);
    const ok = await vscode.window.showWarningMessage(
      `Delete the pruned checkpoint of ${run.label}?`,
      {
        modal: true,
        detail: `${out}${size !== null ? ` (${bytes(size)})` : ''} is removed from disk and the run from the Runs list. This cannot be undone.`,
      },
      'Delete',
    );
    if (ok !== 'Delete') return;
    await fsp.rm(out, { recursive: true, force: true });
    await fsp.rm(partialDirFor(out), { recursive: true, force: true });
    store.remove(run.id);
    log.info(`deleted ${out} and removed run ${run.id} (${run.label})`);
    void vscode.window.showInformationMessage(`TRIM: deleted ${out}${size !== null ? ` (${bytes(size)})` : ''}.`);
  });

  command('trim.removeRun', async (arg) => {
    const run = await pick(arg, 'Remove which run from the list?', (r) => r.status !== 'running' && r.status !== 'queued');
    if (!run || run.status === 'running' || run.status === 'queued') return;
    const checkpoint = hasCheckpoint(run.options.out);
    const stays =
      run.status === 'done' && existsSync(run.options.out)
        ? `The pruned checkpoint stays on disk: ${run.options.out} (use Delete Checkpoint to remove it).`
        : 'Nothing of it is on disk.';
    const detail = checkpoint
      ? `The kept blocks of the interrupted run (${partialDirFor(run.options.out)}) are deleted: it can no longer be resumed.`
      : stays;
    const ok = await vscode.window.showWarningMessage(`Remove ${run.label} from Runs?`, { modal: true, detail }, 'Remove');
    if (ok !== 'Remove') return;
    if (checkpoint) await fsp.rm(partialDirFor(run.options.out), { recursive: true, force: true });
    store.remove(run.id);
  });

  // ----- evaluate a checkpoint: perplexity on a chosen text

  command('trim.evaluateCheckpoint', async (arg) => {
    const run = await pick(arg, 'Evaluate the checkpoint of which run?', outExists);
    if (!run) return;
    const embedded = path.join(d.context.extensionPath, 'media', 'data', 'eval-brown.txt');
    type Item = vscode.QuickPickItem & { file?: string; browse?: boolean };
    const items: Item[] = [
      ...(run.options.eval && run.options.eval !== embedded
        ? [
            {
              label: path.basename(run.options.eval),
              description: "the run's evaluation text",
              detail: run.options.eval,
              file: run.options.eval,
            },
          ]
        : []),
      { label: 'eval-brown.txt', description: 'embedded held-out text', detail: embedded, file: embedded },
      { label: '$(file) Choose a text file…', browse: true },
    ];
    const choice = await vscode.window.showQuickPick(items, { placeHolder: `Perplexity of ${run.label} on which text?` });
    if (!choice) return;
    let text = choice.file;
    if (choice.browse) {
      const f = await vscode.window.showOpenDialog({
        canSelectFiles: true,
        canSelectFolders: false,
        canSelectMany: false,
        openLabel: 'Evaluate on this text',
      });
      text = f?.[0]?.fsPath;
    }
    if (!text) return;
    const seqlen = run.options.seqlen ?? (readMaxPositions(run.options.out) <= 1024 ? 512 : 2048);
    const options: EvalOptions = { model: run.options.out, text, seqlen, maxWindows: run.options.maxEvalWindows, ep: run.options.ep };
    log.info(
      `evaluating ${run.options.out} on ${text} (${seqlen} tokens per window${options.maxWindows !== null ? `, at most ${options.maxWindows} windows` : ''})`,
    );
    const result = await vscode.window
      .withProgress(
        { location: vscode.ProgressLocation.Notification, title: `TRIM: perplexity of ${run.label}`, cancellable: true },
        async (progress, token) => {
          let shown = 0;
          const job = startEval({
            workerPath: d.context.asAbsolutePath(path.join('dist', 'worker.js')),
            options,
            id: `eval-${newRunId()}`,
            onEvent: (e) => {
              if (e.type === 'progress' && e.total > 0) {
                const pctNow = (100 * e.done) / e.total;
                progress.report({ message: `window ${e.done}/${e.total}`, increment: pctNow - shown });
                shown = pctNow;
              } else if (e.type === 'phase') progress.report({ message: e.message });
            },
          });
          token.onCancellationRequested(() => job.cancel());
          return job.result;
        },
      )
      .then(
        (r) => r,
        (e: Error & { code?: string }) => {
          if (e.code === 'E_CANCELLED') return null;
          throw new Error(`evaluating ${run.options.out} failed: ${e.message}`);
        },
      );
    if (!result) return;
    const line = `perplexity ${result.perplexity.toFixed(3)} on ${path.basename(text)} (${result.windows} windows × ${result.seqlen} tokens, ${result.ep.toUpperCase()}, ${result.seconds.toFixed(1)} s)`;
    log.info(`${run.options.out}: ${line}`);
    void vscode.window.showInformationMessage(`TRIM: ${run.label}: ${line}.`);
  });

  // ----- Explorer: "Prune with TRIM" on a folder

  command('trim.pruneWithTrim', async (arg) => {
    const uri = arg instanceof vscode.Uri ? arg : undefined;
    if (!uri) return void (await vscode.commands.executeCommand('trim.pruneModel'));
    if (!existsSync(path.join(uri.fsPath, 'config.json'))) {
      return void vscode.window.showWarningMessage(
        `TRIM: ${uri.fsPath} holds no config.json, so it is not a Hugging Face checkpoint folder. Choose the folder with config.json, *.safetensors and tokenizer.json.`,
      );
    }
    await d.startFromWorkspace({ model: uri.fsPath });
  });
}

function readMaxPositions(dir: string): number {
  try {
    const c = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const n = c.max_position_embeddings ?? c.n_positions ?? c.max_sequence_length;
    return typeof n === 'number' ? n : 2048;
  } catch {
    return 2048;
  }
}
