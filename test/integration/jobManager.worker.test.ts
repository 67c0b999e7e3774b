/**
 * The extension's job manager against the REAL worker (dist/worker.js) on the demo model:
 * progress events in order, Cancel leaves no output folder and no orphan process, a crashed
 * worker surfaces as an error in the run.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, type PruneOptions, type TrimEvent } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import type { JobManager } from '../../src/extension/jobManager';
import { REAL_WORKER, alive, jobManager } from '../unit/jobHarness';
import { ensureBuilt, ROOT, tmp } from './cli';

const dir = tmp('trim-jm-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function options(name: string): PruneOptions {
  return {
    ...defaultPruneOptions(),
    out: path.join(dir, name),
    nsamples: 16,
    seqlen: 128,
    maxEvalWindows: 4,
    trim: true,
    iterations: 2,
    ep: 'cpu',
  };
}

function manager(): JobManager {
  ensureBuilt();
  return jobManager(
    path.join(dir, `store-${Math.random()}`),
    REAL_WORKER,
    { TRIM_CACHE_DIR: path.join(dir, 'cache') },
    { killGraceMs: 2000, exitGraceMs: 2000 },
  ).jm;
}

describe('JobManager with the real worker', () => {
  it('runs the demo model: events in order, report on disk, run done', async () => {
    const jm = manager();
    const events: TrimEvent[] = [];
    jm.on('event', (_id, e) => events.push(e));
    const run = jm.submit({ options: options('ok'), outAuto: false });
    const done = await jm.whenFinished(run.id);
    assert.equal(done.status, 'done', JSON.stringify(done.error));
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'start');
    assert.equal(types.at(-1), 'done');
    const blocks = events.filter((e) => e.type === 'block_end').map((e) => (e as { block: number }).block);
    assert.deepEqual(blocks, [0, 1, 2, 3, 4, 5]);
    // Every block: block_start, 7 layer events, block_end, in that order.
    for (let b = 0; b < 6; b++) {
      const i = events.findIndex((e) => e.type === 'block_start' && e.block === b);
      const slice = events.slice(i, i + 9).map((e) => e.type);
      assert.deepEqual(slice, ['block_start', ...new Array(7).fill('layer'), 'block_end'], `block ${b}`);
    }
    assert.ok(types.lastIndexOf('eval') > types.lastIndexOf('block_end'), 'the pruned evaluation follows the blocks');
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'ok', 'trim-report.json'), 'utf8'));
    assert.equal(report.blocks.length, 6);
    assert.equal(report.options.iterations, 2);
    await jm.dispose();
  });

  it('Cancel during a block leaves no output folder, no partial folder and no worker process', async () => {
    const jm = manager();
    const opts = options('cancelled');
    const run = jm.submit({ options: opts, outAuto: false });
    await new Promise<void>((resolve) =>
      jm.on('event', (_id, e) => {
        if (e.type === 'block_start' && e.block === 2) resolve();
      }),
    );
    const pid = jm.workerPid!;
    assert.ok(pid && alive(pid));
    assert.ok(fs.existsSync(partialDirFor(opts.out)), 'the partial folder exists while running');
    assert.equal(await jm.cancel(run.id), true);
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'cancelled');
    assert.ok(!fs.existsSync(opts.out));
    assert.ok(!fs.existsSync(partialDirFor(opts.out)));
    assert.ok(!alive(pid), 'worker process is gone');
    await jm.dispose();
  });

  it('a worker killed from outside (crash) surfaces as an error in the run, and its partial output is removed', async () => {
    const jm = manager();
    const opts = options('crashed');
    const run = jm.submit({ options: opts, outAuto: false });
    await new Promise<void>((resolve) =>
      jm.on('event', (_id, e) => {
        if (e.type === 'block_end' && e.block === 1) resolve();
      }),
    );
    process.kill(jm.workerPid!, 'SIGKILL');
    const r = await jm.whenFinished(run.id);
    assert.equal(r.status, 'failed');
    assert.equal(r.error?.code, 'WORKER_CRASHED');
    assert.match(r.error!.message, /SIGKILL|signal/i);
    assert.ok(!fs.existsSync(opts.out));
    assert.ok(!fs.existsSync(partialDirFor(opts.out)));
    await jm.dispose();
  });
});
