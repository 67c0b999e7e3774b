/**
 * The worker process: runs one job for the extension host (forked with ELECTRON_RUN_AS_NODE=1)
 * and reports through IPC. ONNX Runtime blocks this process's thread while it computes, a native
 * crash takes down only this process, and cancelling is killing it (SIGTERM, default action) or,
 * between steps, a {type:'cancel'} message that stops cleanly. The host removes the partial
 * output folder after a kill; a clean stop removes it here.
 */
import type { FromWorker, JobSpec, ToWorker, TrimEvent } from '../contract';
import { isTrimError, oneLine, TrimError } from '../core/errors';
import { runEval } from '../core/eval/evalJob';
import { runPrune, systemError } from '../core/prune/prune';
import { cleanAfterDeath } from '../core/io/lockCleanup';
import { cpus } from 'node:os';

// Weight reads go out in parallel (core/fused.ts): more libuv threads than the default 4.
process.env.UV_THREADPOOL_SIZE ??= String(Math.min(16, Math.max(4, cpus().length)));

let cancelled = false;
let running = false;
/** The prune job in progress: what to clean up when the host goes away. */
let current: { out: string; job: string } | null = null;

function send(m: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}

async function run(spec: JobSpec): Promise<void> {
  running = true;
  // Sends in flight: the job awaits them (ctl.flush) after its commit, before it releases the
  // output's lock, so that the host has the `done` event whenever the lock is gone.
  const pending = new Set<Promise<void>>();
  const emit = (event: TrimEvent): void => {
    const p = send({ type: 'event', job: spec.id, event });
    pending.add(p);
    void p.then(() => pending.delete(p));
  };
  const ctl = {
    check: (): void => {
      if (cancelled) throw new TrimError('E_CANCELLED', 'Cancelled; nothing was written.');
    },
    flush: async (): Promise<void> => {
      await Promise.all([...pending]);
    },
  };
  let ok = false;
  try {
    if (spec.kind === 'prune') {
      current = { out: spec.options.out, job: spec.id };
      await runPrune(spec.options, emit, ctl, spec.id);
      current = null;
    } else {
      const r = await runEval(spec.options, emit, spec.id);
      emit({ type: 'done', summary: { type: 'eval_summary', ...r } });
    }
    ok = true;
  } catch (e) {
    // Errors of the system (a name too long, a parent that is a file) are the user's to fix: one line; bugs keep their stack.
    const error = isTrimError(e)
      ? { code: e.code, message: e.message }
      : systemError(e)
        ? { code: 'E_IO', message: oneLine(e.message) }
        : { code: 'E_INTERNAL', message: String((e as Error)?.stack ?? e) };
    await send({ type: 'event', job: spec.id, event: { type: 'error', error } });
  }
  await send({ type: 'exit', job: spec.id, ok });
  process.exit(ok ? 0 : 1);
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'run' && !running) void run(m.spec);
  else if (m.type === 'cancel') cancelled = true;
});
// The host went away (the editor closed or reloaded): nobody will clean up after this job, so it
// does so itself — only what its output's lock names as its own, a decided commit finished, and
// the resume checkpoint of its finished blocks kept (the next host offers Resume).
process.on('disconnect', () => {
  if (current) {
    try {
      cleanAfterDeath(current.out, current.job, process.pid, true);
    } catch {
      /* the next job on this output recovers under its lock */
    }
  }
  process.exit(running ? 1 : 0);
});
