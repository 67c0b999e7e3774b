/**
 * Cleaning up after a job that is gone. Whoever killed a job (the extension's job manager, the CLI's
 * supervisor) cleans up after it only when the lock still names that job (`cleanAfterDeath`): never
 * another job's folder. Also here: the temporaries of lock takers that died (cleanLockDebris) and the
 * parent folders a job created, removed again while empty (missingParents, removeEmpty).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor } from '../../contract';
import { holderAlive, lockFileFor, readLock } from './lockFile';
import { recoverCommit } from './outputCommit';
import { RESUME_DIR } from './resumeFormat';
import { pidAlive } from '../processes';

/** The folders `mkdir -p dir` would create now, outermost first (the job manager notes them before a job starts). */
export function missingParents(dir: string): string[] {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  while (!fs.existsSync(cur)) {
    missing.push(cur);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return missing.reverse();
}

/**
 * Removes the temporaries of lock takers that died before finishing (`.NAME.trim-lock.*`: a
 * lock written under its temporary name, a breaker's lock) when their holder is gone; a file not
 * yet written (killed between create and write) when the pid in its name is gone, or once it is a
 * second old.
 */
export function cleanLockDebris(out: string): void {
  const lock = lockFileFor(out);
  const dir = path.dirname(lock);
  const prefix = `${path.basename(lock)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((f) => f.startsWith(prefix));
  } catch {
    return;
  }
  for (const f of names) {
    const p = path.join(dir, f);
    const cur = readLock(p);
    let dead = false;
    if (cur === 'invalid') {
      // Not written yet: its taker's pid is in the name (`.NAME.trim-lock.PID.TOKEN.N.tmp`).
      const pid = Number(/^(\d+)\./.exec(f.slice(prefix.length))?.[1]);
      try {
        dead = (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) || Date.now() - fs.statSync(p).mtimeMs > 1000;
      } catch {
        dead = false;
      }
    } else if (cur !== null) dead = !holderAlive(cur);
    if (dead) fs.rmSync(p, { force: true });
  }
}

/** Removes the given folders, innermost first, as long as they are empty (never their content). */
export function removeEmpty(created: string[]): void {
  for (const d of created.slice().reverse()) {
    try {
      fs.rmdirSync(d);
    } catch {
      return; // not empty (someone else's files) or already gone: stop here
    }
  }
}

export type AfterDeath = 'not-ours' | 'cleaned' | 'committed' | 'kept';

/** Whether the partial folder of `out` holds a resume checkpoint (resume.ts: its state.json). */
export function hasResumeCheckpoint(out: string): boolean {
  return fs.existsSync(path.join(partialDirFor(path.resolve(out)), RESUME_DIR, 'state.json'));
}

/**
 * After the process of job `job` (pid `pid`) is gone, or by that process itself as it exits
 * without finishing (the worker when its host went away): when the lock of `out` still names it,
 * finishes or rolls back its commit, removes its partial folder and the parent folders it created,
 * and releases the lock. `committed`: the output was in place (the job's result is there).
 * With `keepCheckpoint` (a run interrupted by its host's end, or a cancelled resumed run), a
 * partial folder that holds a resume checkpoint is kept for --resume: `kept`.
 * Anything that the lock does not name as this job's is left alone.
 */
export function cleanAfterDeath(out: string, job: string, pid?: number, keepCheckpoint = false): AfterDeath {
  out = path.resolve(out);
  const file = lockFileFor(out);
  cleanLockDebris(out);
  const cur = readLock(file);
  if (cur === null || cur === 'invalid' || cur.job !== job || (pid !== undefined && cur.pid !== pid)) return 'not-ours';
  // The holder must be gone — or be this very process, abandoning its job (the worker whose host went away).
  if (cur.pid !== process.pid && holderAlive(cur)) return 'not-ours';
  const outcome = recoverCommit(out);
  const kept = outcome !== 'committed' && keepCheckpoint && hasResumeCheckpoint(out);
  if (outcome !== 'committed' && !kept) fs.rmSync(partialDirFor(out), { recursive: true, force: true });
  const again = readLock(file);
  if (again !== null && again !== 'invalid' && again.token === cur.token) fs.rmSync(file, { force: true });
  if (outcome !== 'committed' && !kept) removeEmpty(cur.created);
  return outcome === 'committed' ? 'committed' : kept ? 'kept' : 'cleaned';
}
