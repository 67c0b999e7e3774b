/** Scores, row ranks, masks, N:M structure and OWL allocation against hand-computed values. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { maskFromRanks, nmMask, prunedCounts, rowRanks, scoreMatrix, uniformCounts } from '../../src/core/prune/scores';
import { outlierRatio, owlTargets } from '../../src/core/prune/owl';
import { rng } from '../../src/core/model/synth';

test('Wanda score is |W|·sqrt(norm2) per column; magnitude is |W|', () => {
  const W = Float32Array.from([1, -2, 3, -4]);
  const s = scoreMatrix(W, 2, 2, 'wanda', Float64Array.from([4, 9]));
  assert.deepEqual(Array.from(s), [2, 6, 6, 12]);
  assert.deepEqual(Array.from(scoreMatrix(W, 2, 2, 'magnitude', null)), [1, 2, 3, 4]);
});

test('row ranks equal a stable argsort, ties by column', () => {
  const r = rng(7);
  const rows = 13;
  const cols = 57;
  const s = new Float32Array(rows * cols).map(() => Math.floor(r.uniform() * 10) / 4); // many ties
  const rank = rowRanks(s, rows, cols);
  for (let i = 0; i < rows; i++) {
    const idx = Array.from({ length: cols }, (_, c) => c).sort((a, b) => s[i * cols + a] - s[i * cols + b] || a - b);
    idx.forEach((c, j) => assert.equal(rank[i * cols + c], j));
  }
});

test('a row with sparsity s loses exactly floor(in·s) of its lowest scores', () => {
  const r = rng(3);
  const rows = 4;
  const cols = 10;
  const s = new Float32Array(rows * cols).map(() => r.uniform());
  const rank = rowRanks(s, rows, cols);
  const k = prunedCounts(Float32Array.from([0, 0.25, 0.7, 0.95]), cols);
  assert.deepEqual(Array.from(k), [0, 2, 7, 9]);
  const mask = maskFromRanks(rank, rows, cols, k);
  for (let i = 0; i < rows; i++) {
    const row = Array.from(s.subarray(i * cols, (i + 1) * cols));
    const pruned = row.filter((_, c) => mask[i * cols + c]);
    const kept = row.filter((_, c) => !mask[i * cols + c]);
    assert.equal(pruned.length, k[i]);
    if (pruned.length && kept.length) assert.ok(Math.max(...pruned) <= Math.min(...kept));
  }
  assert.deepEqual(Array.from(uniformCounts(3, 512, 0.7)), [358, 358, 358]);
});

test('N:M prunes exactly the N lowest scores of every group of M', () => {
  const r = rng(11);
  for (const [n, m] of [
    [2, 4],
    [4, 8],
  ]) {
    const rows = 6;
    const cols = 32;
    const s = new Float32Array(rows * cols).map(() => r.uniform());
    const mask = nmMask(s, rows, cols, n, m);
    for (let i = 0; i < rows; i++) {
      for (let g = 0; g < cols; g += m) {
        const grp = Array.from({ length: m }, (_, j) => ({ v: s[i * cols + g + j], p: mask[i * cols + g + j] }));
        assert.equal(grp.filter((x) => x.p).length, n);
        const maxPruned = Math.max(...grp.filter((x) => x.p).map((x) => x.v));
        const minKept = Math.min(...grp.filter((x) => !x.p).map((x) => x.v));
        assert.ok(maxPruned <= minKept);
      }
    }
  }
});

test('OWL outlier ratio: percent of scores above M × the block mean', () => {
  // mean of [1,1,1,1,1,1,1,1,1,11] is 2; with M = 5 only 11 exceeds 10 → 10 %.
  assert.equal(outlierRatio([Float32Array.from([1, 1, 1, 1, 1]), Float32Array.from([1, 1, 1, 1, 11])], 5), 10);
});

test('OWL targets: k = (D−min)/(max−min)·2λ, re-centred on 1−target, T = 1−k', () => {
  // D = [1, 2, 3, 5], λ = 0.08: k = [0, .04, .08, .16]; mean .07; k − .07 + .3 = [.23, .27, .31, .39].
  const t = owlTargets([1, 2, 3, 5], 0.7, 0.08);
  [0.77, 0.73, 0.69, 0.61].forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-12, `${t[i]} vs ${v}`));
  assert.ok(Math.abs(t.reduce((a, b) => a + b, 0) / 4 - 0.7) < 1e-12);
});
