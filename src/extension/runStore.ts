/**
 * The list of runs (queued, running and past), persisted as one JSON file in a folder (the
 * extension's global storage) so that the Runs view survives a reload. No `vscode` import.
 *
 * Several VS Code windows share global storage: every change re-reads the file, applies itself
 * and writes the file back whole (write to a temporary file, then rename), and a run that was
 * running in another window is only declared interrupted when that window's process is gone.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Ep, PruneOptions } from '../contract';
import type { RunStatus } from '../webviewProtocol';

export const RUNS_FORMAT = 'trim-runs/1';
/** Oldest finished runs beyond this many are dropped from the list (their outputs stay on disk). */
export const MAX_RUNS = 200;

export interface RunSummary {
  /** Achieved sparsity of the pruned linears. */
  sparsity: number;
  perplexity: number | null;
  densePerplexity: number | null;
  ep: Ep;
  /** Total seconds of the job. */
  seconds: number;
}

export interface RunRecord {
  id: string;
  label: string;
  status: RunStatus;
  options: PruneOptions;
  /** `options.out` was derived: a re-run derives a new one instead of overwriting. */
  outAuto: boolean;
  /** Run this one was re-run from, if any. */
  parent: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** `trim-report.json` of a finished run. */
  reportPath: string | null;
  summary: RunSummary | null;
  error: { code: string; message: string } | null;
  /** Process id of the extension host that runs (or queued) it, while it is queued or running. */
  hostPid: number | null;
  /**
   * The workspace it was started in (workspaceKey: the workspace file's or first folder's URI;
   * '' for a window without a folder). Absent on runs recorded before runs were kept per workspace.
   */
  workspace?: string;
}

interface RunsFile {
  format: typeof RUNS_FORMAT;
  runs: RunRecord[];
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export class RunStore {
  readonly file: string;
  private runs: RunRecord[] = [];
  private listeners = new Set<() => void>();

  constructor(dir: string, private readonly isAlive: (pid: number) => boolean = pidAlive) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'runs.json');
    this.runs = this.read();
  }

  /**
   * Marks queued or running runs whose extension host is gone as failed (`INTERRUPTED`) and
   * returns them, so that the caller can remove what they left half-written.
   */
  recoverInterrupted(now = new Date()): RunRecord[] {
    const found: RunRecord[] = [];
    this.mutate((runs) => {
      for (const r of runs) {
        if ((r.status === 'queued' || r.status === 'running') && (r.hostPid === null || !this.isAlive(r.hostPid))) {
          const started = r.status === 'running';
          r.status = 'failed';
          r.error = {
            code: 'INTERRUPTED',
            message: started
              ? 'VS Code closed or reloaded while this run was running; it did not finish.'
              : 'VS Code closed or reloaded before this queued run started.',
          };
          r.finishedAt = now.toISOString();
          r.hostPid = null;
          found.push({ ...r });
        }
      }
    });
    return found;
  }

  /**
   * Newest first: every run, or with `workspace` given only the runs started in that workspace
   * (runs recorded before runs were kept per workspace belong to none).
   */
  list(workspace?: string): RunRecord[] {
    const all = this.runs.slice().reverse();
    return workspace === undefined ? all : all.filter((r) => r.workspace === workspace);
  }

  get(id: string): RunRecord | undefined {
    return this.runs.find((r) => r.id === id);
  }

  add(run: RunRecord): void {
    this.mutate((runs) => {
      runs.push(run);
      const finished = runs.filter((r) => r.status !== 'queued' && r.status !== 'running');
      const excess = runs.length - MAX_RUNS;
      if (excess > 0) {
        const drop = new Set(finished.slice(0, excess).map((r) => r.id));
        for (let i = runs.length - 1; i >= 0; i--) if (drop.has(runs[i].id)) runs.splice(i, 1);
      }
    });
  }

  update(id: string, patch: Partial<Omit<RunRecord, 'id'>>): RunRecord | undefined {
    let updated: RunRecord | undefined;
    this.mutate((runs) => {
      const r = runs.find((x) => x.id === id);
      if (r) updated = Object.assign(r, patch);
    });
    return updated;
  }

  remove(id: string): void {
    this.mutate((runs) => {
      const i = runs.findIndex((r) => r.id === id);
      if (i >= 0) runs.splice(i, 1);
    });
  }

  /** Re-reads the file (another window may have changed it). */
  refresh(): void {
    this.runs = this.read();
    this.emit();
  }

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private mutate(change: (runs: RunRecord[]) => void): void {
    const runs = this.read();
    change(runs);
    const tmp = `${this.file}.${process.pid}.tmp`;
    const data: RunsFile = { format: RUNS_FORMAT, runs };
    writeFileSync(tmp, JSON.stringify(data, null, 1));
    renameSync(tmp, this.file);
    this.runs = runs;
    this.emit();
  }

  private read(): RunRecord[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    try {
      const data = JSON.parse(text) as RunsFile;
      if (data.format === RUNS_FORMAT && Array.isArray(data.runs)) return data.runs;
    } catch {
      // fall through: a damaged list is set aside rather than lost.
    }
    renameSync(this.file, `${this.file}.damaged-${Date.now()}`);
    return [];
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}
