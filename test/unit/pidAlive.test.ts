// pidAlive (src/core/processes.ts): a zombie — a process that ended and that its parent has not
// reaped — is not alive (it holds no lock). The CLI's job process, orphaned when the CLI is killed,
// is one until init reaps it; a lock it named must be taken over at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { pidAlive } from '../../src/core/processes';

const state = (pid: number): string | null => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st[st.lastIndexOf(')') + 2];
  } catch {
    return null;
  }
};

test(
  'a live process is alive; a zombie (kill(pid, 0) still succeeds) is not; a reaped one is not',
  { skip: process.platform !== 'linux' },
  async () => {
    // sh starts `sleep 0.1` in the background, prints its pid, then becomes `sleep 30`, which never
    // reaps it: once it ends, it stays a zombie until `sleep 30` is gone.
    const holder = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = await new Promise<number>((resolve) =>
        createInterface({ input: holder.stdout! }).once('line', (l) => resolve(Number(l))),
      );
      assert.ok(Number.isInteger(pid) && pid > 0);
      assert.equal(pidAlive(holder.pid!), true, 'the holder runs');
      const t0 = Date.now();
      while (state(pid) !== 'Z') {
        assert.ok(Date.now() - t0 < 10_000, `no zombie (state ${state(pid)})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.doesNotThrow(() => process.kill(pid, 0), 'the zombie still answers kill(pid, 0)');
      assert.equal(pidAlive(pid), false);
    } finally {
      holder.kill('SIGKILL');
    }
    assert.equal(pidAlive(2 ** 22 + 12345), false, 'no such pid');
  },
);
