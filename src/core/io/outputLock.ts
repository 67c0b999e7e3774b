/**
 * The lock of an output path: one job at a time may write `--out`, its partial folder and its
 * commit. It is a file beside the output, `.NAME.trim-lock`, created atomically (written whole
 * under a temporary name, then hard-linked to its name, which fails when it exists) BEFORE
 * anything of the output is touched, and removed when the job ends. It names its holder: host,
 * pid, the process's start time (Linux: /proc/PID/stat field 22, with the boot id; elsewhere
 * `ps -o lstart=`), a random token and the job id, and the parent folders the job created.
 *
 * A lock whose holder is gone (pid dead, or the pid now belongs to a process started at another
 * time) is stale: a new job breaks it, one breaker at a time (the breaker takes the lock
 * `.NAME.trim-lock.break-<token>` of that generation first, then removes the stale lock only if it
 * is still the same one), so two jobs started together on a stale lock end with one holder.
 *
 * The lock file's name and content, and whether its holder lives: lockFile.ts; cleaning up after a
 * job that died: lockCleanup.ts.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TrimError } from '../errors';
import { ioError } from './output';
import { commitFileFor } from './outputPath';
import { recoverCommit, type CommitOutcome } from './outputCommit';
import { bootId, LOCK_FORMAT, holderAlive, lockFileFor, processStart, readLock, type LockInfo } from './lockFile';
import { cleanLockDebris, removeEmpty } from './lockCleanup';

let ownStart: string | null | undefined;

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** Creates `dir` and its missing parents one by one; returns those this call created, outermost first. */
function makeParents(dir: string): string[] {
  const missing: string[] = [];
  let cur = dir;
  while (!fs.existsSync(cur)) {
    missing.push(cur);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
      created.push(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        removeEmpty(created);
        throw e;
      }
    }
  }
  return created;
}

export class OutputLock {
  private released = false;

  private constructor(
    readonly out: string,
    readonly file: string,
    readonly info: LockInfo,
  ) {}

  /**
   * Takes the lock of `out` (an absolute, normalised path), creating its missing parent folders.
   * Throws E_OUTPUT naming the holder when another live job has it.
   */
  static acquire(out: string, job: string): OutputLock {
    const file = lockFileFor(out);
    let created: string[];
    try {
      created = makeParents(path.dirname(out));
    } catch (e) {
      throw ioError(`creating the parent folders of ${out}`, e);
    }
    ownStart ??= processStart(process.pid);
    const info: LockInfo = {
      format: LOCK_FORMAT,
      host: os.hostname(),
      pid: process.pid,
      start: ownStart,
      boot: bootId(),
      token: randomBytes(12).toString('hex'),
      job,
      created,
      since: new Date().toISOString(),
    };
    try {
      take(file, info, 0, out);
    } catch (e) {
      removeEmpty(created);
      if (e instanceof TrimError) throw e;
      throw ioError(`locking ${out}`, e);
    }
    cleanLockDebris(out);
    return new OutputLock(out, file, info);
  }

  /** Finishes or rolls back a commit that an earlier job of this output was killed in. */
  recover(): CommitOutcome {
    return recoverCommit(this.out);
  }

  /**
   * Releases the lock (and, after a commit, the commit journal). Unless the output was committed,
   * the parent folders this job created go too (only while empty).
   */
  release(committed: boolean): void {
    if (this.released) return;
    this.released = true;
    const cur = readLock(this.file);
    if (committed) fs.rmSync(commitFileFor(this.out), { force: true });
    if (cur !== null && cur !== 'invalid' && cur.token === this.info.token) fs.rmSync(this.file, { force: true });
    cleanLockDebris(this.out);
    if (!committed) removeEmpty(this.info.created);
  }
}

function take(file: string, info: LockInfo, depth: number, what: string): void {
  if (depth > 4) throw new TrimError('E_OUTPUT', `cannot take the lock ${file}: too many stale locks in a row; remove ${file}* by hand.`);
  const tmp = `${file}.${process.pid}.${info.token}.${depth}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info), { flag: 'wx' });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && fs.existsSync(path.dirname(file))) {
          fs.writeFileSync(tmp, JSON.stringify(info), { flag: 'w' });
          continue;
        }
        if (code !== 'EEXIST') {
          // A filesystem without hard links: exclusive create (a reader may see it empty for an instant).
          if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
            try {
              fs.writeFileSync(file, JSON.stringify(info), { flag: 'wx' });
              return;
            } catch (e2) {
              if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
            }
          } else throw e;
        }
      }
      if (attempt > 400) throw new TrimError('E_OUTPUT', `cannot take the lock ${file}: it keeps changing hands; try again.`);
      const cur = readLock(file);
      if (cur === null) continue; // just released
      if (cur === 'invalid') {
        // Being written by the exclusive-create fallback, or damaged: give it two seconds.
        let age = 0;
        try {
          age = Date.now() - fs.statSync(file).mtimeMs;
        } catch {
          continue;
        }
        if (age < 2000) {
          sleep(20);
          continue;
        }
      } else if (holderAlive(cur)) {
        throw new TrimError(
          'E_OUTPUT',
          `another TRIM job (process ${cur.pid}${cur.host !== info.host ? ` on ${cur.host}` : ''}) is writing ${what}; wait for it, cancel it, or choose another --out.`,
        );
      }
      // Stale: break it, one breaker per generation of the lock.
      const generation = cur === 'invalid' ? `x${lockIdentity(file)}` : cur.token;
      const breaker = `${file}.break-${generation.replace(/[^\w.-]/g, '_')}`;
      try {
        take(breaker, { ...info, token: `${info.token}b${depth}` }, depth + 1, what);
      } catch (e) {
        if (e instanceof TrimError && /another TRIM job/.test(e.message)) {
          sleep(20);
          continue;
        } // someone else is breaking it
        throw e;
      }
      try {
        const again = readLock(file);
        if (
          again === 'invalid'
            ? generation === `x${lockIdentity(file)}`
            : again !== null && again.token === generation && !holderAlive(again)
        ) {
          fs.rmSync(file, { force: true });
        }
      } finally {
        const b = readLock(breaker);
        if (b !== null && b !== 'invalid' && b.token === `${info.token}b${depth}`) fs.rmSync(breaker, { force: true });
      }
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function lockIdentity(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.ino}-${st.mtimeNs}`;
  } catch {
    return 'gone';
  }
}
