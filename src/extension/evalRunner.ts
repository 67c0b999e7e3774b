/**
 * Runs one evaluation job (perplexity of a checkpoint on a text, core/evalJob.ts) in a worker
 * process, the same worker bundle as the pruning jobs. No `vscode` import.
 */
import { fork } from 'node:child_process';
import type { EvalOptions, EvalResult, Ep, FromWorker, ToWorker, TrimEvent } from '../contract';

export interface EvalRun {
  /** Resolves with the result; rejects with the worker's error ({code, message} on the Error). */
  result: Promise<EvalResult & { ep: Ep }>;
  /** Ends the worker (the promise then rejects with code E_CANCELLED). */
  cancel(): void;
}

export function startEval(opts: {
  workerPath: string;
  options: EvalOptions;
  id: string;
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: TrimEvent) => void;
}): EvalRun {
  const child = fork(opts.workerPath, [], {
    execPath: opts.execPath,
    execArgv: [],
    env: { ...(opts.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let cancelled = false;
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    if (stderr.length > 20) stderr.shift();
  });
  const result = new Promise<EvalResult & { ep: Ep }>((resolve, reject) => {
    let settled: { ok: true; v: EvalResult & { ep: Ep } } | { ok: false; e: Error } | null = null;
    const fail = (code: string, message: string): Error => Object.assign(new Error(message), { code });
    child.on('message', (m: FromWorker) => {
      if (!m || m.type !== 'event' || m.job !== opts.id) return;
      const e = m.event;
      opts.onEvent?.(e);
      if (e.type === 'done' && e.summary.type === 'eval_summary') {
        const { type: _t, ...r } = e.summary;
        settled = { ok: true, v: r };
      } else if (e.type === 'error') settled = { ok: false, e: fail(e.error.code, e.error.message) };
    });
    child.on('error', (err) => {
      if (child.pid === undefined) reject(fail('WORKER_START_FAILED', err.message));
    });
    child.on('exit', (code, signal) => {
      if (settled?.ok) resolve(settled.v);
      else if (cancelled) reject(fail('E_CANCELLED', 'Cancelled.'));
      else if (settled) reject(settled.e);
      else
        reject(
          fail(
            'WORKER_CRASHED',
            `The worker process ended (${signal ?? `exit code ${code}`}) before the evaluation finished. ${stderr.join('').trim()}`,
          ),
        );
    });
  });
  if (child.pid !== undefined) {
    const msg: ToWorker = { type: 'run', spec: { kind: 'eval', id: opts.id, options: opts.options } };
    child.send(msg);
  }
  return {
    result,
    cancel: () => {
      cancelled = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
