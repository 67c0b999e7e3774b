// The job manager against a fake worker that speaks the real IPC protocol
// (test/fixtures/fake-worker.js). The lead's integration tests run the same manager against
// dist/worker.js on the demo model.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions, type TrimEvent } from '../../src/contract';
import { DEFAULTS } from '../../src/extension/configResolve';
import type { JobManager, JobManagerOptions } from '../../src/extension/jobManager';
import { RunStore } from '../../src/extension/runStore';
import { FAKE_WORKER, alive, jobManager, waitUntil as waitFor } from './jobHarness';

let dir: string;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'trim-jobs-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function options(name: string): PruneOptions {
  return {
    ...(DEFAULTS as PruneOptions),
    model: path.join(dir, 'model'),
    out: path.join(dir, name),
    calib: '/dev/null',
    eval: null,
  };
}

function manager(mode: string, extra: Partial<JobManagerOptions> = {}): { jm: JobManager; store: RunStore } {
  return jobManager(
    path.join(dir, `store-${mode}-${Math.random()}`),
    FAKE_WORKER,
    { FAKE_WORKER_MODE: mode },
    { killGraceMs: 300, exitGraceMs: 300, ...extra },
  );
}

describe('JobManager', () => {
  it('runs a job: events in order, output renamed into place, run persisted as done', async () => {
    const { jm, store } = manager('ok');
    const events: TrimEvent[] = [];
    let snapshotAtDone: ReturnType<JobManager['snapshot']>;
    jm.on('event', (id, e) => {
      events.push(e);
      if (e.type === 'done') snapshotAtDone = jm.snapshot(id);
    });
    const run = jm.submit({ options: options('ok-out'), outAuto: true });
    assert.equal(store.get(run.id)?.status, 'running');
    const done = await jm.whenFinished(run.id);
    assert.equal(done.status, 'done');
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['start', 'phase', 'eval', 'block_start']);
    assert.equal(types.at(-1), 'done');
    assert.equal(types.filter((t) => t === 'layer').length, 14);
    // block_end of block b comes after its 7 layer events and before block b+1 starts.
    const order = events
      .filter((e) => e.type === 'block_start' || e.type === 'block_end')
      .map((e) => `${e.type}:${(e as { block: number }).block}`);
    assert.deepEqual(order, ['block_start:0', 'block_end:0', 'block_start:1', 'block_end:1']);
    assert.ok(existsSync(path.join(dir, 'ok-out', 'trim-report.json')));
    assert.ok(!existsSync(partialDirFor(path.join(dir, 'ok-out'))));
    assert.deepEqual(done.summary, { sparsity: 0.5, perplexity: 120, densePerplexity: 100, ep: 'cpu', seconds: 1.5 });
    assert.equal(done.reportPath, path.join(dir, 'ok-out', 'trim-report.json'));
    assert.equal(done.hostPid, null);
    // Persisted: a new store on the same folder (a reload) reads the same run.
    const reloaded = new RunStore(path.dirname(store.file));
    assert.equal(reloaded.get(run.id)?.status, 'done');
    // While it ran, the live snapshot folded every event; once done, the report is the source.
    assert.equal(snapshotAtDone?.status, 'done');
    assert.equal(snapshotAtDone?.blocks.length, 2);
    assert.equal(snapshotAtDone?.perplexity.pruned?.perplexity, 120);
    assert.equal(jm.snapshot(run.id), undefined);
    await jm.dispose();
  });

  it('runs one job at a time, in submission order', async () => {
    const { jm, store } = manager('ok');
    const started: string[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    jm.on('change', (r) => {
      if (r.status === 'running') {
        started.push(r.id);
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
      }
      if (r.status === 'done') concurrent--;
    });
    const a = jm.submit({ options: options('q-a'), outAuto: true });
    const b = jm.submit({ options: options('q-b'), outAuto: true });
    const c = jm.submit({ options: options('q-c'), outAuto: true });
    assert.deepEqual(jm.queued, [b.id, c.id]);
    assert.equal(store.get(b.id)?.status, 'queued');
    await jm.whenFinished(c.id);
    assert.deepEqual(started, [a.id, b.id, c.id]);
    assert.equal(maxConcurrent, 1);
    assert.ok([a, b, c].every((r) => store.get(r.id)?.status === 'done'));
    await jm.dispose();
  });

  it('cancel kills the worker, leaves no partial or output folder and no process', async () => {
    const { jm, store } = manager('slow');
    const out = path.join(dir, 'cancel-out');
    const run = jm.submit({ options: options('cancel-out'), outAuto: true });
    let layers = 0;
    jm.on('event', (_id, e) => {
      if (e.type === 'layer') layers++;
    });
    await waitFor(() => layers >= 3);
    const pid = jm.workerPid!;
    assert.ok(alive(pid));
    assert.ok(existsSync(partialDirFor(out)), 'the fake worker has a partial folder by now');
    assert.equal(await jm.cancel(run.id), true);
    assert.equal(store.get(run.id)?.status, 'cancelled');
    assert.equal(alive(pid), false);
    assert.ok(!existsSync(partialDirFor(out)));
    assert.ok(!existsSync(out));
    assert.equal(jm.busy, false);
    await jm.dispose();
  });

  it('cancel escalates to SIGKILL when the worker ignores SIGTERM', async () => {
    const { jm, store } = manager('ignore-term');
    const run = jm.submit({ options: options('stubborn-out'), outAuto: true });
    let layers = 0;
    jm.on('event', (_id, e) => {
      if (e.type === 'layer') layers++;
    });
    await waitFor(() => layers >= 1);
    const pid = jm.workerPid!;
    const t0 = Date.now();
    await jm.cancel(run.id);
    assert.ok(Date.now() - t0 >= 250, 'waited for the grace period before SIGKILL');
    assert.equal(alive(pid), false);
    assert.equal(store.get(run.id)?.status, 'cancelled');
    assert.ok(!existsSync(partialDirFor(path.join(dir, 'stubborn-out'))));
    await jm.dispose();
  });

  it('cancelling a queued job removes it from the queue; the running one goes on', async () => {
    const { jm, store } = manager('ok');
    const a = jm.submit({ options: options('qc-a'), outAuto: true });
    const b = jm.submit({ options: options('qc-b'), outAuto: true });
    assert.equal(await jm.cancel(b.id), true);
    assert.equal(store.get(b.id)?.status, 'cancelled');
    assert.equal((await jm.whenFinished(a.id)).status, 'done');
    assert.ok(!existsSync(path.join(dir, 'qc-b')));
    await jm.dispose();
  });

  it('a worker that exits without a result fails the run with WORKER_CRASHED and its stderr', async () => {
    const { jm } = manager('crash');
    const out = path.join(dir, 'crash-out');
    const run = jm.submit({ options: options('crash-out'), outAuto: true });
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'failed');
    assert.equal(r.error?.code, 'WORKER_CRASHED');
    assert.match(r.error!.message, /exit code 3/);
    assert.match(r.error!.message, /simulated native abort/);
    assert.ok(!existsSync(partialDirFor(out)), 'the half-written partial folder was removed');
    assert.equal(jm.snapshot(run.id)?.status, 'failed');
    await jm.dispose();
  });

  it('a worker killed by a signal fails the run', async () => {
    const { jm } = manager('signal');
    const run = jm.submit({ options: options('sig-out'), outAuto: true });
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'failed');
    assert.match(r.error!.message, /signal SIGKILL/);
    await jm.dispose();
  });

  it("an error event fails the run with the worker's own error", async () => {
    const { jm } = manager('error');
    const run = jm.submit({ options: options('err-out'), outAuto: true });
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'failed');
    assert.deepEqual(r.error, { code: 'BAD_MODEL', message: 'config.json names an unsupported architecture' });
    await jm.dispose();
  });

  it('a worker that lingers after done is ended and the run stays done', async () => {
    const { jm } = manager('linger');
    const run = jm.submit({ options: options('linger-out'), outAuto: true });
    let pid = 0;
    jm.on('event', (_id, e) => {
      if (e.type === 'start') pid = jm.workerPid!;
    });
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'done');
    assert.equal(alive(pid), false);
    await jm.dispose();
  });

  it('a worker that cannot start fails the run', async () => {
    const { jm } = manager('ok', { execPath: path.join(dir, 'no-such-node') });
    const run = jm.submit({ options: options('nostart-out'), outAuto: true });
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'failed');
    assert.equal(r.error?.code, 'WORKER_START_FAILED');
    await jm.dispose();
  });

  it('dispose kills the running worker and cancels the queue', async () => {
    const { jm, store } = manager('slow');
    const a = jm.submit({ options: options('disp-a'), outAuto: true });
    const b = jm.submit({ options: options('disp-b'), outAuto: true });
    await waitFor(() => jm.workerPid !== null);
    const pid = jm.workerPid!;
    await jm.dispose();
    assert.equal(alive(pid), false);
    assert.equal(store.get(a.id)?.status, 'cancelled');
    assert.equal(store.get(b.id)?.status, 'cancelled');
    assert.ok(!existsSync(partialDirFor(path.join(dir, 'disp-a'))));
    const file = JSON.parse(readFileSync(store.file, 'utf8'));
    assert.equal(file.runs.length, 2);
  });
});
