/**
 * Starting a job from the editor: the options are resolved from the settings, the workspace's
 * trim.config.json and the caller's overrides (configResolve.ts), problems are shown with the way
 * to fix them, an output outside the workspace is confirmed, and the job is queued (JobManager).
 */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import type { PruneOptions } from '../contract';
import type { RunOverrides } from '../webviewProtocol';
import {
  OTHER_SETTINGS,
  SETTING_FIELDS,
  configFileLayer,
  outputConfirmation,
  resolveOptionsAsync,
  settingsLayer,
  valuesLayer,
  type ConfigIssue,
  type LayerResult,
  type ResolveContext,
} from './configResolve';
import { newRunId, type JobManager } from './jobManager';
import { SETTINGS_QUERY } from './rerun';
import type { RunRecord } from './runStore';

export const CONFIG_FILE = 'trim.config.json';

export const workspaceFolder = (): vscode.WorkspaceFolder | undefined => vscode.workspace.workspaceFolders?.[0];

export interface LauncherDeps {
  context: vscode.ExtensionContext;
  manager: JobManager;
  log: vscode.LogOutputChannel;
  /** The window's workspace key, recorded with each run. */
  workspaceKey: string;
  /** Called once a run is queued (the sidebar shows it). */
  onQueued(run: RunRecord): void;
}

export class Launcher {
  constructor(private readonly d: LauncherDeps) {}

  /** Resolves settings ← trim.config.json ← overrides and queues the job. */
  async startFromWorkspace(
    overrides: Partial<PruneOptions>,
    configUri?: vscode.Uri,
    overrideSource = 'command',
  ): Promise<RunRecord | null> {
    const { log } = this.d;
    const runId = newRunId();
    const settings = readSettings();
    const cfg = await this.configLayer(configUri);
    const layers = [settingsLayer(settings, workspaceFolder()?.uri.fsPath ?? null)];
    if (cfg) layers.push(cfg.layer);
    layers.push(valuesLayer(overrideSource, overrides, workspaceFolder()?.uri.fsPath ?? null));
    const r = await resolveOptionsAsync(layers, this.resolveContext(runId, settings));
    if (!r.ok) {
      await this.reportIssues(r.issues, cfg?.uri ?? null);
      return null;
    }
    log.info(
      `options: ${
        Object.entries(r.sources)
          .filter(([, s]) => s !== 'default')
          .map(([k, s]) => `${k} from ${s}`)
          .join(', ') || 'all defaults'
      }`,
    );
    // A workspace file may not aim the output outside the workspace without the user's yes.
    const of = vscode.workspace.getConfiguration('trim', workspaceFolder()).inspect('outputFolder');
    const question = outputConfirmation(
      r,
      (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
      CONFIG_FILE,
      of?.workspaceFolderValue !== undefined || of?.workspaceValue !== undefined,
    );
    if (question) {
      const yes = await vscode.window.showWarningMessage(`TRIM: ${question}`, { modal: true }, 'Write There');
      if (yes !== 'Write There') {
        log.info(`not started: the output ${r.options.out} is outside the workspace and was not confirmed`);
        return null;
      }
    }
    return this.submit(r.options, r.outAuto, runId, null);
  }

  /** Runs a past run again with overrides (panel "Run again", Re-run). */
  async startFromRun(run: RunRecord, overrides: RunOverrides, source: string): Promise<RunRecord | null> {
    const runId = newRunId();
    const { out, ...rest } = run.options;
    const base: Record<string, unknown> = run.outAuto ? rest : { ...rest, out };
    // "Run again" with a new target and no explicit per-block targets clears the old ones.
    const extra: Record<string, unknown> = { ...overrides };
    if (overrides.sparsity !== undefined && overrides.blockSparsity === undefined && run.options.blockSparsity) extra.blockSparsity = null;
    const settings = readSettings();
    const r = await resolveOptionsAsync(
      [valuesLayer(`run ${run.label}`, base, null), valuesLayer(source, extra, null)],
      this.resolveContext(runId, settings),
    );
    if (!r.ok) {
      await this.reportIssues(r.issues, null);
      return null;
    }
    return this.submit(r.options, r.outAuto, runId, run.id);
  }

  /**
   * The workspace's trim.config.json (as the editor has it, saved first when dirty), if any. In
   * Restricted Mode (an untrusted workspace) it is not used: a file someone else wrote does not
   * choose what is read and written (package.json `capabilities.untrustedWorkspaces`).
   */
  async configLayer(uri?: vscode.Uri): Promise<{ layer: LayerResult; uri: vscode.Uri } | null> {
    const target = uri ?? (workspaceFolder() ? vscode.Uri.joinPath(workspaceFolder()!.uri, CONFIG_FILE) : undefined);
    if (!target || !existsSync(target.fsPath)) return null;
    if (!vscode.workspace.isTrusted) {
      this.d.log.warn(`${CONFIG_FILE} is not used in Restricted Mode; trust the workspace to use it`);
      void vscode.window
        .showWarningMessage(
          `TRIM: ${CONFIG_FILE} is not used while the workspace is in Restricted Mode. Trust the workspace to use it.`,
          'Manage Workspace Trust',
        )
        .then((pick) => {
          if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
        });
      return null;
    }
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
    if (open?.isDirty) await open.save();
    const text = open ? open.getText() : Buffer.from(await vscode.workspace.fs.readFile(target)).toString('utf8');
    return { layer: configFileLayer(target.fsPath, text), uri: target };
  }

  private resolveContext(runId: string, settings: Record<string, unknown>): ResolveContext {
    return {
      extensionPath: this.d.context.extensionPath,
      workspaceFolder: workspaceFolder()?.uri.fsPath ?? null,
      outputFolder: typeof settings.outputFolder === 'string' && settings.outputFolder !== '' ? settings.outputFolder : null,
      storageDir: this.d.context.globalStorageUri.fsPath,
      runId,
    };
  }

  private async reportIssues(issues: ConfigIssue[], configUri: vscode.Uri | null): Promise<void> {
    const { log } = this.d;
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
  }

  private submit(options: PruneOptions, outAuto: boolean, id: string, parent: string | null): RunRecord {
    const { manager, log } = this.d;
    const run = manager.submit({ options, outAuto, id, parent, workspace: this.d.workspaceKey });
    log.info(`queued ${run.id}: ${run.label} → ${options.out}`);
    if (manager.activeId !== run.id) {
      void vscode.window.showInformationMessage(`TRIM: ${run.label} is queued behind the running job.`);
    }
    this.d.onQueued(run);
    return run;
  }
}

/** The `trim.*` settings the user set (the defaults are the schema's: one source for both). */
function readSettings(): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration('trim', workspaceFolder());
  const out: Record<string, unknown> = {};
  for (const key of [...Object.keys(SETTING_FIELDS), ...OTHER_SETTINGS]) {
    const i = cfg.inspect(key);
    const v = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
    if (v !== undefined) out[key] = v;
  }
  return out;
}
