// Kill points (issue 16, class 4): a small prune through the real CLI is stopped at every point
// where it can be stopped in a way that matters — every JSON event it writes, every rename and
// every fsync (the atomic writes of the output and of the resume checkpoint) — by SIGKILL, at
// that very point (test/fixtures/kill-hook.js, preloaded, kills the process synchronously), then
// `--resume` finishes it. The result must equal an uninterrupted run byte for byte (every file;
// the report's numbers), whatever the point: the fused path at every point, the block-by-block
// path (TRIM_FUSED=0) and Ctrl-C (SIGINT) at seeded samples, and a seeded set of runs killed
// twice. The counts are printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type TrimReport } from '../../src/contract';
import { tinyModel } from '../unit/badInputs';
import { ensureBuilt, ROOT, tmp } from './cli';
import { rng as seededRng } from '../../src/core/model/synth';

const root = tmp('trim-killpoints-');
const model = path.join(root, 'tiny');
const HOOK = path.join(ROOT, 'test', 'fixtures', 'kill-hook.js');
const calib = path.join(root, 'calib.txt');
const ARGS = [
  'prune',
  '--model',
  model,
  '--calib',
  calib,
  '--trim',
  '--iterations',
  '2',
  '--nsamples',
  '4',
  '--seqlen',
  '32',
  '--no-eval',
  '--ep',
  'cpu',
  '--json',
];
const counted = { cases: 0, resumedBitForBit: 0, doubleKills: 0, sigint: 0 };
after(() => {
  console.log(
    `kill points: ${counted.cases} cases (${counted.doubleKills} killed twice, ${counted.sigint} by SIGINT), ${counted.resumedBitForBit} results equal to the uninterrupted run`,
  );
  fs.rmSync(root, { recursive: true, force: true });
});

/** Deterministic pseudo-random numbers: the synthetic checkpoints' mulberry32 (src/core/model/synth.ts). */
const rng = (seed: number): (() => number) => seededRng(seed).uniform;

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, hook = false): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(hook ? ['--require', HOOK] : []), path.join(ROOT, 'dist', 'cli.js'), ...args], {
      env: { ...process.env, TRIM_CACHE_DIR: path.join(root, 'cache'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Every file of the output and the report's figures equal the reference's. */
function assertSame(out: string, ref: string, what: string): void {
  const files = fs.readdirSync(ref).sort();
  assert.deepEqual(fs.readdirSync(out).sort(), files, `${what}: files`);
  for (const f of files) {
    if (f === 'trim-report.json') continue;
    assert.ok(
      fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f))),
      `${what}: ${f} differs from the uninterrupted run`,
    );
  }
  const a = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8')) as TrimReport;
  const b = JSON.parse(fs.readFileSync(path.join(ref, 'trim-report.json'), 'utf8')) as TrimReport;
  const strip = (r: TrimReport): unknown => ({
    sparsity: r.sparsity,
    blocks: r.blocks.map((blk) => ({ ...blk, seconds: null, layers: blk.layers.map((l) => ({ ...l, seconds: null })) })),
  });
  assert.deepEqual(strip(a), strip(b), `${what}: report`);
  assert.ok(!fs.existsSync(partialDirFor(out)), `${what}: the partial folder is gone`);
}

interface Counts {
  event: number;
  rename: number;
  fsync: number;
}
type Point = { kind: keyof Counts | 'sigint'; n: number };

describe('--resume after a kill at every point of a small run', () => {
  const refs: Record<string, string> = {};
  const counts: Record<string, Counts> = {};
  before(async () => {
    ensureBuilt();
    tinyModel(model);
    // A short calibration text (4 windows × 32 tokens need 128 tokens): each run tokenizes less.
    fs.writeFileSync(calib, fs.readFileSync(path.join(ROOT, 'media', 'data', 'calib.txt'), 'utf8').slice(0, 3000));
    for (const p of ['fused', 'host']) {
      const out = path.join(root, `ref-${p}`);
      const countFile = path.join(root, `counts-${p}.json`);
      const r = await run([...ARGS, '--out', out], { TRIM_FUSED: p === 'host' ? '0' : '1', TRIM_TEST_COUNT: countFile }, true);
      assert.equal(r.status, 0, r.stderr);
      refs[p] = out;
      counts[p] = JSON.parse(fs.readFileSync(countFile, 'utf8')) as Counts;
    }
    // Both paths give the same bytes (test/integration/fusedEquivalence.test.ts): one reference would do.
    assertSame(refs.host, refs.fused, 'host vs fused');
  });

  /** Kills a run at `first` (and its resume at `second`), resumes, and compares. */
  async function killAndResume(p: string, id: string, first: Point, second: Point | null, withResume: boolean): Promise<void> {
    const out = path.join(root, `out-${id}`);
    const env = { TRIM_FUSED: p === 'host' ? '0' : '1' };
    const label = `${p} ${first.kind}:${first.n}${second ? ` then ${second.kind}:${second.n}` : ''}`;
    const stop = async (pt: Point, resume: boolean, mayFinish = false): Promise<void> => {
      const kill =
        pt.kind === 'sigint' ? { TRIM_TEST_KILL: `event:${pt.n}`, TRIM_TEST_SIGNAL: 'SIGINT' } : { TRIM_TEST_KILL: `${pt.kind}:${pt.n}` };
      const r = await run([...ARGS, '--out', out, ...(resume ? ['--resume'] : [])], { ...env, ...kill }, true);
      if (pt.kind === 'sigint') {
        // Ctrl-C: a clean stop (exit 2, one error line) or, when it came after the last step, success.
        assert.ok(r.status === 2 || r.status === 0, `${label}: SIGINT exit ${r.status} ${r.signal}: ${r.stderr}`);
        if (r.status === 2) assert.match(r.stderr, /^error: Cancelled; /m);
      } else if (!(mayFinish && r.status === 0)) assert.equal(r.signal, 'SIGKILL', `${label}: not killed (${r.status}): ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${label}: a stack trace`);
    };
    await stop(first, withResume);
    // A resumed run has fewer points than a whole one: it may finish before the second.
    if (second) await stop(second, true, true);
    if (!fs.existsSync(out)) {
      const r = await run([...ARGS, '--out', out, '--resume'], env);
      assert.equal(r.status, 0, `${label}: resume failed: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^error:/m, label);
    }
    assertSame(out, refs[p], label);
    fs.rmSync(out, { recursive: true, force: true });
    counted.resumedBitForBit++;
  }

  /** Runs the cases two at a time (two cores). */
  async function pool(cases: (() => Promise<void>)[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < cases.length) await cases[next++]();
    };
    await Promise.all([worker(), worker()]);
  }

  it('fused path: every event, every rename, every fsync', async () => {
    const c = counts.fused;
    const cases: (() => Promise<void>)[] = [];
    const random = rng(16);
    for (const kind of ['event', 'rename', 'fsync'] as const) {
      for (let n = 1; n <= c[kind]; n++) {
        const id = `f-${kind}-${n}`;
        // Half of the killed runs were themselves --resume runs (nothing to resume yet, or a checkpoint).
        const withResume = random() < 0.5;
        cases.push(async () => {
          counted.cases++;
          await killAndResume('fused', id, { kind, n }, null, withResume);
        });
      }
    }
    await pool(cases);
  });

  it('block-by-block path, Ctrl-C and double kills: seeded samples', async () => {
    const random = rng(1616);
    const pick = (c: Counts): Point => {
      const kind = (['event', 'rename', 'fsync'] as const)[Math.floor(random() * 3)];
      return { kind, n: 1 + Math.floor(random() * c[kind]) };
    };
    const cases: (() => Promise<void>)[] = [];
    // TRIM_TEST_ALL_KILL_POINTS=1: every point of the block-by-block path too (slower).
    const all = process.env.TRIM_TEST_ALL_KILL_POINTS === '1';
    const hostPoints: Point[] = all
      ? (['event', 'rename', 'fsync'] as const).flatMap((kind) => Array.from({ length: counts.host[kind] }, (_, j) => ({ kind, n: j + 1 })))
      : Array.from({ length: 6 }, () => pick(counts.host));
    for (let i = 0; i < hostPoints.length; i++) {
      const pt = hostPoints[i];
      cases.push(async () => {
        counted.cases++;
        await killAndResume('host', `h-${i}`, pt, null, i % 2 === 0);
      });
    }
    for (let i = 0; i < 3; i++) {
      const n = 1 + Math.floor(random() * (counts.fused.event - 2));
      cases.push(async () => {
        counted.cases++;
        counted.sigint++;
        await killAndResume('fused', `s-${i}`, { kind: 'sigint', n }, null, true);
      });
    }
    for (let i = 0; i < 3; i++) {
      const p = i % 2 === 0 ? 'fused' : 'host';
      const a = pick(counts[p]);
      const b = pick(counts[p]);
      cases.push(async () => {
        counted.cases++;
        counted.doubleKills++;
        await killAndResume(p, `d-${i}`, a, b, false);
      });
    }
    await pool(cases);
  });
});
