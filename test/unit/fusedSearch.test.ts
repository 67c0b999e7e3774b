/**
 * The TRIM search as graph operations (prune/fused/fusedGraph.ts, nested Loop/If) against the JavaScript
 * search (trimSearch.ts, itself pinned to a float64 reference sweep) driving the same ONNX
 * evaluation: same final vector, learning rate, iteration and metrics.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { LayerMetric, RowMetric } from '../../src/contract';
import { Engine, f32 } from '../../src/core/ort/engine';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, T } from '../../src/core/ort/graphs/builder';
import { buildTrimEvalGraph } from '../../src/core/prune/trimEval';
import { rowRanks, scoreMatrix } from '../../src/core/prune/scores';
import { rng } from '../../src/core/model/synth';
import { trimSearch, trimSearchOps } from '../../src/core/prune/trimSearch';

function problem(seed: number, rows: number, cols: number, n: number) {
  const r = rng(seed);
  const W = new Float32Array(rows * cols).map(() => r.normal());
  const X = new Float32Array(n * cols).map(() => r.normal() * (1 + 3 * r.uniform()));
  const norm2 = new Float64Array(cols).map(() => 0.1 + 4 * r.uniform());
  const rank = rowRanks(scoreMatrix(W, rows, cols, 'wanda', norm2), rows, cols);
  return { W, X, rank, rows, cols, n };
}

const cases: { seed: number; target: number; lm: LayerMetric; rm: RowMetric; iterations: number; forbidNegLr: boolean }[] = [
  { seed: 1, target: 0.7, lm: 'cosim_flat', rm: 'cosim', iterations: 10, forbidNegLr: false },
  { seed: 2, target: 0.8, lm: 'cosim_flat', rm: 'cosim', iterations: 10, forbidNegLr: true },
  { seed: 3, target: 0.5, lm: 'mse', rm: 'mse', iterations: 4, forbidNegLr: false },
  { seed: 4, target: 0.8, lm: 'psnr_dim', rm: 'psnr', iterations: 10, forbidNegLr: false },
  { seed: 5, target: 0.6, lm: 'snr', rm: 'cosim', iterations: 0, forbidNegLr: false },
  { seed: 6, target: 0.9, lm: 'cosim_sample', rm: 'mse', iterations: 10, forbidNegLr: false },
];

test('in-graph TRIM search = the JavaScript search over the same evaluation (vector, lr, iteration, metrics)', async () => {
  const engine = await Engine.create('cpu');
  const lrsSeen = new Set<number>();
  for (const c of cases) {
    const p = problem(c.seed, 48, 64, 32);
    const g = new GraphBuilder('search_test');
    const W = g.input('W', T.FLOAT, [p.rows, p.cols]);
    const rank = g.input('rank', T.FLOAT, [p.rows, p.cols]);
    const X = g.input('X', T.FLOAT, [p.n, p.cols]);
    const Tt = g.input('T', T.DOUBLE, []);
    const r = trimSearchOps(
      g,
      { W, rank, X, rows: p.rows, cols: p.cols, T: Tt },
      { iterations: c.iterations, forbidNegLr: c.forbidNegLr, layerMetric: c.lm, rowMetric: c.rm },
    );
    g.output(r.s, 's', T.FLOAT);
    g.output(r.info, 'info', T.DOUBLE);
    const fused = await engine.session(g.build());
    const got = await fused.run({
      W: f32(p.W, [p.rows, p.cols]),
      rank: f32(p.rank, [p.rows, p.cols]),
      X: f32(p.X, [p.n, p.cols]),
      T: new ort.Tensor('float64', Float64Array.from([c.target]), []),
    });
    await fused.release();

    const ev = await engine.session(
      buildTrimEvalGraph({ W: p.W, rank: p.rank, X: p.X, rows: p.rows, cols: p.cols, samples: p.n }, c.lm, c.rm),
    );
    const evaluate = async (s: Float32Array) => {
      const o = await ev.run({ s: f32(s, [p.rows]) });
      return { q: o.q.data as Float64Array, Q: Number((o.Q.data as Float64Array)[0]) };
    };
    const want = await trimSearch(c.target, p.rows, evaluate, { iterations: c.iterations, forbidNegLr: c.forbidNegLr });
    const after = (await evaluate(want.s)).Q;
    await ev.release();

    const info = got.info.data as Float64Array;
    const what = `seed ${c.seed} ${c.lm}/${c.rm}`;
    assert.equal(info[2], want.lr, `${what}: lr`);
    assert.equal(info[3], want.iteration, `${what}: iteration`);
    const close = (x: number, y: number, m: string): void =>
      assert.ok(x === y || Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${what}: ${m} ${x} vs ${y}`);
    close(info[0], want.before, 'metric before');
    close(info[1], want.best, 'best metric');
    close(info[4], after, 'metric after');
    assert.deepEqual(Array.from(got.s.data as Float32Array), Array.from(want.s), `${what}: sparsity vector`);
    lrsSeen.add(want.lr);
  }
  // The cases exercise more than the uniform start: several learning rates were chosen.
  assert.ok(lrsSeen.size >= 3, `learning rates chosen: ${[...lrsSeen].join(', ')}`);
});
