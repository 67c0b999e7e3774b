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
 * Whoever killed a job (the extension's job manager) cleans up after it only when the lock still
 * names that job (`cleanAfterDeath`): never another job's folder.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { partialDirFor } from '../../contract';
import { TrimError } from '../errors';
import { commitFileFor, ioError, recoverCommit, siblingName, type CommitOutcome } from './output';
import { RESUME_DIR } from './resume';
import { pidAlive } from './processes';

const FORMAT = 'trim-lock/1';

export interface LockInfo {
  format: typeof FORMAT;
  host: string;
  pid: number;
  /** Start time of the process (clock ticks since boot on Linux, `ps` lstart elsewhere), or null. */
  start: string | null;
  boot: string | null;
  token: string;
  job: string;
  /** Parent folders of the output this job created (removed again unless the output was committed). */
  created: string[];
  since: string;
}

export const lockFileFor = (out: string): string => siblingName(out, 'trim-lock');

let ownStart: string | null | undefined;
let boot: string | null | undefined;

function bootId(): string | null {
  if (boot === undefined) {
    try {
      boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      boot = null;
    }
  }
  return boot;
}

/** When process `pid` started, as the system tells it; null when it cannot be told (or no such process). */
export function processStart(pid: number): string | null {
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses; fields resume after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[19] ?? null; // field 22 of the whole line
    } catch {
      return null;
    }
  }
  if (process.platform === 'win32') return null;
  const r = spawnSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', timeout: 5000 });
  const s = r.status === 0 ? r.stdout.trim() : '';
  return s || null;
}

/** Whether the holder of a lock may still be running (a lock of another host always may). */
export function holderAlive(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return true;
  if (info.boot && bootId() && info.boot !== bootId()) return false;
  if (!Number.isInteger(info.pid) || info.pid <= 0 || !pidAlive(info.pid)) return false;
  if (info.start !== null) {
    const now = processStart(info.pid);
    if (now !== null && now !== info.start) return false; // the pid was reused
  }
  return true;
}

/** The lock at `file`: its content, 'invalid' when it cannot be parsed, null when there is none. */
export function readLock(file: string): LockInfo | 'invalid' | null {
  let text: string;
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size > 64 * 1024) return 'invalid';
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return 'invalid';
  }
  try {
    const v = JSON.parse(text) as LockInfo;
    if (v && v.format === FORMAT && typeof v.token === 'string' && typeof v.pid === 'number' && Array.isArray(v.created)) return v;
  } catch {
    /* fall through */
  }
  return 'invalid';
}

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
      format: FORMAT,
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
