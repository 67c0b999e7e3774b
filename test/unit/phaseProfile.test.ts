// The phase split of a fused run from an ONNX Runtime profile (core/phaseProfile.ts), on a
// profile written by hand in ORT 1.29's format, whose sums are worked out here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attributeRuns, phaseMode, profileEvents, SessionProfile, splitByShares, splitRun } from '../../src/core/ort/phaseProfile';

const line = (cat: string, name: string, ts: number, dur: number): string =>
  `{"cat" : "${cat}","pid" :1,"tid" :1,"dur" :${dur},"ts" :${ts},"ph" : "X","name" :"${name}","args" : {"op_name" : "x","provider" : "CPUExecutionProvider"}},`;
const node = (graph: string, op: string, ts: number, dur: number): string => line('Node', `${graph}/${op}_${ts}_kernel_time`, ts, dur);

/** Two blocks in one run: per block, weights, stats Loop, scores, a sweep Loop, masks, propagate Loop, outputs. */
function profile(): string {
  const l: string[] = ['[', line('Session', 'model_loading_array', 0, 50), line('Session', 'session_initialization', 50, 100)];
  l.push(node('trim_fused', 'Gather', 1000, 40)); // embedding (run level)
  let t = 1100;
  for (let b = 0; b < 2; b++) {
    const s = t;
    l.push(node('block_0', 'Gather', t, 5));
    t += 10;
    // statistics Loop (inclusive 300) with its body's nodes inside
    l.push(node('stats_1', 'MatMul', t + 10, 100), node('stats_1', 'ReduceSumSquare', t + 120, 50), 'x', node('block_0', 'Loop', t, 300));
    t += 310;
    l.push(node('block_0', 'TopK', t, 20));
    t += 25; // ranks
    l.push(line('Node', `out_${t}_kernel_time`, t + 1, 1)); // an output Identity (no graph) inside the sweep
    l.push(
      node('sweep_2', 'Equal', t + 2, 1),
      node('lr_run_3', 'Gemm', t + 5, 30),
      node('step_4', 'Gemm', t + 40, 40),
      node('block_0', 'Loop', t, 100),
    );
    t += 105;
    l.push(node('block_0', 'Where', t, 15));
    t += 20; // masks
    l.push(node('propagate_5', 'MatMul', t + 5, 150), node('block_0', 'Loop', t, 200));
    t += 205;
    l.push(node('block_0', 'Identity', t, 2));
    t += 5;
    void s;
  }
  l.push(node('trim_fused', 'Loop', 1100, t - 1100));
  l.push(line('Session', 'model_run', 990, t - 990 + 20));
  l.push(line('Session', 'SequentialExecutor::Execute', 995, t - 995));
  return l.filter((x) => x !== 'x').join('\n') + '\n]\n';
}

describe('phase times from an ONNX Runtime profile', () => {
  it('splits a run into statistics, pruning (TRIM search inside) and propagation, per block', () => {
    const [run, ...more] = attributeRuns(profileEvents(profile()));
    assert.equal(more.length, 0);
    const us = 1e-6;
    // Block: statistics 300; pruning 5 (weights) + 20 (ranks) + 100 (sweep) + 15 (masks) + 2 (outputs) = 142;
    // propagation 200; TRIM search 100. The run's embedding (40) goes to block 0's pruning, and
    // block 1's weight slicing (5), before its statistics Loop, to block 0 too.
    const block = { statistics: 300 * us, prune: 142 * us, trim: 100 * us, propagate: 200 * us };
    assert.equal(run.blocks.length, 2);
    const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;
    for (const [k, v] of Object.entries(block)) {
      const key = k as keyof typeof block;
      assert.ok(close(run.blocks[1][key], v - (k === 'prune' ? 5 * us : 0)), `${k}: ${run.blocks[1][key]} vs ${v}`);
      assert.ok(close(run.blocks[0][key], v + (k === 'prune' ? 45 * us : 0)), `${k}: ${run.blocks[0][key]}`);
      assert.ok(close(run[key], 2 * v + (k === 'prune' ? 40 * us : 0)), `${k} total`);
    }
    // model_run: from 990 to the end + 20 µs.
    const end = 1100 + 2 * (10 + 310 + 25 + 105 + 20 + 205 + 5);
    assert.ok(close(run.seconds, (end - 990 + 20) * us));
    assert.ok(close(run.outer, 40 * us));
  });

  it("splits a run's measured time in the proportions of its own profile, or of a sample of the same graph", () => {
    const [run] = attributeRuns(profileEvents(profile()));
    const us = 1e-6;
    const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;
    // Its own: node times 2 × (300 + 142 + 200) + 40 = 1324 µs; a run measured at 2.648 s is 2000 × that.
    const own = splitRun(2.648, run)!;
    assert.equal(own.length, 2);
    assert.ok(close(own[1].statistics, 300 * us * 2000) && close(own[1].propagate, 200 * us * 2000) && close(own[1].trim, 100 * us * 2000));
    assert.ok(close(own[0].prune, (142 + 45) * us * 2000) && close(own[1].prune, (142 - 5) * us * 2000));
    assert.ok(
      close(
        own.reduce((a, b) => a + b.statistics + b.prune + b.propagate, 0),
        2.648,
      ),
    );
    // A sample's shares, without its embedding (40 µs): statistics 600, pruning 284, propagation 400
    // of 1284 µs; three blocks of a 3.852 s run get 1.284 s each, 1000 × the sample's sums.
    const shared = splitByShares(3.852, 3, run)!;
    assert.equal(shared.length, 3);
    for (const b of shared) {
      assert.ok(close(b.statistics, 0.6) && close(b.prune, 0.284) && close(b.propagate, 0.4) && close(b.trim, 0.2), JSON.stringify(b));
    }
    // Nothing to split by.
    assert.equal(splitRun(1, { ...run, blocks: [] }), null);
    assert.equal(splitByShares(1, 1, { ...run, blocks: [], outer: 0 }), null);
  });

  it('profiles a sample by default on the CPU, every run with TRIM_PHASES=1, none with TRIM_PHASES=0 or on CUDA', () => {
    const before = process.env.TRIM_PHASES;
    try {
      delete process.env.TRIM_PHASES;
      assert.equal(phaseMode('cpu'), 'sampled');
      assert.equal(phaseMode('cuda'), 'unsplit');
      process.env.TRIM_PHASES = '1';
      assert.equal(phaseMode('cpu'), 'profiled');
      assert.equal(phaseMode('cuda'), 'profiled');
      process.env.TRIM_PHASES = '0';
      assert.equal(phaseMode('cpu'), 'unsplit');
    } finally {
      if (before === undefined) delete process.env.TRIM_PHASES;
      else process.env.TRIM_PHASES = before;
    }
  });

  it('reads nothing from lines of another shape', () => {
    assert.deepEqual(profileEvents('[\n{"foo": 1},\nnot json\n]\n'), []);
    assert.deepEqual(attributeRuns([]), []);
  });

  it('leaves no profile behind: swept at exit, and those of killed processes by the next one', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = path.join(os.tmpdir(), `trim-phases-${dead}-test`);
    fs.mkdirSync(stale, { recursive: true });
    fs.writeFileSync(path.join(stale, 'p_1.json'), '[]');
    const p = new SessionProfile();
    assert.ok(!fs.existsSync(stale), "the killed process's profile was not swept");
    assert.ok(fs.existsSync(p.dir));
    p.dispose();
    assert.ok(!fs.existsSync(p.dir));
    // A process that ends without reading its profile.
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { SessionProfile } = require(${JSON.stringify(path.resolve(__dirname, '../../src/core/ort/phaseProfile.ts'))}); console.log(new SessionProfile().dir);`,
      ],
      { encoding: 'utf8' },
    );
    const dir = child.stdout.trim();
    assert.ok(dir.includes('trim-phases-'), child.stderr);
    assert.ok(!fs.existsSync(dir), `${dir} was left`);
  });
});
