/**
 * What a webview is sent for a run: the live snapshot of a job of this session, or the snapshot
 * of a finished run read from its `trim-report.json`. No `vscode` import.
 */
import { promises as fsp } from 'node:fs';
import type { TrimReport } from '../contract';
import { emptyRun, runFromReport, type RunListItem, type RunSnapshot } from '../webviewProtocol';
import type { JobManager } from './jobManager';
import type { RunRecord, RunStore } from './runStore';

/** Reports kept in memory (a 7B report is tens of MB of row sparsities). */
const CACHE = 4;

export class RunSnapshots {
  private readonly reports = new Map<string, TrimReport>();

  /** `scope`: the workspace whose runs are listed (undefined: every workspace's). */
  constructor(
    private readonly store: RunStore,
    private readonly jobs: JobManager,
    private readonly scope?: () => string | undefined,
  ) {}

  list(): RunListItem[] {
    return this.store
      .list(this.scope?.())
      .map((r) => ({ id: r.id, label: r.label, status: r.status, createdAt: r.createdAt, options: r.options }));
  }

  async get(id: string): Promise<RunSnapshot | null> {
    const run = this.store.get(id);
    if (!run) return null;
    if (run.status === 'done' && run.reportPath) {
      const report = await this.report(run);
      if (report) return runFromReport(run.id, run.label, report);
    }
    const live = this.jobs.snapshot(id);
    if (live) return live;
    const error =
      run.status === 'done' && run.reportPath
        ? { code: 'REPORT_UNREADABLE', message: `The report of this run cannot be read: ${run.reportPath}` }
        : run.error;
    return { ...emptyRun(run.id, run.label), status: run.status, options: run.options, error };
  }

  /** The run's report, or null (with the reason as the run's error) when it cannot be read. */
  async report(run: RunRecord): Promise<TrimReport | null> {
    const cached = this.reports.get(run.id);
    if (cached) return cached;
    if (!run.reportPath) return null;
    try {
      const report = JSON.parse(await fsp.readFile(run.reportPath, 'utf8')) as TrimReport;
      this.reports.set(run.id, report);
      while (this.reports.size > CACHE) this.reports.delete(this.reports.keys().next().value!);
      return report;
    } catch {
      return null;
    }
  }

  forget(id: string): void {
    this.reports.delete(id);
  }
}
