/**
 * What the user sees of a job while it runs and when it ends: its events in the log, a progress
 * notification with Cancel, the Runs view and the webviews kept current, and a message when it is
 * done (Open Results, Reveal Checkpoint), failed (Show Log, Re-run where it can help) or cancelled.
 */
import * as vscode from 'vscode';
import type { TrimEvent } from '../contract';
import type { RunOverrides } from '../webviewProtocol';
import type { GpuSupport } from './gpu';
import { isInterrupted, type JobManager } from './jobManager';
import { ProgressTracker, pct, type ProgressState } from './progress';
import { rerunCanHelp } from './rerun';
import type { RunSnapshots } from './runSnapshots';
import type { RunRecord } from './runStore';
import type { RunsTree } from './runsTree';
import { connectionsOf, type ResultsPanel, type SidebarView } from './webviews';

export interface JobNotificationsDeps {
  manager: JobManager;
  log: vscode.LogOutputChannel;
  gpu: GpuSupport;
  tree: RunsTree;
  panel: ResultsPanel;
  sidebar: SidebarView;
  snapshots: RunSnapshots;
  /** The progress of each running job (the Runs view reads it too). */
  trackers: Map<string, ProgressTracker>;
  /** Re-run of a failed run (launch.ts). */
  startFromRun(run: RunRecord, overrides: RunOverrides, source: string): Promise<RunRecord | null>;
}

/** Subscribes to the job manager's output, events and run changes. */
export function registerJobNotifications(d: JobNotificationsDeps): void {
  const { manager, log, gpu, tree, panel, sidebar, snapshots, trackers } = d;
  const notifications = new Map<string, { report(p: ProgressState): void }>();

  const showProgress = (r: RunRecord): void => {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `TRIM: ${r.label}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
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
          void manager.whenFinished(r.id).then(() => {
            notifications.delete(r.id);
            resolve();
          });
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
      const pick = await vscode.window.showErrorMessage(
        `TRIM: ${r.label} failed: ${r.error?.message ?? 'unknown error'}`,
        'Show Log',
        ...(rerunCanHelp(r.error) ? ['Re-run'] : []),
      );
      if (pick === 'Show Log') log.show();
      else if (pick === 'Re-run') await d.startFromRun(r, {}, 'Re-run');
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
}

function logEvent(log: vscode.LogOutputChannel, id: string, e: TrimEvent): void {
  switch (e.type) {
    case 'start':
      log.info(
        `[${id}] ${e.model.architecture} (${e.model.blocks} blocks, ${e.model.parameters.toLocaleString()} parameters) on ${e.ep.toUpperCase()}`,
      );
      if (e.epNotice) log.warn(`[${id}] ${e.epNotice}`);
      break;
    case 'phase':
      log.info(`[${id}] ${e.phase}: ${e.message}`);
      break;
    case 'block_end':
      log.info(
        `[${id}] block ${e.block + 1}/${e.blocks}: target ${pct(e.report.target)}, achieved ${pct(e.report.achieved)} (${(e.report.seconds.statistics + e.report.seconds.prune + e.report.seconds.propagate).toFixed(2)} s)`,
      );
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
