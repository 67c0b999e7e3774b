/**
 * Issue 16, classes 5 and 10: the CLI killed (SIGKILL) right after each change it makes beside
 * its output — taking the lock, creating the partial folder, the commit's journal and renames,
 * releasing the lock — while it replaces an earlier output with --overwrite
 * (test/fixtures/crash-at.cjs picks the moment). After each kill, whoever comes next cleans up:
 * the next run (it must succeed), or the job manager's cleanup for a dead worker (cleanAfterDeath).
 * Either way the output is the old one whole or the new one whole — the new one exactly when the
 * kill came after the journal — the source is unchanged, and nothing else is left.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanAfterDeath } from '../../src/core/io/lockCleanup';
import { rng } from '../../src/core/model/synth';
import { hashTree, tinyModel, tmpDir } from '../unit/badInputs';
import { ensureBuilt, ROOT } from './cli';

const root = tmpDir('trim-kill-');
after(() => fs.rmSync(root, { recursive: true, force: true }));
const CLI = path.join(ROOT, 'dist', 'cli.js');
const PRELOAD = path.join(ROOT, 'test', 'fixtures', 'crash-at.cjs');
const model = path.join(root, 'model');
tinyModel(model);
const modelHash = hashTree(model);
const env = { ...process.env, TRIM_CACHE_DIR: path.join(root, 'cache') };
const args = (out: string, sparsity: string): string[] => [
  'prune',
  '--model',
  model,
  '--out',
  out,
  '--sparsity',
  sparsity,
  '--overwrite',
  '--nsamples',
  '2',
  '--seqlen',
  '16',
  '--no-eval',
  '--ep',
  'cpu',
  '--json',
];

function cli(argv: string[], crash: Record<string, string> = {}): { status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--require', PRELOAD, CLI, ...argv], { cwd: ROOT, encoding: 'utf8', env: { ...env, ...crash } });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

const weights = (out: string): string =>
  createHash('sha256')
    .update(fs.readFileSync(path.join(out, 'model.safetensors')))
    .digest('hex');

describe('SIGKILL after each change beside the output, during an --overwrite run (seeded)', () => {
  let oldOut: string;
  let newWeights: string;
  let ops: string[] = [];
  const points: number[] = [];
  let journal = -1;
  let journalGone = -1;
  const tally = { kills: 0, nextRun: 0, jobManager: 0 };
  after(() =>
    console.log(
      `kill points: ${tally.kills} kills (of ${ops.length} changes), recovered by the next run ${tally.nextRun}, by the job manager ${tally.jobManager}`,
    ),
  );

  before(() => {
    ensureBuilt();
    oldOut = path.join(root, 'old', 'out');
    assert.equal(cli(args(oldOut, '0.5')).status, 0);
    const ref = path.join(root, 'ref', 'out');
    assert.equal(cli(args(ref, '0.6')).status, 0);
    newWeights = weights(ref);
    assert.notEqual(weights(oldOut), newWeights);
    // The changes of one uninterrupted run, listed.
    const dir = path.join(root, 'count');
    fs.cpSync(path.dirname(oldOut), dir, { recursive: true });
    const log = path.join(root, 'ops.log');
    assert.equal(cli(args(path.join(dir, 'out'), '0.6'), { CRASH_DIR: dir, CRASH_LOG: log }).status, 0);
    ops = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(1).join(' '));
    journal = ops.findIndex((o) => /^writeFileSync \.out\.trim-commit$/.test(o)) + 1;
    journalGone = ops.findIndex((o) => /^unlinkSync \.out\.trim-commit$/.test(o)) + 1;
    assert.ok(journal > 0 && journalGone > journal, ops.join('\n'));
    // Every change of the lock and the commit; a seeded few of the writes in between.
    const r = rng(1016);
    ops.forEach((o, i) => {
      if (
        /trim-lock|trim-commit|partial-old|renameSync \.out\.trim-partial$|rmSync \.out\.trim-partial$|mkdirSync \.out\.trim-partial$/.test(
          o,
        ) ||
        r.uniform() < 0.08
      )
        points.push(i + 1);
    });
  });

  it('each kill point: the old output or the new one, whole; the next run or the job manager leaves nothing else', () => {
    for (const k of points) {
      const dir = path.join(root, `k${k}`);
      fs.cpSync(path.dirname(oldOut), dir, { recursive: true });
      const out = path.join(dir, 'out');
      const r = cli(args(out, '0.6'), { CRASH_DIR: dir, CRASH_AT: String(k) });
      assert.equal(r.signal, 'SIGKILL', `point ${k} (${ops[k - 1]}): ${r.stderr}`);
      tally.kills++;
      const what = `after change ${k} (${ops[k - 1]})`;
      const wantNew = k >= journal;
      if (k % 2 === 0) {
        tally.jobManager++;
        const outcome = cleanAfterDeath(out, 'prune');
        assert.equal(outcome === 'committed', k >= journal && k < journalGone, `${what}: ${outcome}`);
        assert.equal(weights(out), wantNew ? newWeights : weights(oldOut), what);
        assert.deepEqual(fs.readdirSync(dir), ['out'], what);
      } else {
        tally.nextRun++;
        const again = cli(args(out, '0.6'));
        assert.equal(again.status, 0, `${what}: ${again.stderr}`);
        assert.equal(weights(out), newWeights, what);
        assert.deepEqual(fs.readdirSync(dir), ['out'], what);
      }
      assert.ok(fs.existsSync(path.join(out, 'trim-report.json')), what);
      fs.rmSync(dir, { recursive: true });
    }
    assert.deepEqual(hashTree(model), modelHash, 'the source changed');
  });
});
