/**
 * The extension's JobManager as the job tests build it: over a run list of its own, running a
 * worker (the real dist/worker.js, or test/fixtures/fake-worker.js that speaks the same IPC) with
 * extra environment; and what those tests poll: `alive` (kill(pid, 0): a zombie still counts, so
 * "gone" means reaped) and `waitUntil`.
 */
import * as path from 'node:path';
import { JobManager, type JobManagerOptions } from '../../src/extension/jobManager';
import { RunStore } from '../../src/extension/runStore';

const ROOT = path.resolve(__dirname, '../..');
/** The real worker (built by scripts/build.mjs). */
export const REAL_WORKER = path.join(ROOT, 'dist', 'worker.js');
/** The fake worker; FAKE_WORKER_MODE says how it behaves. */
export const FAKE_WORKER = path.join(ROOT, 'test', 'fixtures', 'fake-worker.js');

/** A job manager running `workerPath` with this process's environment and `env`, its runs in `storeDir`. */
export function jobManager(
  storeDir: string,
  workerPath: string,
  env: NodeJS.ProcessEnv,
  extra: Partial<JobManagerOptions> = {},
): { jm: JobManager; store: RunStore } {
  const store = new RunStore(storeDir);
  const jm = new JobManager({ workerPath, store, execPath: process.execPath, env: { ...process.env, ...env }, ...extra });
  return { jm, store };
}

/** Whether `pid` answers kill(pid, 0): running, or ended and not yet reaped. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls `cond` every 10 ms; throws "timed out" after `ms`. */
export const waitUntil = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};
