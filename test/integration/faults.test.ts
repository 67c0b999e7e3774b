// Faults during a real pruning run of the demo model: the output disk filling up (a small tmpfs
// or loop-mounted filesystem where this user may mount, and `ulimit -f`), the worker SIGKILLed
// at many moments through the real job manager and dist/worker.js, and Cancel at several points.
// Every time: the source is byte for byte unchanged, no partial output folder is left, no
// temporary file remains, and an output folder exists only if it is complete.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions, type TrimEvent } from '../../src/contract';
import type { RunRecord } from '../../src/extension/runStore';
import { defaultPruneOptions } from '../../src/core/options';
import { rng } from '../../src/core/model/synth';
import { DEMO, hashTree, ROOT, tmpDir } from '../unit/badInputs';
import { REAL_WORKER, jobManager } from '../unit/jobHarness';
import { ensureBuilt } from './cli';

const root = tmpDir('trim-faults-');
const cacheDir = path.join(root, 'cache');
const demoHash = hashTree(DEMO);
const CLI = path.join(ROOT, 'dist', 'cli.js');
const DEMO_BYTES = fs.readdirSync(DEMO).reduce((a, f) => a + fs.statSync(path.join(DEMO, f)).size, 0);
const tally = { diskFull: 0, kills: 0, cancels: 0 };
after(() => {
  console.log(
    `faults injected: ${tally.diskFull} disk-full, ${tally.kills} SIGKILL, ${tally.cancels} cancel; source unchanged and nothing left behind in each`,
  );
  fs.rmSync(root, { recursive: true, force: true });
});

/** Nothing of a failed run may remain: no partial folder, no output, nothing else in its folder. */
function assertClean(parent: string, out: string): void {
  assert.ok(!fs.existsSync(partialDirFor(out)), `${partialDirFor(out)} was left behind`);
  assert.ok(!fs.existsSync(out), `${out} was left behind`);
  assert.deepEqual(fs.readdirSync(parent), [], `left in ${parent}`);
  assert.deepEqual(
    fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((f) => !/^dense-[0-9a-f]+\.json$/.test(f)) : [],
    [],
    'temporary files in the cache',
  );
  assert.deepEqual(hashTree(DEMO), demoHash, 'the source changed');
}

function runCli(args: string[], limitKb?: number): { status: number | null; stderr: string; events: Record<string, unknown>[] } {
  const cmd = `${limitKb ? `ulimit -f ${limitKb} && ` : ''}exec "${process.execPath}" "${CLI}" ${args.map((a) => `'${a}'`).join(' ')}`;
  const r = spawnSync('bash', ['-c', cmd], {
    encoding: 'utf8',
    env: { ...process.env, TRIM_CACHE_DIR: cacheDir },
    maxBuffer: 64 * 2 ** 20,
  });
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, stderr: r.stderr, events };
}

const small = ['--nsamples', '8', '--seqlen', '64', '--no-eval', '--ep', 'cpu', '--json'];

describe('the output disk fills up', () => {
  let mnt: string | null = null;
  let mountError = '';
  const mount = (bytes: number): boolean => {
    if (mnt) spawnSync('umount', [mnt]);
    mnt = path.join(root, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', mnt], { encoding: 'utf8' });
    if (r.status === 0) return true;
    mountError = (r.stderr || r.error?.message || '').trim();
    fs.rmSync(mnt, { recursive: true, force: true });
    mnt = null;
    return false;
  };
  before(() => ensureBuilt());
  after(() => {
    if (mnt) spawnSync('umount', [mnt]);
  });

  // Sizes around the copy of the demo model (~14.2 MB): full while copying the shards, then at
  // the first and at the second block checkpoint (0.5 MB of block inputs each).
  const KiB = 1024;
  const sizes: [string, number, RegExp][] = [
    ['2 MiB: full while copying the shard', 2 * KiB * KiB, /writing .*trim-partial: the disk is full \(ENOSPC\)/],
    ['the copy minus 400 KiB: full at the end of the copy', DEMO_BYTES - 400 * KiB, /writing .*trim-partial: the disk is full \(ENOSPC\)/],
    [
      'the copy plus 300 KiB: full at the first block checkpoint',
      DEMO_BYTES + 300 * KiB,
      /resume checkpoint .*: the disk is full \(ENOSPC\)/,
    ],
    [
      'the copy plus 800 KiB: full at the second block checkpoint',
      DEMO_BYTES + 800 * KiB,
      /resume checkpoint .*: the disk is full \(ENOSPC\)/,
    ],
  ];
  for (const [name, bytes, message] of sizes) {
    it(`small filesystem, ${name}`, (t) => {
      if (!mount(bytes))
        return t.skip(`cannot mount a small filesystem here (${mountError || 'not permitted'}); the ulimit -f case below still runs`);
      const out = path.join(mnt!, 'out');
      const r = runCli(['prune', '--out', out, ...small]);
      tally.diskFull++;
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^error: /m);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+/m);
      assert.equal((r.events.at(-1) as { error: { code: string } }).error.code, 'E_OUTPUT');
      assertClean(mnt!, out);
      t.diagnostic(`failed after ${r.events.filter((e) => e.type === 'block_end').length} blocks: ${r.stderr.trim().split('\n').at(-1)}`);
    });
  }
  it('small filesystem with just enough room: the run completes and leaves no checkpoint', (t) => {
    if (!mount(DEMO_BYTES + 2 * KiB * KiB)) return t.skip(`cannot mount a small filesystem here (${mountError || 'not permitted'})`);
    const out = path.join(mnt!, 'out');
    const r = runCli(['prune', '--out', out, ...small]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(mnt!), ['out']);
    assert.ok(!fs.existsSync(path.join(out, '.trim-resume')));
    assert.ok(fs.existsSync(path.join(out, 'trim-report.json')));
  });

  it('file size limit (ulimit -f): EFBIG while copying the shard', (t) => {
    if (spawnSync('bash', ['-c', 'ulimit -f 4096']).status !== 0)
      return t.skip('neither a small filesystem nor ulimit -f is available here');
    const parent = path.join(root, 'ulimit');
    fs.mkdirSync(parent);
    const out = path.join(parent, 'out');
    const r = runCli(['prune', '--out', out, ...small], 4096);
    tally.diskFull++;
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /^error: writing .*: the file is larger than the filesystem or the file size limit \(ulimit -f\) allows \(EFBIG\)/m,
    );
    assertClean(parent, out);
  });
});

describe('the worker killed or cancelled at any moment (job manager + dist/worker.js)', () => {
  before(() => ensureBuilt());
  const { jm, store } = jobManager(
    path.join(root, 'store'),
    REAL_WORKER,
    { TRIM_CACHE_DIR: cacheDir },
    { killGraceMs: 2000, exitGraceMs: 2000 },
  );
  after(() => jm.dispose());

  const options = (out: string): PruneOptions => ({
    ...defaultPruneOptions(),
    out,
    nsamples: 8,
    seqlen: 64,
    maxEvalWindows: 2,
    ep: 'cpu',
    trim: true,
    iterations: 1,
  });

  /** Runs a job; `act` is called on each event and may kill or cancel; returns the finished run. */
  async function runJob(
    name: string,
    act: (e: TrimEvent, id: string) => void,
    delayMs?: number,
  ): Promise<{ run: RunRecord; out: string; parent: string; seen: string[] }> {
    const parent = path.join(root, name);
    fs.mkdirSync(parent);
    const out = path.join(parent, 'out');
    const seen: string[] = [];
    const run = jm.submit({ options: options(out), outAuto: false });
    const onEvent = (id: string, e: TrimEvent): void => {
      if (id !== run.id) return;
      seen.push(
        e.type === 'phase' ? `phase:${e.phase}` : e.type === 'block_start' || e.type === 'block_end' ? `${e.type}:${e.block}` : e.type,
      );
      act(e, id);
    };
    jm.on('event', onEvent);
    let timer: NodeJS.Timeout | null = null;
    if (delayMs !== undefined)
      timer = setTimeout(() => {
        const pid = jm.workerPid;
        if (pid && jm.activeId === run.id) process.kill(pid, 'SIGKILL');
      }, delayMs);
    const finished = await jm.whenFinished(run.id);
    if (timer) clearTimeout(timer);
    jm.off('event', onEvent);
    return { run: finished, out, parent, seen };
  }

  const killNow = (): void => {
    const pid = jm.workerPid;
    if (pid) process.kill(pid, 'SIGKILL');
  };
  let layers = 0;
  const points: [string, (e: TrimEvent) => boolean][] = [
    ['at start', (e) => e.type === 'start'],
    ['while tokenizing', (e) => e.type === 'phase' && e.phase === 'calibration'],
    ['at the dense evaluation', (e) => e.type === 'phase' && e.phase === 'dense_eval'],
    ['when block 0 starts', (e) => e.type === 'block_start' && e.block === 0],
    ['in the TRIM search of block 2', (e) => e.type === 'layer' && e.block === 2 && ++layers === 3],
    ['right after block 3 ends', (e) => e.type === 'block_end' && e.block === 3],
    ['when block 5 starts', (e) => e.type === 'block_start' && e.block === 5],
    ['at the pruned evaluation', (e) => e.type === 'phase' && e.phase === 'eval'],
    ['after the pruned evaluation (writing the report)', (e) => e.type === 'eval' && e.which === 'pruned'],
  ];

  /** A killed run fails with WORKER_CRASHED and leaves nothing, or (killed after its commit) a complete output. */
  function assertAfterKill(r: Awaited<ReturnType<typeof runJob>>): void {
    if (r.run.status === 'done' || fs.existsSync(r.out)) {
      assert.ok(
        fs.existsSync(path.join(r.out, 'trim-report.json')) && fs.existsSync(path.join(r.out, 'model.safetensors')),
        'an output folder must be complete',
      );
      assert.ok(!fs.existsSync(partialDirFor(r.out)));
      assert.deepEqual(hashTree(DEMO), demoHash);
      fs.rmSync(r.parent, { recursive: true, force: true });
      return;
    }
    assert.equal(r.run.status, 'failed');
    assert.equal(r.run.error?.code, 'WORKER_CRASHED');
    assert.match(r.run.error!.message, /signal SIGKILL/);
    assertClean(r.parent, r.out);
  }

  points.forEach(([name, when], i) => {
    it(`SIGKILL ${name}`, async () => {
      layers = 0;
      const r = await runJob(`kill-${i}`, (e) => {
        if (when(e)) killNow();
      });
      tally.kills++;
      assert.ok(r.seen.length > 0);
      assertAfterKill(r);
    });
  });

  it('SIGKILL at 8 seeded random moments (after a random number of events, or of milliseconds)', async (t) => {
    const rand = rng(7);
    for (let k = 0; k < 8; k++) {
      // About 66 events per run (start, phases, 6 blocks of 7 layers, evaluations, done).
      const nth = k % 3 === 2 ? null : 1 + Math.floor(rand.uniform() * 64);
      const delay = nth === null ? Math.round(100 + rand.uniform() * 4000) : undefined;
      let n = 0;
      const r = await runJob(
        `random-${k}`,
        () => {
          if (nth !== null && ++n === nth) killNow();
        },
        delay,
      );
      tally.kills++;
      t.diagnostic(
        `kill ${nth !== null ? `at event ${nth}` : `after ${delay} ms`}: ${r.run.status}, last event seen ${r.seen.at(-1) ?? 'none'} (${r.seen.length} events)`,
      );
      assertAfterKill(r);
    }
  });

  const cancels: [string, (e: TrimEvent) => boolean][] = [
    ['when block 1 starts', (e) => e.type === 'block_start' && e.block === 1],
    ['in the middle of block 3', (e) => e.type === 'layer' && e.block === 3 && ++layers === 4],
    ['during the pruned evaluation', (e) => e.type === 'phase' && e.phase === 'eval'],
  ];
  cancels.forEach(([name, when], i) => {
    it(`Cancel ${name}`, async () => {
      layers = 0;
      let asked: Promise<boolean> | null = null;
      const r = await runJob(`cancel-${i}`, (e, id) => {
        if (!asked && when(e)) asked = jm.cancel(id);
      });
      tally.cancels++;
      assert.equal(await asked, true);
      assert.equal(r.run.status, 'cancelled');
      assertClean(r.parent, r.out);
    });
  });
});
