// Phase times of the fused path (core/phaseProfile.ts): statistics, pruning (of which the TRIM
// search) and propagation are read from ONNX Runtime's per-node profile of each device run, as
// the times of the graph's nodes. They must add up to the device runs as ONNX Runtime timed them
// (the session's model_run, `seconds.device`) within 5%, and per block (one block per run on the
// CPU) stay within the run as timed around session.run (the "device run" log line), which also
// holds onnxruntime-node's copies of the inputs and outputs. Demo model, CPU, TRIM on, TRIM_PHASES=1.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { TrimEvent, TrimReport } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { runPrune } from '../../src/core/prune';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-phase-times-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('fused path phase times', () => {
  it('statistics + pruning + propagation = the device run (±5%), per block; the TRIM search is part of pruning', async () => {
    const before = process.env.TRIM_PHASES;
    process.env.TRIM_PHASES = '1';
    const events: TrimEvent[] = [];
    try {
      const out = path.join(tmp, 'trim');
      const s = await runPrune({ ...defaultPruneOptions(), out, trim: true, nsamples: 16, seqlen: 256, eval: null, ep: 'cpu' }, (e) => events.push(e));
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
        assert.ok(sum <= r.seconds + 0.005 && sum >= 0.8 * r.seconds, `block ${r.first}: ${JSON.stringify(b)} sums to ${sum.toFixed(3)} s, the device run took ${r.seconds} s`);
      }
      const sec = report.seconds;
      assert.ok(sec.trim > 0 && sec.trim < sec.prune, JSON.stringify(sec));
      const device = sec.device!;
      assert.ok(device > 0 && device <= runs.reduce((a, r) => a + r.seconds, 0) + 0.03, `device ${device}`);
      const blocks = report.blocks.reduce((a, b) => a + b.seconds.statistics + b.seconds.prune + b.seconds.propagate, 0);
      assert.ok(Math.abs(blocks - device) <= 0.05 * device, `the phases sum to ${blocks} s, the device runs took ${device} s`);
      assert.ok(Math.abs(sec.statistics + sec.propagate - report.blocks.reduce((a, b) => a + b.seconds.statistics + b.seconds.propagate, 0)) < 1e-6);
      assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`trim-phases-${process.pid}-`)), [], 'profiles left behind');
    } finally {
      if (before === undefined) delete process.env.TRIM_PHASES; else process.env.TRIM_PHASES = before;
    }
  });

  it('by default: no profile, the fused runs are reported as pruning, unsplit', async () => {
    delete process.env.TRIM_PHASES;
    try {
      const s = await runPrune({ ...defaultPruneOptions(), out: path.join(tmp, 'off'), trim: true, nsamples: 4, seqlen: 64, eval: null, ep: 'cpu' }, () => {});
      assert.equal(s.seconds.statistics, 0);
      assert.equal(s.seconds.propagate, 0);
      assert.ok(s.seconds.prune > 0);
    } finally {
      delete process.env.TRIM_PHASES;
    }
  });
});
