/**
 * Runs survive the editor, with the REAL worker (dist/worker.js) on the demo model: the extension
 * host goes away mid-run (JobManager.interrupt, what deactivate calls), a new host's manager
 * resumes the same run from its checkpoint, and the result equals an uninterrupted run's (report
 * rows and the pruned weights' bytes).
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, type PruneOptions, type TrimReport } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { canResume, type JobManager } from '../../src/extension/jobManager';
import type { RunStore } from '../../src/extension/runStore';
import { REAL_WORKER, jobManager } from '../unit/jobHarness';
import { ensureBuilt, ROOT, tmp } from './cli';

const dir = tmp('trim-jm-resume-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function options(name: string): PruneOptions {
  return {
    ...defaultPruneOptions(),
    out: path.join(dir, name),
    nsamples: 32,
    seqlen: 128,
    maxEvalWindows: 2,
    trim: true,
    iterations: 5,
    sparsity: 0.6,
    ep: 'cpu',
  };
}

function manager(storeDir: string): { jm: JobManager; store: RunStore } {
  ensureBuilt();
  return jobManager(storeDir, REAL_WORKER, { TRIM_CACHE_DIR: path.join(dir, 'cache') }, { killGraceMs: 2000, exitGraceMs: 2000 });
}

const rows = (r: TrimReport) => r.blocks.map((b) => b.layers.map((l) => [l.name, l.achieved, l.rowSparsity]));

describe('interrupted by the host, resumed by the next one (real worker)', () => {
  it('the resumed run equals an uninterrupted one', async () => {
    const storeDir = path.join(dir, 'store');
    const ref = manager(path.join(dir, 'store-ref')).jm;
    const full = await ref.whenFinished(ref.submit({ options: options('full'), outAuto: false }).id);
    assert.equal(full.status, 'done', JSON.stringify(full.error));
    await ref.dispose();

    const { jm: old, store } = manager(storeDir);
    const opts = options('cut');
    const run = old.submit({ options: opts, outAuto: false });
    await new Promise<void>((resolve) =>
      old.on('event', (_id, e) => {
        if (e.type === 'block_start' && e.block === 3) resolve();
      }),
    );
    await old.interrupt();
    const cut = store.get(run.id)!;
    assert.equal(cut.status, 'failed');
    assert.equal(cut.error?.code, 'INTERRUPTED');
    assert.ok(canResume(cut), 'a checkpoint of the finished blocks is kept');
    assert.ok(!fs.existsSync(opts.out));

    const next = manager(storeDir).jm;
    const resumedLog: string[] = [];
    next.on('event', (_id, e) => {
      if (e.type === 'log') resumedLog.push(e.message);
    });
    next.resume(run.id);
    const done = await next.whenFinished(run.id);
    assert.equal(done.status, 'done', JSON.stringify(done.error));
    assert.ok(
      resumedLog.some((m) => /Resuming the interrupted run from block [1-3] of 6/.test(m)),
      resumedLog.join(' | '),
    );
    const a = JSON.parse(fs.readFileSync(path.join(opts.out, 'trim-report.json'), 'utf8')) as TrimReport;
    const b = JSON.parse(fs.readFileSync(path.join(dir, 'full', 'trim-report.json'), 'utf8')) as TrimReport;
    assert.deepEqual(rows(a), rows(b));
    assert.equal(a.perplexity.pruned?.perplexity, b.perplexity.pruned?.perplexity);
    assert.ok(
      fs.readFileSync(path.join(opts.out, 'model.safetensors')).equals(fs.readFileSync(path.join(dir, 'full', 'model.safetensors'))),
      'the same pruned weights, byte for byte',
    );
    assert.ok(!fs.existsSync(partialDirFor(opts.out)));
    await next.dispose();
  });
});
