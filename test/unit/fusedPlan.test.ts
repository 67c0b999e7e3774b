// Sizing of fused runs (core/fused.ts planFused) for real shapes: chunks divide the windows, the
// estimate stays within the budget, and the H200 run of the 7B shape that was measured (all 28
// blocks in one run, 8 windows per chunk, 62.9 GiB of GPU memory at the peak; BENCHMARKS.md) is
// what --gpu-memory 140 plans.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Checkpoint } from '../../src/core/model/checkpoint';
import { planFused } from '../../src/core/prune/fused/fusedPruner';

function shape(hidden: number, inter: number, layers: number, heads: number, kv: number, dtype: string): Checkpoint {
  const D = hidden / heads;
  const shapes: [number, number][] = [
    [heads * D, hidden],
    [kv * D, hidden],
    [kv * D, hidden],
    [hidden, heads * D],
    [inter, hidden],
    [inter, hidden],
    [hidden, inter],
  ];
  return {
    config: { hidden, intermediate: inter, layers, heads, kvHeads: kv, headDim: D, dtype },
    linearShapes: () => shapes,
  } as unknown as Checkpoint;
}

const q7 = shape(3584, 18944, 28, 28, 4, 'bfloat16');
const q15 = shape(1536, 8960, 28, 12, 2, 'bfloat16');

test('7B shape: the measured H200 plan at 140 GiB; a 24 GiB card gets fewer blocks per run within its budget', () => {
  const big = planFused(q7, 2048, 128, 140, null, null);
  assert.deepEqual([big.blocksPerRun, big.chunkWindows, big.chunks], [28, 8, 16]);
  const small = planFused(q7, 2048, 128, 24, null, null);
  assert.ok(small.blocksPerRun >= 1 && small.blocksPerRun < 28, `blocks per run ${small.blocksPerRun}`);
  assert.ok(small.estimate <= 0.9 * small.budget, `estimate ${small.estimate / 2 ** 30} GiB of ${small.budget / 2 ** 30}`);
  assert.equal(128 % small.chunkWindows, 0);
});

test('1.5B shape at 140 GiB: all blocks in one run, 32 windows per chunk (as measured on the H200, 47.9 GiB at the peak)', () => {
  const p = planFused(q15, 2048, 128, 140, null, null);
  assert.deepEqual([p.blocksPerRun, p.chunkWindows], [28, 32]);
});

test('an explicit --batch becomes the largest divisor of the windows not above it; --blocks-per-run is kept', () => {
  const p = planFused(q15, 512, 100, 24, 8, 3);
  assert.deepEqual([p.chunkWindows, p.chunks, p.blocksPerRun], [5, 20, 3]);
});
