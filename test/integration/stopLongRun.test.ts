// Issue 16, class 6 (last piece): a stop reaches a long device run. The CLI's prune runs in a
// child process (src/cliSupervisor.ts); the CLI that the user started receives the signals. Here
// a CLI job whose one ONNX Runtime run lasts far longer than the bound (all six blocks of the demo
// model in one fused run, 1000 TRIM iterations on 32 windows of 256 tokens: tens of seconds on
// this CPU) gets SIGTERM, SIGHUP, or Ctrl-C twice while that run is in progress (seen from its
// --json events: the run's block_start events, and no `layer` event of it yet) and must exit within
// STOP_BOUND_MS, exit 2, print one `error:` line (and the E_CANCELLED event), leave no partial
// folder, no lock, no `-old`, and no process. A --resume run stopped in the middle of its second
// run keeps the checkpoint of the first, and the next --resume ends with the weights and row
// sparsities of an uninterrupted run. Then a seeded set of stop moments (which event, how long
// after it, which signals).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type TrimReport } from '../../src/contract';
import { lockFileFor } from '../../src/core/io/lockFile';
import { rng } from '../../src/core/model/synth';
import { alive } from '../unit/jobHarness';
import { ensureBuilt, ROOT, streamCli, tmp, type CliEvent, type StreamedCli } from './cli';

const root = tmp('trim-stoprun-');
const cacheDir = path.join(root, 'cache');
/** From the signal to the CLI's exit: the supervisor's one-second grace, the kill, the clean-up, a loaded machine. */
const STOP_BOUND_MS = 6000;
/** The first 120 KB of the calibration text (enough windows, less to tokenize before the run). */
const calib = path.join(root, 'calib.txt');
fs.writeFileSync(calib, fs.readFileSync(path.join(ROOT, 'media', 'data', 'calib.txt')).subarray(0, 120_000));
/** A TRIM job of 1000 iterations on `nsamples` windows of `seqlen` tokens, `blocks` blocks to an ONNX Runtime run, no evaluation, --json. */
const job = (nsamples: number, seqlen: number, blocks: number): string[] => [
  '--calib',
  calib,
  ...`--trim --iterations 1000 --nsamples ${nsamples} --seqlen ${seqlen} --blocks-per-run ${blocks} --no-eval --ep cpu --json`.split(' '),
];
/** One fused run of all six blocks that lasts tens of seconds on this CPU. */
const LONG = job(32, 256, 6);
/** Two runs of three blocks, each a few seconds here; with --resume, a checkpoint after the first. */
const RESUME = [...job(16, 128, 3), '--resume'];
const tally = { stopped: 0, seeded: 0, worst: 0 };
after(() => {
  console.log(
    `stops in the middle of a device run: ${tally.stopped} (${tally.seeded} at seeded moments); slowest exit ${(tally.worst / 1000).toFixed(2)} s after the signal (bound ${STOP_BOUND_MS / 1000} s)`,
  );
  fs.rmSync(root, { recursive: true, force: true });
});

type Event = CliEvent;
interface Stopped extends StreamedCli {
  /** ms from the first signal to the exit; null when none was sent. */
  stopMs: number | null;
  /** Events seen before the first signal. */
  before: number;
  /** The pid the output's lock named while the run was in progress (the job's process). */
  jobPid: number | null;
}

/**
 * Runs the CLI; when `at(e, i)` holds for the i-th event, waits `delayMs`, then sends `signals`
 * (100 ms apart) to the CLI's process.
 */
async function runStopped(
  args: string[],
  out: string,
  at: ((e: Event, i: number) => boolean) | null,
  delayMs: number,
  signals: NodeJS.Signals[],
): Promise<Stopped> {
  let sentAt: number | null = null;
  let before = 0;
  let jobPid: number | null = null;
  let armed = at !== null;
  let stopMs: number | null = null;
  const { child, done } = streamCli(['prune', '--out', out, ...args], { TRIM_CACHE_DIR: cacheDir }, (e, events) => {
    if (armed && at!(e, events.length - 1)) {
      armed = false;
      setTimeout(async () => {
        try {
          jobPid = (JSON.parse(fs.readFileSync(lockFileFor(out), 'utf8')) as { pid: number }).pid;
        } catch {
          /* no lock yet */
        }
        before = events.length;
        sentAt = performance.now();
        for (const [k, s] of signals.entries()) {
          if (k > 0) await new Promise((r) => setTimeout(r, 100));
          child.kill(s);
        }
      }, delayMs);
    }
  });
  child.on('close', () => {
    stopMs = sentAt === null ? null : performance.now() - sentAt;
  });
  return { ...(await done), stopMs, before, jobPid };
}

/** A stopped run: exit 2 within the bound, one error line and the E_CANCELLED event, no job process left. */
function assertStopped(r: Stopped, label: string): void {
  assert.equal(r.status, 2, `${label}: exit ${r.status} ${r.signal}: ${r.stderr}`);
  assert.ok(r.stopMs !== null && r.stopMs < STOP_BOUND_MS, `${label}: exited ${r.stopMs?.toFixed(0)} ms after the signal`);
  tally.worst = Math.max(tally.worst, r.stopMs!);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, `${label}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${label}: a stack trace`);
  const last = r.events.at(-1) as { type: string; error?: { code: string } };
  assert.equal(last.type, 'error', label);
  assert.equal(last.error?.code, 'E_CANCELLED', label);
  if (r.jobPid !== null) assert.ok(!alive(r.jobPid), `${label}: the job's process ${r.jobPid} is still running`);
}

/** The run's blocks had started and none had reached its first pruned layer when the stop came, nor after. */
function assertInterruptedRun(r: Stopped, blocks: number[], label: string): void {
  const started = r.events
    .slice(0, r.before)
    .filter((e) => e.type === 'block_start')
    .map((e) => e.block as number);
  for (const b of blocks) assert.ok(started.includes(b), `${label}: block ${b} had not started when stopped`);
  const pruned = r.events.filter((e) => e.type === 'layer' && blocks.includes(e.block as number));
  assert.equal(pruned.length, 0, `${label}: the run ended before the stop reached it (${pruned.length} layers came out)`);
}

const lastRunStarted =
  (last: number) =>
  (e: Event): boolean =>
    e.type === 'block_start' && e.block === last;

describe('a stop reaches a long device run (CLI)', () => {
  before(() => ensureBuilt());

  for (const [name, signals, message] of [
    ['SIGTERM', ['SIGTERM'], /^error: Cancelled; nothing was written\.$/m],
    ['SIGHUP (the terminal closed)', ['SIGHUP'], /^error: Cancelled; nothing was written\.$/m],
    ['Ctrl-C twice', ['SIGINT', 'SIGINT'], /^error: stopped at once by a second SIGINT; nothing was written\.$/m],
  ] as [string, NodeJS.Signals[], RegExp][]) {
    it(`${name} during the one run of all blocks: out within ${STOP_BOUND_MS / 1000} s, nothing left`, async () => {
      const parent = path.join(root, name.split(' ')[0].toLowerCase() + (signals.length > 1 ? '2' : ''));
      fs.mkdirSync(parent);
      const out = path.join(parent, 'out');
      const r = await runStopped(LONG, out, lastRunStarted(5), 300, signals);
      assertStopped(r, name);
      assertInterruptedRun(r, [0, 1, 2, 3, 4, 5], name);
      assert.match(r.stderr, message);
      assert.notEqual(r.jobPid, null, 'the lock named the job while it ran');
      assert.deepEqual(fs.readdirSync(parent), [], `${name}: left ${fs.readdirSync(parent).join(', ')}`);
      tally.stopped++;
    });
  }

  it("--resume stopped by SIGTERM in the middle of its second run keeps the first run's blocks; the next --resume equals an uninterrupted run", async () => {
    const ref = path.join(root, 'resume-ref', 'out');
    const whole = await runStopped(RESUME, ref, null, 0, []);
    assert.equal(whole.status, 0, whole.stderr);
    const parent = path.join(root, 'resume');
    fs.mkdirSync(parent);
    const out = path.join(parent, 'out');
    const r = await runStopped(RESUME, out, lastRunStarted(5), 0, ['SIGTERM']);
    assertStopped(r, 'resume');
    assertInterruptedRun(r, [3, 4, 5], 'resume');
    assert.match(
      r.stderr,
      /^error: Cancelled; the finished blocks are kept in .*\.out\.trim-partial\. Run again with --resume to continue\.$/m,
    );
    assert.deepEqual(fs.readdirSync(parent), [path.basename(partialDirFor(out))], 'only the partial folder is kept: no lock, no -old');
    const next = await runStopped(RESUME, out, null, 0, []);
    assert.equal(next.status, 0, next.stderr);
    assert.ok(
      next.events.some((e) => e.type === 'log' && /Resuming the interrupted run from block 3 of 6/.test(String(e.message))),
      'resumed after the first run',
    );
    assert.deepEqual(
      next.events.filter((e) => e.type === 'block_start').map((e) => e.block),
      [3, 4, 5],
      'only the second run again',
    );
    const files = fs.readdirSync(ref).filter((f) => f !== 'trim-report.json');
    for (const f of files)
      assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f))), `${f} differs from the uninterrupted run`);
    const a = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8')) as TrimReport;
    const b = JSON.parse(fs.readFileSync(path.join(ref, 'trim-report.json'), 'utf8')) as TrimReport;
    assert.equal(a.blocks.length, 6);
    a.blocks.forEach((blk, i) =>
      blk.layers.forEach((l, j) => assert.deepEqual(l.rowSparsity, b.blocks[i].layers[j].rowSparsity, `block ${i} ${l.name}`)),
    );
    assert.equal(a.sparsity, b.sparsity);
    assert.deepEqual(fs.readdirSync(parent), ['out']);
    tally.stopped++;
  });

  it(
    'kill -STOP of the CLI pauses the job in its run, SIGCONT continues it; then SIGTERM stops it',
    { skip: process.platform !== 'linux' },
    async () => {
      const parent = path.join(root, 'stop-cont');
      fs.mkdirSync(parent);
      const out = path.join(parent, 'out');
      const state = (pid: number): string => {
        const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return st[st.lastIndexOf(')') + 2];
      };
      const waitState = async (pid: number, want: (s: string) => boolean, what: string): Promise<void> => {
        const t0 = Date.now();
        while (!want(state(pid))) {
          assert.ok(Date.now() - t0 < 3000, `the job did not ${what} within 3 s (state ${state(pid)})`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      let started!: () => void;
      const inRun = new Promise<void>((resolve) => (started = resolve));
      const { child, done } = streamCli(['prune', '--out', out, ...LONG], { TRIM_CACHE_DIR: cacheDir }, (e) => {
        if (lastRunStarted(5)(e)) started();
      });
      await inRun;
      const job = (JSON.parse(fs.readFileSync(lockFileFor(out), 'utf8')) as { pid: number }).pid;
      assert.notEqual(job, child.pid, 'the job runs in its own process');
      child.kill('SIGSTOP');
      await waitState(job, (s) => s === 'T', 'pause with the CLI');
      child.kill('SIGCONT');
      await waitState(job, (s) => s !== 'T', 'continue with the CLI');
      const t = performance.now();
      child.kill('SIGTERM');
      const { status, stderr, events } = await done;
      assert.equal(status, 2, stderr);
      assert.ok(performance.now() - t < STOP_BOUND_MS);
      assert.ok(!events.some((e) => e.type === 'layer'));
      assert.ok(!alive(job));
      assert.deepEqual(fs.readdirSync(parent), []);
      tally.stopped++;
    },
  );

  it('seeded stop moments: before and during the run, one or two signals, out within the bound and nothing left', async () => {
    const random = rng(16);
    const patterns: NodeJS.Signals[][] = [['SIGTERM'], ['SIGHUP'], ['SIGINT'], ['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGINT']];
    for (let k = 0; k < 3; k++) {
      const signals = patterns[Math.floor(random.uniform() * patterns.length)];
      // The i-th event of the run up to the start of its one run (start, logs, phases, block starts).
      const nth = Math.floor(random.uniform() * 10);
      const delay = Math.round(random.uniform() * 1500);
      const label = `case ${k}: ${signals.join('+')} ${delay} ms after event ${nth}`;
      const parent = path.join(root, `seeded-${k}`);
      fs.mkdirSync(parent);
      const r = await runStopped(LONG, path.join(parent, 'out'), (_e, i) => i === nth, delay, signals);
      assertStopped(r, label);
      assert.ok(!r.events.some((e) => e.type === 'layer'), `${label}: the run ended before the stop`);
      assert.deepEqual(fs.readdirSync(parent), [], `${label}: left ${fs.readdirSync(parent).join(', ')}`);
      tally.stopped++;
      tally.seeded++;
    }
  });
});
