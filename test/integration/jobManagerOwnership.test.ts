/**
 * Issue 16 through the extension's job manager with the REAL worker (dist/worker.js):
 *  - class 2: a job refused because a CLI job writes the same output leaves that job's partial
 *    folder alone, and the CLI job completes with a whole output;
 *  - class 1/3: outputs that reach the source by another spelling, or folders that are not a TRIM
 *    output, end the run failed with the typed error, nothing touched;
 *  - class 10: Cancel while the worker is in its commit (held there with SIGSTOP by
 *    test/fixtures/crash-at.cjs): after the journal the run is reported done with its output in
 *    place, before it the run is cancelled and the previous output is whole; nothing else is left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { lockFileFor } from '../../src/core/io/lockFile';
import type { JobManager } from '../../src/extension/jobManager';
import { REAL_WORKER, jobManager } from '../unit/jobHarness';
import { hashTree, tinyModel, tmpDir } from '../unit/badInputs';
import { ensureBuilt, ROOT } from './cli';

const root = tmpDir('trim-jm-own-');
after(() => fs.rmSync(root, { recursive: true, force: true }));
const CLI = path.join(ROOT, 'dist', 'cli.js');
const PRELOAD = path.join(ROOT, 'test', 'fixtures', 'crash-at.cjs');
const model = path.join(root, 'model');
tinyModel(model);
const slowModel = path.join(root, 'model-12');
tinyModel(slowModel, { layers: 12 });
const cacheEnv = { TRIM_CACHE_DIR: path.join(root, 'cache') };

function manager(extraEnv: Record<string, string> = {}): JobManager {
  return jobManager(
    path.join(root, `store-${Math.random()}`),
    REAL_WORKER,
    { ...cacheEnv, ...extraEnv },
    { killGraceMs: 300, exitGraceMs: 2000 },
  ).jm;
}

const options = (patch: Partial<PruneOptions>): PruneOptions => ({
  ...defaultPruneOptions(),
  model,
  nsamples: 2,
  seqlen: 16,
  eval: null,
  ep: 'cpu',
  out: path.join(root, 'unused'),
  ...patch,
});

const waitFor = async (cond: () => boolean, what: string, ms = 60000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    assert.ok(Date.now() - t0 < ms, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const stopped = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
};
const weights = (out: string): string =>
  createHash('sha256')
    .update(fs.readFileSync(path.join(out, 'model.safetensors')))
    .digest('hex');

describe(
  'job manager + real worker: ownership of outputs (issue 16)',
  { skip: process.platform !== 'linux' ? 'needs /proc' : false },
  () => {
    before(() => ensureBuilt());

    it("class 2: a job refused because a CLI job writes the output leaves that job's work alone; the CLI job completes whole", async () => {
      const out = path.join(root, 'shared', 'X');
      const cli = spawn(
        process.execPath,
        [CLI, 'prune', '--model', slowModel, '--out', out, '--nsamples', '8', '--seqlen', '64', '--no-eval', '--ep', 'cpu', '--json'],
        { cwd: ROOT, env: { ...process.env, ...cacheEnv }, stdio: 'ignore' },
      );
      const cliDone = new Promise<number | null>((r) => cli.on('close', r));
      await waitFor(() => fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), "the CLI job's partial folder");
      cli.kill('SIGSTOP'); // hold it mid-run, so that the comparison below is exact
      // The CLI runs the job in a child (src/cliSupervisor.ts), which pauses with it: wait until it has.
      const job = (JSON.parse(fs.readFileSync(lockFileFor(out), 'utf8')) as { pid: number }).pid;
      await waitFor(() => stopped(job), "the CLI's job process to pause with it", 5000);
      let before: Record<string, string>;
      try {
        before = hashTree(partialDirFor(out));
        const jm = manager();
        for (const overwrite of [true, false]) {
          const run = jm.submit({ options: options({ model: slowModel, out, overwrite }), outAuto: false });
          const r = await jm.whenFinished(run.id);
          assert.equal(r.status, 'failed');
          assert.equal(r.error?.code, 'E_OUTPUT');
          assert.match(r.error!.message, /another TRIM job \(process \d+\) is writing/);
          assert.deepEqual(hashTree(partialDirFor(out)), before, "the CLI job's partial folder is as it was");
        }
        await jm.dispose();
      } finally {
        cli.kill('SIGCONT');
      }
      assert.equal(await cliDone, 0);
      const files = fs.readdirSync(out).sort();
      assert.deepEqual(files, [
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
        'trim-report.json',
      ]);
      assert.deepEqual(fs.readdirSync(path.dirname(out)), ['X']);
    });

    it('class 1 and 3: the source by other spellings, documents, a file: failed with the typed error, nothing touched', async () => {
      const link = path.join(root, 'link-to-model');
      fs.symlinkSync(model, link);
      const docs = path.join(root, 'Documents');
      fs.mkdirSync(path.join(docs, 'inner'), { recursive: true });
      fs.writeFileSync(path.join(docs, 'letter.txt'), 'dear');
      const srcHash = hashTree(model);
      const docsHash = hashTree(docs);
      const jm = manager();
      const cases: [Partial<PruneOptions>, string, RegExp][] = [
        [{ model: link, out: model, overwrite: true }, 'E_OPTION', /is the source model folder/],
        [{ model: link, out: root, overwrite: true }, 'E_OPTION', /contains the source model folder/],
        [{ model, out: `${model}/..pruned` }, 'E_OPTION', /lies inside the source model folder/],
        [{ model, out: `${link}/`, overwrite: true }, 'E_OPTION', /is the source model folder/],
        [{ model, out: docs, overwrite: true }, 'E_OUTPUT', /is not a TRIM output \(it holds no trim-report\.json/],
        [{ model, out: path.join(docs, 'letter.txt'), overwrite: true }, 'E_OUTPUT', /is not a TRIM output \(it is a file\)/],
      ];
      for (const [patch, code, message] of cases) {
        const run = jm.submit({ options: options(patch), outAuto: false });
        const r = await jm.whenFinished(run.id);
        assert.equal(r.status, 'failed', JSON.stringify(patch));
        assert.equal(r.error?.code, code, r.error?.message);
        assert.match(r.error!.message, message);
      }
      await jm.dispose();
      assert.deepEqual(hashTree(model), srcHash);
      assert.deepEqual(hashTree(docs), docsHash);
      assert.deepEqual(
        fs.readdirSync(root).filter((f) => f.startsWith('.')),
        [],
        'no lock or partial folder anywhere',
      );
    });

    it('class 10: the host goes away mid-run (IPC disconnected): the worker releases its lock and keeps only its resume checkpoint (the next host offers Resume)', async () => {
      const { fork } = await import('node:child_process');
      const base = path.join(root, 'orphan');
      fs.mkdirSync(base);
      const out = path.join(base, 'out');
      const child = fork(path.join(ROOT, 'dist', 'worker.js'), [], {
        execArgv: [],
        env: { ...process.env, ...cacheEnv },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      const gone = new Promise<number | null>((r) => child.on('exit', r));
      child.send({
        type: 'run',
        spec: { kind: 'prune', id: 'orphan-job', options: options({ model: slowModel, out, nsamples: 8, seqlen: 64 }) },
      });
      await waitFor(() => fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), "the worker's partial folder");
      child.disconnect();
      assert.equal(await gone, 1);
      assert.deepEqual(fs.readdirSync(base), [path.basename(partialDirFor(out))], 'no lock, no output: only the partial folder');
      assert.ok(fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), 'its resume checkpoint is kept');
    });

    // Cancel while the worker is held at a moment of its commit of an --overwrite run.
    // [moment, the change after which the worker is held, the run's end, whether Cancel still applies]
    const moments: [string, string, 'done' | 'cancelled', boolean][] = [
      ['the report written, before the journal', '^writeFileSync \\.out\\.trim-partial/trim-report\\.json$', 'cancelled', true],
      ['the journal written', '^writeFileSync \\.out\\.trim-commit$', 'done', true],
      ['the old output moved aside', '^renameSync out$', 'done', true],
      ['the new output in place', '^renameSync \\.out\\.trim-partial$', 'done', true],
      // The `done` event has reached the host before the lock is released: nothing left to cancel.
      ['the journal removed, the lock not yet', '^unlinkSync \\.out\\.trim-commit$', 'done', false],
    ];
    for (const [moment, match, status, cancels] of moments) {
      it(`class 10: Cancel with the worker held after ${moment}: the run is ${status}, the output whole, nothing else left`, async () => {
        const dir = path.join(root, `commit-${moments.findIndex((m) => m[0] === moment)}`);
        const out = path.join(dir, 'out');
        const first = manager();
        const made = first.submit({ options: options({ out, sparsity: 0.5 }), outAuto: false });
        assert.equal((await first.whenFinished(made.id)).status, 'done');
        await first.dispose();
        const oldWeights = weights(out);
        const jm = manager({ NODE_OPTIONS: `--require ${PRELOAD}`, CRASH_DIR: dir, CRASH_MATCH: match, CRASH_MODE: 'stop' });
        const run = jm.submit({ options: options({ out, sparsity: 0.6, overwrite: true }), outAuto: false });
        await waitFor(() => jm.workerPid !== null && stopped(jm.workerPid), `the worker held at ${moment}`);
        assert.equal(await jm.cancel(run.id), cancels);
        const r = await jm.whenFinished(run.id);
        await jm.dispose();
        assert.equal(r.status, status, JSON.stringify(r.error));
        if (status === 'done') {
          assert.notEqual(weights(out), oldWeights, 'the new output is in place');
          assert.equal(r.reportPath, `${out}/trim-report.json`);
          assert.equal(r.summary?.sparsity, JSON.parse(fs.readFileSync(r.reportPath!, 'utf8')).sparsity);
        } else {
          assert.equal(weights(out), oldWeights, 'the previous output is whole');
        }
        assert.deepEqual(fs.readdirSync(dir), ['out'], 'no partial, old, journal or lock left');
      });
    }
  },
);
