// Phase times of the fused path (core/phaseProfile.ts): each device run's time, measured around
// session.run, is split into statistics, pruning (of which the TRIM search) and propagation in the
// proportions of ONNX Runtime's per-node profile: of every run with TRIM_PHASES=1, of a sample
// by default (each session's first two runs; its later runs take the second's shares). The three
// phases must add up, per block (one block per run on the CPU), to the run's time as this test
// measures it around onnxruntime-node's InferenceSession.run, within 5%. Demo model, CPU, TRIM on.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { TrimEvent, TrimReport } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { runPrune } from '../../src/core/prune/prune';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-phase-times-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `f` with every fused run (the graph whose feeds hold `targets`) timed around InferenceSession.run. */
async function timingRuns<T>(f: () => Promise<T>): Promise<{ result: T; walls: number[] }> {
  const proto = (ort.InferenceSession as unknown as { prototype: { run: (...a: unknown[]) => Promise<unknown> } }).prototype;
  const orig = proto.run;
  const walls: number[] = [];
  proto.run = async function (this: unknown, ...a: unknown[]) {
    const t = performance.now();
    try {
      return await orig.apply(this, a);
    } finally {
      if (a[0] && typeof a[0] === 'object' && 'targets' in (a[0] as object)) walls.push((performance.now() - t) / 1000);
    }
  };
  try {
    return { result: await f(), walls };
  } finally {
    proto.run = orig;
  }
}

async function withPhases<T>(value: string | undefined, f: () => Promise<T>): Promise<T> {
  const before = process.env.TRIM_PHASES;
  if (value === undefined) delete process.env.TRIM_PHASES;
  else process.env.TRIM_PHASES = value;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env.TRIM_PHASES;
    else process.env.TRIM_PHASES = before;
  }
}

const phaseSum = (b: { statistics: number; prune: number; propagate: number }): number => b.statistics + b.prune + b.propagate;

describe('fused path phase times', () => {
  it('statistics + pruning + propagation = the device run (±5%), per block; the TRIM search is part of pruning', async () => {
    const before = process.env.TRIM_PHASES;
    process.env.TRIM_PHASES = '1';
    const events: TrimEvent[] = [];
    try {
      const out = path.join(tmp, 'trim');
      const s = await runPrune({ ...defaultPruneOptions(), out, trim: true, nsamples: 16, seqlen: 256, eval: null, ep: 'cpu' }, (e) =>
        events.push(e),
      );
      const report = JSON.parse(fs.readFileSync(s.report, 'utf8')) as TrimReport;
      const runs = events.flatMap((e) => {
        const m = e.type === 'log' ? /^Blocks (\d+)–(\d+): .*device run ([\d.]+) s/.exec(e.message) : null;
        return m ? [{ first: Number(m[1]), last: Number(m[2]), seconds: Number(m[3]) }] : [];
      });
      assert.equal(runs.length, report.model.blocks, 'one run per block on the CPU');
      for (const r of runs) {
        const b = report.blocks[r.first].seconds;
        const sum = b.statistics + b.prune + b.propagate;
        assert.ok(b.statistics > 0 && b.prune > 0 && b.propagate > 0, JSON.stringify(b));
        // The log rounds to 10 ms; the binding's copies take a few percent more on a busy machine.
        assert.ok(
          sum <= r.seconds + 0.005 && sum >= 0.8 * r.seconds,
          `block ${r.first}: ${JSON.stringify(b)} sums to ${sum.toFixed(3)} s, the device run took ${r.seconds} s`,
        );
      }
      const sec = report.seconds;
      assert.ok(sec.trim > 0 && sec.trim < sec.prune, JSON.stringify(sec));
      const device = sec.device!;
      assert.ok(device > 0 && device <= runs.reduce((a, r) => a + r.seconds, 0) + 0.03, `device ${device}`);
      const blocks = report.blocks.reduce((a, b) => a + b.seconds.statistics + b.seconds.prune + b.seconds.propagate, 0);
      assert.ok(Math.abs(blocks - device) <= 0.05 * device, `the phases sum to ${blocks} s, the device runs took ${device} s`);
      assert.ok(
        Math.abs(sec.statistics + sec.propagate - report.blocks.reduce((a, b) => a + b.seconds.statistics + b.seconds.propagate, 0)) < 1e-6,
      );
      assert.deepEqual(
        fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`trim-phases-${process.pid}-`)),
        [],
        'profiles left behind',
      );
      assert.equal(report.phaseSource, 'profiled');
      assert.deepEqual(report.phaseRuns, { runs: report.model.blocks, profiled: report.model.blocks, unsplit: 0 });
    } finally {
      if (before === undefined) delete process.env.TRIM_PHASES;
      else process.env.TRIM_PHASES = before;
    }
  });

  it("by default: a sample of the runs profiled; every run's phases add up to its time measured around session.run (±5%)", async () => {
    const { result: s, walls } = await withPhases(undefined, () =>
      timingRuns(() =>
        runPrune(
          { ...defaultPruneOptions(), out: path.join(tmp, 'sampled'), trim: true, nsamples: 8, seqlen: 256, eval: null, ep: 'cpu' },
          () => {},
        ),
      ),
    );
    const report = JSON.parse(fs.readFileSync(s.report, 'utf8')) as TrimReport;
    const n = report.model.blocks;
    assert.equal(n, 6, 'the demo model');
    assert.equal(walls.length, n, 'one fused run per block on the CPU');
    // Sessions: block 0's (with the embedding), blocks 1-4's, block 5's (no next activations).
    // Profiled: blocks 0 and 5, and blocks 1 (its session's warm-up) and 2; blocks 3 and 4 take block 2's shares.
    assert.equal(report.phaseSource, 'sampled');
    assert.deepEqual(report.phaseRuns, { runs: n, profiled: 4, unsplit: 0 });
    assert.equal(s.phaseSource, 'sampled');
    for (let b = 0; b < n; b++) {
      const p = report.blocks[b].seconds;
      assert.ok(p.statistics > 0 && p.prune > 0 && p.propagate > 0, `block ${b}: ${JSON.stringify(p)}`);
      assert.ok(
        Math.abs(phaseSum(p) - walls[b]) <= 0.05 * walls[b],
        `block ${b}: ${JSON.stringify(p)} sums to ${phaseSum(p).toFixed(4)} s, its run took ${walls[b].toFixed(4)} s`,
      );
    }
    // The sampled runs have the shares of their session's second run (block 2).
    const share = (b: number): number[] => {
      const p = report.blocks[b].seconds;
      return [p.statistics, p.prune, p.propagate].map((x) => x / phaseSum(p));
    };
    for (const b of [3, 4]) share(b).forEach((x, i) => assert.ok(Math.abs(x - share(2)[i]) < 1e-9, `block ${b} share ${i}`));
    const sec = report.seconds;
    const wall = walls.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sec.device! - wall) <= 0.05 * wall, `device ${sec.device} s, the runs took ${wall} s`);
    assert.ok(Math.abs(report.blocks.reduce((a, b) => a + phaseSum(b.seconds), 0) - wall) <= 0.05 * wall);
    assert.ok(sec.trim > 0 && sec.trim < sec.prune, JSON.stringify(sec));
    assert.deepEqual(
      fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`trim-phases-${process.pid}-`)),
      [],
      'profiles left behind',
    );
  });

  it('TRIM_PHASES=0: no profile, the fused runs are reported as pruning, unsplit', async () => {
    const s = await withPhases('0', () =>
      runPrune(
        { ...defaultPruneOptions(), out: path.join(tmp, 'off'), trim: true, nsamples: 4, seqlen: 64, eval: null, ep: 'cpu' },
        () => {},
      ),
    );
    assert.equal(s.seconds.statistics, 0);
    assert.equal(s.seconds.propagate, 0);
    assert.ok(s.seconds.prune > 0);
    assert.equal(s.phaseSource, 'unsplit');
    assert.deepEqual(s.phaseRuns, { runs: 6, profiled: 0, unsplit: 6 });
  });

  it('the block-by-block path measures each pass', async () => {
    const before = process.env.TRIM_FUSED;
    process.env.TRIM_FUSED = '0';
    try {
      const s = await runPrune(
        { ...defaultPruneOptions(), out: path.join(tmp, 'host'), trim: false, nsamples: 4, seqlen: 64, eval: null, ep: 'cpu' },
        () => {},
      );
      assert.equal(s.phaseSource, 'measured');
      assert.ok(s.seconds.statistics > 0 && s.seconds.propagate > 0);
    } finally {
      if (before === undefined) delete process.env.TRIM_FUSED;
      else process.env.TRIM_FUSED = before;
    }
  });
});
