/**
 * The lock file of an output path, `.NAME.trim-lock`: its name, its content (LockInfo: who holds
 * it) and whether that holder still runs. The holder is named by host, pid, the process's start time
 * (Linux: /proc/PID/stat field 22, with the boot id; elsewhere `ps -o lstart=`), a random token and
 * the job id; a pid now belonging to a process started at another time, or of an earlier boot, is
 * not the holder. Taking and releasing the lock: outputLock.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { siblingName } from './outputPath';
import { pidAlive } from '../processes';

export const LOCK_FORMAT = 'trim-lock/1';

export interface LockInfo {
  format: typeof LOCK_FORMAT;
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

let boot: string | null | undefined;

export function bootId(): string | null {
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
    if (v && v.format === LOCK_FORMAT && typeof v.token === 'string' && typeof v.pid === 'number' && Array.isArray(v.created)) return v;
  } catch {
    /* fall through */
  }
  return 'invalid';
}
