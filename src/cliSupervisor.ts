/**
 * The CLI's `prune` runs in a child process of the command the user started, so that a stop
 * reaches a device run in progress. onnxruntime-node 1.29 runs a session synchronously on the
 * thread that calls `run` (its `RunOptions.terminate` is read only when a run starts): while one
 * long run lasts (a fused run over several blocks, minutes on a large model), the job's process
 * cannot act on a signal. This process stays free for it:
 *
 * - the first Ctrl-C, SIGTERM or SIGHUP asks the job to stop (an IPC message; the job stops at the
 *   end of its current step and settles its output itself); when it has not stopped within
 *   GRACE_MS it is in the middle of a device run: it is killed (SIGKILL) and this process settles
 *   its output as the job would have (lockCleanup.ts cleanAfterDeath: a plain run's partial folder
 *   is removed, a --resume run keeps its last checkpoint, an interrupted commit is finished or
 *   rolled back, the lock is released);
 * - a second one kills the job at once and settles the same way;
 * - a job that dies of anything else (kill -9 of the job, a crash) is left as such a death leaves
 *   it (a run that --resume continues), and this process dies of the same signal.
 *
 * The job tells this process which output locks it holds (JobControl.onLock → IPC). The child
 * shares this process's group, so a terminal's Ctrl-Z suspends both (and kill -STOP of this
 * process pauses the job as well, on Linux); a signal the job receives
 * itself (a terminal's Ctrl-C reaches the whole group) only asks it to stop, however often.
 * When this process goes away (kill -9 of the CLI), the job's process ends at once, as if killed
 * with it (a thread of its own watches its parent; its main thread may be inside a device run).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { partialDirFor } from './contract';
import { oneLine } from './core/errors';
import { summaryOfCommitted } from './core/io/output';
import { cleanAfterDeath, hasResumeCheckpoint, type AfterDeath } from './core/io/lockCleanup';

/** How long a stopped job may take to stop by itself before it is killed. */
export const GRACE_MS = 1000;

/** Set in the job's environment; the job's process runs the command itself. */
export const JOB_CHILD = 'TRIM_JOB_CHILD';

export const isJobChild = (): boolean => process.env[JOB_CHILD] === '1';

/** IPC, job → supervisor: an output lock taken (`held`) or released (with whether it committed). */
export interface LockNote {
  type: 'trim-lock';
  out: string;
  job: string;
  resume: boolean;
  held: boolean;
  committed?: boolean;
}

/** IPC, supervisor → job: stop at the end of the current step. */
export interface StopNote {
  type: 'trim-stop';
  signal: NodeJS.Signals;
}

const isLockNote = (m: unknown): m is LockNote =>
  !!m &&
  typeof m === 'object' &&
  (m as LockNote).type === 'trim-lock' &&
  typeof (m as LockNote).out === 'string' &&
  typeof (m as LockNote).job === 'string';

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs `argv`'s command (prune, or eval with another environment) in a child with `env` and
 * returns the exit code for this process; a child that died of a signal this process did not
 * send makes this process die of it too (never returns then).
 */
export function superviseJob(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const prune = argv[2] === 'prune';
  const json = argv.includes('--json');
  // An inspector port can be open only once.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  const child = spawn(process.execPath, [...execArgv, ...argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...env, [JOB_CHILD]: '1' },
  });
  const locks = new Map<string, LockNote>();
  child.on('message', (m: unknown) => {
    if (isLockNote(m)) locks.set(m.out, m);
  });
  // Writes to a closed terminal (SIGHUP) or a gone reader must not take this process down.
  for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
  let asked: NodeJS.Signals | null = null;
  let killed: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  const kill = (why: string): void => {
    if (killed) return;
    killed = why;
    if (timer) clearTimeout(timer);
    child.kill('SIGKILL');
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (killed) return;
    if (!prune) {
      // eval writes nothing: it ends at once, as it does without a child.
      killed = sig;
      child.kill(sig);
      return;
    }
    if (asked) {
      kill(`stopped at once by a second ${sig}`);
      return;
    }
    asked = sig;
    if (sig !== 'SIGHUP') process.stderr.write(`${sig}: stopping (send it again to stop at once)\n`);
    if (child.connected) child.send({ type: 'trim-stop', signal: sig } satisfies StopNote, () => {});
    timer = setTimeout(() => kill('Cancelled'), GRACE_MS);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  // kill -STOP of this process pauses the job too (watchSupervisor); continuing this one continues it.
  const onCont = (): void => void child.kill('SIGCONT');
  process.on('SIGCONT', onCont);
  return new Promise((resolve) => {
    let code: number | null = null;
    let signal: NodeJS.Signals | null = null;
    let exited = false;
    // The exit and the end of the IPC channel (the lock notes sent before it) may come in either order.
    let finished = false;
    const finish = (): void => {
      if (!exited || child.connected || finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
      process.off('SIGCONT', onCont);
      if (killed && prune && signal === 'SIGKILL') {
        resolve(settle(killed, locks, child.pid!, json));
        return;
      }
      if (signal) {
        if (killed && !prune) {
          resolve(128 + (signalNumber(signal) ?? 15));
          return;
        }
        // Died of a signal this process did not send (kill -9 of the job, the system out of
        // memory): die likewise; of a crash (SIGSEGV, SIGABRT, …): say so.
        if (['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'].includes(signal)) {
          process.kill(process.pid, signal);
          setTimeout(() => resolve(128 + (signalNumber(signal!) ?? 9)), 1000).unref();
        } else {
          process.stderr.write(
            `error: the job's process ended with ${signal}; what it wrote is left for --resume or the next run on its --out.\n`,
          );
          resolve(128 + (signalNumber(signal) ?? 6));
        }
        return;
      }
      resolve(code ?? 1);
    };
    child.on('exit', (c, s) => {
      code = c;
      signal = s;
      exited = true;
      finish();
    });
    child.on('disconnect', finish);
    child.on('error', (e) => {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
      process.stderr.write(`error: ${oneLine(`could not start the job's process (${e.message})`)}\n`);
      resolve(2);
    });
  });
}

const signalNumber = (s: NodeJS.Signals): number | undefined => os.constants.signals[s];

/**
 * After this process killed the job: settles every output it held (the innermost, the baseline's
 * inside the main output's partial folder, first), prints one line and returns the exit code.
 */
function settle(why: string, locks: Map<string, LockNote>, pid: number, json: boolean): number {
  const notes = [...locks.values()];
  const outcomes = new Map<LockNote, AfterDeath | 'released'>();
  for (const n of notes.slice().reverse()) {
    if (!n.held && n.committed) outcomes.set(n, 'released');
    else {
      try {
        outcomes.set(n, cleanAfterDeath(n.out, n.job, pid, n.resume));
      } catch (e) {
        process.stderr.write(
          `error: ${oneLine(`stopped, but cleaning ${n.out} failed (${(e as Error).message}); the next run on it finishes that`)}\n`,
        );
        return 2;
      }
    }
  }
  const main = notes[0];
  const outcome = main ? outcomes.get(main) : undefined;
  if (main && (outcome === 'committed' || (outcome === 'released' && main.committed))) {
    // The stop came after the job had put its result in place: that result stands.
    process.stderr.write(
      `${oneLine(`${why === 'Cancelled' ? 'stopped' : why}, after the run had finished: its result is in ${main.out}`)}\n`,
    );
    const summary = summaryOfCommitted(main.out);
    if (json && summary) process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  }
  const kept = main && main.resume && (outcome === 'kept' || (outcome !== 'cleaned' && hasResumeCheckpoint(main.out)));
  const what = kept
    ? `the finished blocks are kept in ${partialDirFor(path.resolve(main.out))}. Run again with --resume to continue.`
    : main && fs.existsSync(partialDirFor(path.resolve(main.out))) && outcome === 'not-ours'
      ? `${partialDirFor(path.resolve(main.out))} is left to the next run on ${main.out}.`
      : 'nothing was written.';
  // The same words as a job that stopped by itself: the user's outcome is the same.
  const message = `${why}; ${what}`;
  process.stderr.write(`error: ${oneLine(message)}\n`);
  if (json) process.stdout.write(JSON.stringify({ type: 'error', error: { code: 'E_CANCELLED', message: oneLine(message) } }) + '\n');
  return 2;
}

/**
 * In the job's process: the supervisor's stop requests go to `stop`; when the supervisor goes
 * away (kill -9 of the CLI), this process ends at once as if killed with it, also in the middle of
 * a device run (its output left for --resume or the next run, as a kill leaves it).
 */
export function watchSupervisor(stop: (sig: NodeJS.Signals) => void): void {
  if (!isJobChild() || !process.connected) return;
  process.channel?.unref();
  process.on('message', (m: unknown) => {
    if (m && typeof m === 'object' && (m as StopNote).type === 'trim-stop') stop((m as StopNote).signal);
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // This thread may be inside a device run for minutes: a thread of its own notices the parent's
  // end (this process is given another parent) and ends this process at once, as killed with it.
  if (process.platform !== 'win32') {
    const w = new Worker(PARENT_WATCH, {
      eval: true,
      workerData: { ppid: process.ppid, pid: process.pid },
      execArgv: [],
      stdout: true,
      stderr: true,
    });
    w.unref();
  }
}

// Every 20 ms: the parent gone → SIGKILL; the parent stopped (kill -STOP; Linux: /proc state T) →
// SIGSTOP, so that the job pauses with the command (the parent's SIGCONT continues it).
const PARENT_WATCH = `const fs = require('node:fs');
const { workerData } = require('node:worker_threads');
const stat = '/proc/' + workerData.ppid + '/stat';
let proc = fs.existsSync(stat);
setInterval(() => {
  if (process.ppid !== workerData.ppid) process.kill(workerData.pid, 'SIGKILL');
  if (!proc) return;
  try {
    const s = fs.readFileSync(stat, 'utf8');
    if (s[s.lastIndexOf(')') + 2] === 'T') process.kill(workerData.pid, 'SIGSTOP');
  } catch {
    proc = false;
  }
}, 20);`;

/** In the job's process: tells the supervisor about an output lock (no-op without one). */
export function noteLock(n: Omit<LockNote, 'type'>): void {
  if (isJobChild() && process.connected) process.send?.({ type: 'trim-lock', ...n } satisfies LockNote, () => {});
}
