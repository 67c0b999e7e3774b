// Runs survive the editor: when the extension host goes away (reload), the running job is marked
// interrupted (not cancelled) and keeps the resume checkpoint its finished blocks left; Resume
// puts the same run back in the queue with resume: true. Against the fake worker
// (test/fixtures/fake-worker.js); test/integration/resume.test.ts checks that a resumed real
// run equals an uninterrupted one.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions } from '../../src/contract';
import { lockFileFor, type LockInfo } from '../../src/core/io/lockFile';
import { RESUME_DIR as CORE_RESUME_DIR } from '../../src/core/io/resumeFormat';
import { DEFAULTS } from '../../src/extension/configResolve';
import { RESUME_DIR, canResume, cleanInterrupted, hasCheckpoint, isInterrupted, type JobManager } from '../../src/extension/jobManager';
import { RunStore } from '../../src/extension/runStore';
import { FAKE_WORKER, alive, jobManager, waitUntil as waitFor } from './jobHarness';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'trim-resume-jobs-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const options = (name: string): PruneOptions => ({
  ...(DEFAULTS as PruneOptions),
  model: path.join(dir, 'model'),
  out: path.join(dir, name),
  calib: '/dev/null',
  eval: null,
});

const manager = (storeDir: string, mode: string): { jm: JobManager; store: RunStore } =>
  jobManager(storeDir, FAKE_WORKER, { FAKE_WORKER_MODE: mode }, { killGraceMs: 300, exitGraceMs: 300 });

/** What core/resume.ts leaves after a finished block: state.json in the partial folder. */
function fakeCheckpoint(out: string, nextBlock: number): void {
  const d = path.join(partialDirFor(out), RESUME_DIR);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'state.json'), JSON.stringify({ format: 'trim-resume/1', nextBlock }));
}

describe('runs survive the editor', () => {
  it('the extension keeps the checkpoint where core/resume.ts writes it', () => {
    assert.equal(RESUME_DIR, CORE_RESUME_DIR);
  });

  it('a host that goes away marks its running job interrupted, keeps the checkpoint; a new host resumes it', async () => {
    const storeDir = path.join(dir, 'store-a');
    const out = path.join(dir, 'int-out');
    const { jm, store } = manager(storeDir, 'slow');
    const run = jm.submit({ options: options('int-out'), outAuto: true, workspace: 'file:///ws' });
    const queued = jm.submit({ options: options('int-queued'), outAuto: true, workspace: 'file:///ws' });
    await waitFor(() => jm.workerPid !== null && existsSync(partialDirFor(out)));
    fakeCheckpoint(out, 3);
    const pid = jm.workerPid!;
    await jm.interrupt();
    assert.equal(alive(pid), false, 'the worker is gone');
    const r = store.get(run.id)!;
    assert.equal(r.status, 'failed');
    assert.equal(r.error?.code, 'INTERRUPTED', 'not a cancel');
    assert.match(r.error!.message, /Resume continues/);
    assert.ok(isInterrupted(r));
    assert.ok(hasCheckpoint(out), 'the checkpoint of the finished blocks is kept');
    assert.ok(canResume(r));
    const q = store.get(queued.id)!;
    assert.equal(q.error?.code, 'INTERRUPTED');
    assert.equal(canResume(q), false, 'a queued run left no checkpoint');
    // The next host (same store folder) cleans up what cannot be resumed only.
    await cleanInterrupted(store.list());
    assert.ok(hasCheckpoint(out));

    const next = manager(storeDir, 'ok');
    const resumed = next.jm.resume(run.id);
    assert.equal(resumed.id, run.id, 'the same run goes on');
    assert.equal(resumed.options.resume, true);
    const done = await next.jm.whenFinished(run.id);
    assert.equal(done.status, 'done');
    assert.equal(done.error, null);
    const report = JSON.parse(readFileSync(path.join(out, 'trim-report.json'), 'utf8'));
    assert.equal(report.options.resume, true, 'the worker got resume: true');
    assert.throws(() => next.jm.resume(run.id), /cannot be resumed: it is done/);
    assert.throws(() => next.jm.resume(queued.id), /left no checkpoint/);
    await next.jm.dispose();
  });

  it('an interrupted job that had not checkpointed a block leaves nothing behind', async () => {
    const out = path.join(dir, 'int-early');
    const { jm, store } = manager(path.join(dir, 'store-b'), 'slow');
    const run = jm.submit({ options: options('int-early'), outAuto: true });
    await waitFor(() => jm.workerPid !== null && existsSync(partialDirFor(out)));
    await jm.interrupt();
    assert.equal(store.get(run.id)?.error?.code, 'INTERRUPTED');
    assert.ok(!existsSync(partialDirFor(out)), 'no partial folder');
    assert.ok(!existsSync(out));
    assert.equal(canResume(store.get(run.id)!), false);
  });

  it('a user cancel still removes everything, unless the run was itself a resume (as the CLI keeps it)', async () => {
    const { jm, store } = manager(path.join(dir, 'store-c'), 'slow');
    const outA = path.join(dir, 'cancel-plain');
    const a = jm.submit({ options: options('cancel-plain'), outAuto: true });
    await waitFor(() => jm.workerPid !== null && existsSync(partialDirFor(outA)));
    fakeCheckpoint(outA, 2);
    await jm.cancel(a.id);
    assert.equal(store.get(a.id)?.status, 'cancelled');
    assert.ok(!existsSync(partialDirFor(outA)));

    const outB = path.join(dir, 'cancel-resumed');
    const b = jm.submit({ options: { ...options('cancel-resumed'), resume: true }, outAuto: true });
    await waitFor(() => jm.workerPid !== null && existsSync(partialDirFor(outB)));
    fakeCheckpoint(outB, 2);
    await jm.cancel(b.id);
    const rb = store.get(b.id)!;
    assert.equal(rb.status, 'cancelled');
    assert.ok(hasCheckpoint(outB), 'the resumed run keeps its checkpoint');
    assert.ok(canResume(rb), 'Resume is offered for it');
    await jm.dispose();
  });

  it('cleanInterrupted removes a half-written folder without a checkpoint (its lock names the run, whose worker is gone)', async () => {
    const out = path.join(dir, 'stale');
    mkdirSync(partialDirFor(out), { recursive: true });
    writeFileSync(path.join(partialDirFor(out), 'model.safetensors'), 'half');
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const lock: LockInfo = {
      format: 'trim-lock/1',
      host: hostname(),
      pid: dead,
      start: null,
      boot: null,
      token: 't',
      job: 'x',
      created: [],
      since: new Date().toISOString(),
    };
    writeFileSync(lockFileFor(out), JSON.stringify(lock));
    const store = new RunStore(path.join(dir, 'store-d'));
    store.add({
      id: 'x',
      label: 'x',
      status: 'failed',
      options: options('stale'),
      outAuto: true,
      parent: null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      reportPath: null,
      summary: null,
      error: { code: 'INTERRUPTED', message: '' },
      hostPid: null,
    });
    await cleanInterrupted(store.list());
    assert.ok(!existsSync(partialDirFor(out)));
    assert.ok(!existsSync(lockFileFor(out)), 'and its lock is released');
  });
});
