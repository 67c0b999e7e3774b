import * as fs from 'node:fs';

/**
 * Whether a process id names a live process (one of another user counts: EPERM). A zombie (ended,
 * not yet reaped by its parent; Linux: state Z or X in /proc/PID/stat) is not live: it holds
 * nothing. The CLI's job process, orphaned when the CLI is killed, is one until init reaps it.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X' && state !== 'x';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT'; // gone meanwhile
  }
}
