/**
 * The list of runs (queued, running and past), persisted as one JSON file in a folder (the
 * extension's global storage) so that the Runs view survives a reload. No `vscode` import.
 *
 * Several VS Code windows share global storage: every change re-reads the file, applies itself
 * and writes the file back whole (write to a temporary file, then rename), and a run that was
 * running in another window is only declared interrupted when that window's process is gone.
 *
 * A damaged store never takes the extension down: a file that is not a runs list (bad JSON, a
 * `null` or malformed entry, a folder in its place, a file too large to be ours) is set aside as
 * `runs.json.damaged-<time>` (its valid entries kept), with a notice; when the folder cannot be
 * written at all, the runs live in memory for the session, with a notice.
 */
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Ep, PruneOptions } from '../contract';
import type { RunStatus } from '../webviewProtocol';
import { pidAlive } from '../core/processes';

export const RUNS_FORMAT = 'trim-runs/1';
/** Oldest finished runs beyond this many are dropped from the list (their outputs stay on disk). */
export const MAX_RUNS = 200;
/** A runs list of MAX_RUNS runs is well under a megabyte; anything much larger is not ours. */
export const MAX_STORE_BYTES = 32 * 2 ** 20;

const STATUSES = new Set(['queued', 'running', 'done', 'failed', 'cancelled']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const numOrNull = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));

/** Whether a stored entry has the shape the views and commands rely on. */
export function isRunRecord(v: unknown): v is RunRecord {
  if (!isObj(v)) return false;
  const o = v.options;
  const s = v.summary;
  const e = v.error;
  return (
    typeof v.id === 'string' &&
    v.id.length > 0 &&
    v.id.length <= 200 &&
    typeof v.label === 'string' &&
    typeof v.status === 'string' &&
    STATUSES.has(v.status) &&
    isObj(o) &&
    typeof o.model === 'string' &&
    typeof o.out === 'string' &&
    typeof o.sparsity === 'number' &&
    typeof v.outAuto === 'boolean' &&
    strOrNull(v.parent) &&
    typeof v.createdAt === 'string' &&
    strOrNull(v.startedAt) &&
    strOrNull(v.finishedAt) &&
    strOrNull(v.reportPath) &&
    (s === null ||
      (isObj(s) &&
        typeof s.sparsity === 'number' &&
        numOrNull(s.perplexity) &&
        numOrNull(s.densePerplexity) &&
        typeof s.ep === 'string' &&
        typeof s.seconds === 'number')) &&
    (e === null || (isObj(e) && typeof e.code === 'string' && typeof e.message === 'string')) &&
    numOrNull(v.hostPid)
  );
}

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

export class RunStore {
  readonly file: string;
  private runs: RunRecord[] = [];
  private listeners = new Set<() => void>();

  /** The runs cannot be persisted (the folder or file cannot be written): they live in memory. */
  private memoryOnly = false;
  private readonly noticed = new Set<string>();

  constructor(
    dir: string,
    private readonly isAlive: (pid: number) => boolean = pidAlive,
    /** Called with a one-line notice when the store was damaged and set aside, or cannot be written. */
    private readonly onNotice: (message: string) => void = () => {},
  ) {
    this.file = path.join(dir, 'runs.json');
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      this.goMemoryOnly(`cannot create ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
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
    const runs = this.memoryOnly ? this.runs : this.read();
    change(runs);
    if (!this.memoryOnly) {
      const tmp = `${this.file}.${process.pid}.tmp`;
      const data: RunsFile = { format: RUNS_FORMAT, runs };
      try {
        writeFileSync(tmp, JSON.stringify(data, null, 1));
        renameSync(tmp, this.file);
      } catch (e) {
        try {
          rmSync(tmp, { force: true });
        } catch {
          /* nothing to remove */
        }
        this.goMemoryOnly(`cannot write ${this.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    this.runs = runs;
    this.emit();
  }

  private notice(message: string): void {
    if (this.noticed.has(message)) return;
    this.noticed.add(message);
    try {
      this.onNotice(message);
    } catch {
      /* a notice must not fail the store */
    }
  }

  private goMemoryOnly(why: string): void {
    this.memoryOnly = true;
    this.notice(`The TRIM runs list ${why}; runs are kept for this session only.`);
  }

  /** Sets the damaged store aside (renamed with a timestamp); false when even that fails. */
  private setAside(why: string): boolean {
    const aside = `${this.file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      renameSync(this.file, aside);
    } catch (e) {
      this.goMemoryOnly(`is damaged (${why}) and cannot be set aside (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return false;
    }
    this.notice(`The TRIM runs list was damaged (${why}); it was set aside as ${aside}.`);
    return true;
  }

  private read(): RunRecord[] {
    if (this.memoryOnly) return this.runs;
    let text: string;
    try {
      const st = lstatSync(this.file);
      if (!st.isFile()) return this.setAside(`${st.isDirectory() ? 'a folder' : 'not a file'} in its place`) ? [] : this.runs;
      if (st.size > MAX_STORE_BYTES) return this.setAside(`${st.size} bytes, larger than a runs list can be`) ? [] : this.runs;
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.goMemoryOnly(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return this.runs;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      return this.setAside(`not JSON: ${(e as Error).message}`) ? [] : this.runs;
    }
    if (!isObj(data) || data.format !== RUNS_FORMAT || !Array.isArray(data.runs)) {
      return this.setAside('not a TRIM runs list') ? [] : this.runs;
    }
    const valid = data.runs.filter(isRunRecord);
    if (valid.length !== data.runs.length) {
      // Keep what is sound; the file as it was goes aside.
      const bad = data.runs.length - valid.length;
      if (!this.setAside(`${bad} malformed ${bad === 1 ? 'entry' : 'entries'}`)) return valid;
      try {
        writeFileSync(`${this.file}.${process.pid}.tmp`, JSON.stringify({ format: RUNS_FORMAT, runs: valid }, null, 1));
        renameSync(`${this.file}.${process.pid}.tmp`, this.file);
      } catch (e) {
        this.goMemoryOnly(`cannot write ${this.file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    return valid;
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}
