/**
 * Runs pruning jobs in a worker process, one at a time, with a queue. No `vscode` import.
 *
 * Each job gets a fresh worker (`child_process.fork` of the worker bundle with
 * `ELECTRON_RUN_AS_NODE=1`, so that inside VS Code the Electron binary runs as plain Node). The
 * host sends `{type:'run', spec}` and receives the worker's `FromWorker` messages. Cancelling is
 * killing: SIGTERM, then SIGKILL after a grace period; once the process is gone, what the job
 * left half-written is cleaned up (core/io/lockCleanup.ts `cleanAfterDeath`) — only when the output's
 * lock still names this job: a job refused because another (a CLI run, another window) writes the
 * same output never touches that one's folders. A kill during the commit is finished from the
 * commit's journal, and the run is then reported done (its output is in place), not cancelled.
 * A worker that exits without a `done` or `error` event (crash, OOM kill, native abort) fails its
 * run with `WORKER_CRASHED`.
 *
 * Every change of a run is written to the `RunStore`; live events are re-emitted and folded into
 * a snapshot (`applyEvent` of the webview protocol) for views that open mid-run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { FromWorker, JobSpec, PruneOptions, ToWorker, TrimEvent } from '../contract';
import { summaryOfCommitted } from '../core/io/output';
import { cleanAfterDeath, hasResumeCheckpoint, missingParents, removeEmpty } from '../core/io/lockCleanup';
import { applyEvent, emptyRun, type RunSnapshot } from '../webviewProtocol';
import { runTitle } from './runLabels';
import type { RunRecord, RunStore } from './runStore';

export interface JobManagerOptions {
  /** The worker script (dist/worker.js in the extension; a fixture in tests). */
  workerPath: string;
  store: RunStore;
  /** Binary that runs the worker (default: this process's, i.e. VS Code's Electron or node). */
  execPath?: string;
  /**
   * Environment of the worker, or a function that gives it when a job starts (default: this
   * process's). ELECTRON_RUN_AS_NODE=1 is always set.
   */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  /** Milliseconds between SIGTERM and SIGKILL when cancelling. */
  killGraceMs?: number;
  /** Milliseconds a worker may linger after its final event before it is killed. */
  exitGraceMs?: number;
  /** Lines of the worker's stderr kept for the message of a crash. */
  stderrTail?: number;
}

export interface SubmitRequest {
  options: PruneOptions;
  outAuto: boolean;
  label?: string;
  parent?: string | null;
  /** Run id; default a fresh one (the resolved default output folder may already use it). */
  id?: string;
  /** The workspace it is started in (RunRecord.workspace). */
  workspace?: string;
}

type ManagerEvents = {
  /** A live event of a running job. */
  event: [runId: string, event: TrimEvent];
  /** A run changed state (queued, running, finished, removed from the queue). */
  change: [run: RunRecord];
  /** A line the worker printed. */
  output: [runId: string, stream: 'stdout' | 'stderr', line: string];
};

interface Active {
  id: string;
  child: ChildProcess;
  options: PruneOptions;
  /** Parent folders of `out` missing when the job started: removed (while empty) unless it committed. */
  missing: string[];
  final: { type: 'done' | 'error'; event: TrimEvent } | null;
  cancelled: boolean;
  /** Ended because the extension host goes away (reload, window closed): kept for Resume. */
  interrupted: boolean;
  stderr: string[];
  timers: NodeJS.Timeout[];
  exited: Promise<void>;
}

const TERMINAL = new Set(['done', 'failed', 'cancelled']);
/** Snapshots of failed or cancelled runs kept in memory. */
const KEEP_FINISHED = 3;

/** A run id that sorts by time and is safe in a folder name: 20261129-074200-3f9a. */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${Math.random().toString(16).slice(2, 6)}`;
}

/** Short label of a run, what it was: "trim-demo-qwen2-small · TRIM ×10 · 70% owl" (runLabels.ts). */
export function runLabel(o: PruneOptions): string {
  return runTitle(o);
}

export class JobManager extends EventEmitter<ManagerEvents> {
  private readonly queue: string[] = [];
  private active: Active | null = null;
  private readonly snapshots = new Map<string, RunSnapshot>();
  private readonly waiters = new Map<string, Array<(r: RunRecord) => void>>();
  private disposed = false;

  constructor(private readonly opts: JobManagerOptions) {
    super();
  }

  /** Queues a prune job; it starts at once when no other job runs. */
  submit(req: SubmitRequest): RunRecord {
    if (this.disposed) throw new Error('JobManager is disposed');
    const run: RunRecord = {
      id: req.id ?? newRunId(),
      label: req.label ?? runLabel(req.options),
      status: 'queued',
      options: req.options,
      outAuto: req.outAuto,
      parent: req.parent ?? null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      reportPath: null,
      summary: null,
      error: null,
      hostPid: process.pid,
      ...(req.workspace !== undefined ? { workspace: req.workspace } : {}),
    };
    this.opts.store.add(run);
    this.queue.push(run.id);
    this.snapshots.set(run.id, emptyRun(run.id, run.label));
    this.emit('change', run);
    this.pump();
    return run;
  }

  /** The running job's id, or null. */
  get activeId(): string | null {
    return this.active?.id ?? null;
  }

  /** Ids of the queued jobs, in order. */
  get queued(): readonly string[] {
    return this.queue;
  }

  get busy(): boolean {
    return this.active !== null || this.queue.length > 0;
  }

  /** Pid of the running worker (tests check that it is gone after a cancel). */
  get workerPid(): number | null {
    return this.active?.child.pid ?? null;
  }

  /**
   * The live snapshot of a queued or running job of this session (events folded in), or of one
   * of the last failed or cancelled ones; a done run is drawn from its report instead.
   */
  snapshot(id: string): RunSnapshot | undefined {
    return this.snapshots.get(id);
  }

  /** Resolves with the run once it has finished (done, failed or cancelled). */
  whenFinished(id: string): Promise<RunRecord> {
    const r = this.opts.store.get(id);
    if (!r) return Promise.reject(new Error(`no run ${id}`));
    if (TERMINAL.has(r.status) && this.active?.id !== id) return Promise.resolve(r);
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  /**
   * Cancels a queued or running job. A running worker is killed; the returned promise resolves
   * once it is gone and its partial output removed. False when there was nothing to cancel.
   */
  async cancel(id: string): Promise<boolean> {
    const qi = this.queue.indexOf(id);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      this.snapshots.delete(id);
      this.finishRecord(id, { status: 'cancelled', finishedAt: new Date().toISOString(), hostPid: null });
      return true;
    }
    const a = this.active;
    if (!a || a.id !== id || a.cancelled || a.final?.type === 'done') return false;
    a.cancelled = true;
    this.kill(a);
    await a.exited;
    return true;
  }

  /** Cancels everything and waits for the worker to be gone (extension deactivation). */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const id of this.queue.slice()) await this.cancel(id);
    if (this.active) {
      const a = this.active;
      if (a.final) this.kill(a);
      else await this.cancel(a.id);
      await a.exited;
    }
    this.removeAllListeners();
  }

  /**
   * The extension host goes away (window reload, VS Code closed): the running worker is ended and
   * its run marked interrupted (`INTERRUPTED`), keeping the resume checkpoint its finished blocks
   * left in the partial folder; queued runs are marked interrupted too. Nothing is reported as a
   * user's cancel. Then the manager is disposed.
   */
  async interrupt(): Promise<void> {
    this.disposed = true;
    const now = new Date().toISOString();
    for (const id of this.queue.splice(0)) {
      this.snapshots.delete(id);
      this.finishRecord(id, { status: 'failed', error: interruptedError(false), finishedAt: now, hostPid: null });
    }
    const a = this.active;
    if (a) {
      if (!a.final && !a.cancelled) a.interrupted = true;
      this.kill(a);
      await a.exited;
    }
    this.removeAllListeners();
  }

  /**
   * Continues an interrupted or cancelled run from the checkpoint its finished blocks left
   * (core/resume.ts, the CLI's --resume): the same run goes back into the queue with
   * `resume: true`. Throws with the reason when it cannot.
   */
  resume(id: string): RunRecord {
    if (this.disposed) throw new Error('JobManager is disposed');
    const run = this.opts.store.get(id);
    if (!run) throw new Error(`no run ${id}`);
    if (!canResume(run)) {
      throw new Error(
        `${run.label} cannot be resumed: ${run.status === 'done' ? 'it is done' : run.status === 'running' || run.status === 'queued' ? 'it is still going' : 'it left no checkpoint of finished blocks'}.`,
      );
    }
    const updated = this.opts.store.update(id, {
      status: 'queued',
      options: { ...run.options, resume: true },
      error: null,
      finishedAt: null,
      startedAt: null,
      hostPid: process.pid,
      summary: null,
      reportPath: null,
    })!;
    this.queue.push(id);
    this.snapshots.set(id, emptyRun(id, updated.label));
    this.emit('change', updated);
    this.pump();
    return updated;
  }

  // -------------------------------------------------------------------------------------------

  private pump(): void {
    if (this.active || this.disposed) return;
    const id = this.queue.shift();
    if (id === undefined) return;
    const run = this.opts.store.get(id);
    if (!run) return this.pump();
    this.start(run);
  }

  private start(run: RunRecord): void {
    const spec: JobSpec = { kind: 'prune', id: run.id, options: run.options };
    const child = fork(this.opts.workerPath, [], {
      execPath: this.opts.execPath,
      execArgv: [],
      env: { ...(typeof this.opts.env === 'function' ? this.opts.env() : (this.opts.env ?? process.env)), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let exitedResolve!: () => void;
    const a: Active = {
      id: run.id,
      child,
      options: run.options,
      missing: missingParents(path.dirname(path.resolve(run.options.out))),
      final: null,
      cancelled: false,
      interrupted: false,
      stderr: [],
      timers: [],
      exited: new Promise<void>((r) => {
        exitedResolve = r;
      }),
    };
    this.active = a;
    const updated = this.opts.store.update(run.id, { status: 'running', startedAt: new Date().toISOString() });
    this.snapshots.set(run.id, { ...(this.snapshots.get(run.id) ?? emptyRun(run.id, run.label)), status: 'running' });
    if (updated) this.emit('change', updated);

    const keep = this.opts.stderrTail ?? 20;
    for (const stream of ['stdout', 'stderr'] as const) {
      const rl = createInterface({ input: child[stream]! });
      rl.on('line', (line) => {
        if (stream === 'stderr') {
          a.stderr.push(line);
          if (a.stderr.length > keep) a.stderr.shift();
        }
        this.emit('output', a.id, stream, line);
      });
    }
    child.on('message', (m) => this.onMessage(a, m as FromWorker));
    let finished = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (finished) return;
      finished = true;
      void this.finish(a, code, signal, spawnError).then(exitedResolve);
    };
    child.on('exit', (code, signal) => onGone(code, signal));
    // 'error' without a pid: the process could not be started at all (no 'exit' follows).
    child.on('error', (err) => {
      if (child.pid === undefined) onGone(null, null, err);
    });
    if (child.pid !== undefined) {
      const msg: ToWorker = { type: 'run', spec };
      child.send(msg, (err) => {
        if (err) this.emit('output', a.id, 'stderr', `could not send the job to the worker: ${err.message}`);
      });
    }
  }

  private onMessage(a: Active, m: FromWorker): void {
    if (!m || typeof m !== 'object' || m.job !== a.id) return;
    if (m.type === 'event') {
      const ev = m.event;
      const snap = this.snapshots.get(a.id);
      if (snap) this.snapshots.set(a.id, applyEvent(snap, ev));
      if ((ev.type === 'done' || ev.type === 'error') && !a.final) {
        a.final = { type: ev.type, event: ev };
        // The worker should exit by itself now; one that lingers is ended.
        a.timers.push(setTimeout(() => this.kill(a), this.opts.exitGraceMs ?? 5000));
      }
      this.emit('event', a.id, ev);
    }
    // {type:'exit'} needs nothing: the process's own exit ends the job.
  }

  private kill(a: Active): void {
    if (a.child.exitCode !== null || a.child.signalCode !== null) return;
    a.child.kill('SIGTERM');
    a.timers.push(
      setTimeout(() => {
        if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
      }, this.opts.killGraceMs ?? 3000),
    );
  }

  private async finish(a: Active, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): Promise<void> {
    for (const t of a.timers) clearTimeout(t);
    const out = a.options.out;
    const now = new Date().toISOString();
    let patch: Partial<RunRecord>;
    const final = a.final?.event;
    if (final?.type === 'done') {
      const s = final.summary;
      patch =
        s.type === 'summary'
          ? {
              status: 'done',
              reportPath: s.report,
              summary: {
                sparsity: s.sparsity,
                perplexity: s.perplexity,
                densePerplexity: s.dense_perplexity,
                ep: s.ep,
                seconds: s.seconds.total,
              },
            }
          : { status: 'done' };
      if (code !== 0) {
        this.emit('output', a.id, 'stderr', `worker exited with ${describeExit(code, signal)} after finishing`);
        // Ended between its `done` and the release of the output's lock: release it (only if it names this job).
        try {
          cleanAfterDeath(out, a.id, a.child.pid);
        } catch {
          /* the next job on this output breaks the stale lock */
        }
      }
    } else {
      // Nothing half-written may remain, and nothing of another job is touched: the cleanup acts
      // only where the output's lock names this job (and its worker, now gone). Kept: the resume
      // checkpoint of a run the host's end interrupted, and of a cancelled resumed run (as the CLI
      // keeps a cancelled --resume run's).
      const keep = a.interrupted || (a.cancelled && a.options.resume === true);
      let after: ReturnType<typeof cleanAfterDeath> = 'not-ours';
      try {
        after = cleanAfterDeath(out, a.id, a.child.pid, keep);
      } catch (e) {
        this.emit('output', a.id, 'stderr', `could not clean up after the worker: ${(e as Error).message}`);
      }
      // Killed before its lock existed (while creating the parents of `out`): those it made go, if still empty.
      if (after === 'not-ours') removeEmpty(a.missing);
      const committed = after === 'committed' ? committedPatch(out) : null;
      if (committed) {
        // Killed after its commit: the output was replaced, so the run is done, whatever stopped it.
        this.emit(
          'output',
          a.id,
          'stderr',
          `the worker ended (${describeExit(code, signal)}) after its result was moved into place: ${out}`,
        );
        patch = committed;
      } else if (a.interrupted) {
        patch = { status: 'failed', error: interruptedError(true, after === 'kept' || (after === 'not-ours' && hasCheckpoint(out))) };
      } else if (a.cancelled) {
        patch = { status: 'cancelled', error: null };
      } else if (final?.type === 'error') {
        patch = { status: 'failed', error: final.error };
      } else {
        const tail = a.stderr.length ? `\n${a.stderr.join('\n')}` : '';
        patch = {
          status: 'failed',
          error: spawnError
            ? { code: 'WORKER_START_FAILED', message: `The worker process could not be started: ${spawnError.message}` }
            : {
                code: 'WORKER_CRASHED',
                message: `The worker process ended (${describeExit(code, signal)}) before the job finished.${tail}`,
              },
        };
      }
    }
    this.active = null;
    this.retire(a.id, patch);
    this.finishRecord(a.id, { ...patch, finishedAt: now, hostPid: null });
    this.pump();
  }

  /**
   * A done run is drawn from its report from now on; a failed or cancelled one keeps what arrived
   * (the last few only: a 7B-sized snapshot holds millions of row values).
   */
  private retire(id: string, patch: Partial<RunRecord>): void {
    const snap = this.snapshots.get(id);
    this.snapshots.delete(id);
    if (!snap || patch.status === 'done') return;
    this.snapshots.set(id, { ...snap, status: patch.status!, current: null, error: patch.error ?? snap.error });
    const finished = [...this.snapshots.keys()].filter((k) => k !== this.active?.id && !this.queue.includes(k));
    for (const k of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.snapshots.delete(k);
  }

  private finishRecord(id: string, patch: Partial<RunRecord>): void {
    const r = this.opts.store.update(id, patch);
    if (!r) return;
    this.emit('change', r);
    const list = this.waiters.get(id);
    this.waiters.delete(id);
    for (const w of list ?? []) w(r);
  }
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `signal ${signal}`;
  return `exit code ${code}`;
}

export { RESUME_DIR } from '../core/io/resumeFormat';

/** Whether the partial folder of `out` holds a resume checkpoint (core/resume.ts: state.json). */
export const hasCheckpoint = hasResumeCheckpoint;

/** A run stopped by the host's end (reload, window closed) rather than by the user. */
export function isInterrupted(r: RunRecord): boolean {
  return r.status === 'failed' && r.error?.code === 'INTERRUPTED';
}

/** Interrupted and cancelled runs that left a checkpoint of finished blocks can be resumed. */
export function canResume(r: RunRecord): boolean {
  return (isInterrupted(r) || r.status === 'cancelled') && hasCheckpoint(r.options.out);
}

function interruptedError(started: boolean, kept = false): { code: string; message: string } {
  return {
    code: 'INTERRUPTED',
    message: started
      ? `VS Code closed or reloaded while this run was running.${kept ? ' Its finished blocks are kept: Resume continues from there.' : ''}`
      : 'VS Code closed or reloaded before this queued run started.',
  };
}

/** The record of a run whose output was committed, drawn from its trim-report.json. */
function committedPatch(out: string): Partial<RunRecord> | null {
  const s = summaryOfCommitted(out);
  if (!s) return { status: 'done', error: null, reportPath: `${out}/trim-report.json`, summary: null };
  return {
    status: 'done',
    error: null,
    reportPath: s.report,
    summary: { sparsity: s.sparsity, perplexity: s.perplexity, densePerplexity: s.dense_perplexity, ep: s.ep, seconds: s.seconds.total },
  };
}

/**
 * Cleans up after interrupted runs (VS Code closed mid-run): only where the output's lock still
 * names the run and its worker is gone; a partial folder holding a resume checkpoint is kept for
 * Resume. Returns the runs whose output had been committed (their records become done).
 */
export function cleanInterrupted(runs: RunRecord[]): { id: string; patch: Partial<RunRecord> }[] {
  const done: { id: string; patch: Partial<RunRecord> }[] = [];
  for (const r of runs) {
    try {
      if (cleanAfterDeath(r.options.out, r.id, undefined, isInterrupted(r)) === 'committed')
        done.push({ id: r.id, patch: committedPatch(r.options.out)! });
    } catch {
      /* left for the next job on that output, which recovers under its lock */
    }
  }
  return done;
}
