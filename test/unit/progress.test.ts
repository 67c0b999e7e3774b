import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerReport, ModelSummary, TrimEvent } from '../../src/contract';
import { ProgressTracker } from '../../src/extension/progress';

const linears = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const model = { architecture: 'Qwen2ForCausalLM', blocks: 3, linears } as unknown as ModelSummary;
const layer = (name: string): LayerReport => ({
  name,
  rows: 1,
  cols: 1,
  target: 0.7,
  achieved: 0.7,
  rowSparsity: [0.7],
  metricBefore: null,
  metricAfter: null,
  lr: null,
  iteration: null,
  seconds: 0,
});

function stream(): TrimEvent[] {
  const ev: TrimEvent[] = [
    { type: 'start', job: 'j', ep: 'cpu', epNotice: null, model, options: {} as never },
    { type: 'phase', phase: 'load', message: 'reading the checkpoint' },
    { type: 'phase', phase: 'calibration', message: 'tokenizing' },
    { type: 'phase', phase: 'dense_eval', message: 'dense perplexity' },
    { type: 'progress', phase: 'dense_eval', done: 5, total: 10 },
    { type: 'progress', phase: 'dense_eval', done: 10, total: 10 },
    { type: 'eval', which: 'dense', result: { perplexity: 113.76, windows: 10, tokens: 5120, seqlen: 512, seconds: 1 } },
    { type: 'phase', phase: 'embed', message: 'embedding' },
  ];
  for (let b = 0; b < 3; b++) {
    ev.push({ type: 'block_start', block: b, blocks: 3, target: 0.7 });
    for (const n of linears) ev.push({ type: 'layer', block: b, layer: layer(n) });
    ev.push({
      type: 'block_end',
      block: b,
      blocks: 3,
      report: { index: b, target: 0.7, achieved: 0.7, seconds: { statistics: 0, prune: 0, propagate: 0 }, layers: [] },
    });
  }
  ev.push({ type: 'phase', phase: 'write', message: 'writing' }, { type: 'phase', phase: 'eval', message: 'pruned perplexity' });
  ev.push({ type: 'done', summary: {} as never });
  return ev;
}

describe('ProgressTracker', () => {
  it('moves monotonically from 0 to 1 and says where it is', () => {
    const t = new ProgressTracker();
    let last = 0;
    const seen: { fraction: number; message: string }[] = [];
    for (const e of stream()) {
      const s = t.update(e);
      assert.ok(s.fraction >= last, `${e.type}: ${s.fraction} < ${last}`);
      assert.ok(s.fraction <= 1);
      last = s.fraction;
      seen.push(s);
    }
    assert.equal(last, 1);
    assert.ok(
      seen.some((s) => /^Pruning · block 2\/3 · gate_proj( · ~\d+ s left)?$/.test(s.message)),
      seen.map((s) => s.message).join('\n'),
    );
    assert.ok(seen.some((s) => s.message === 'perplexity dense: 113.76'));
    // Half of the blocks phase done ≈ the phases before it + half its share.
    const midBlocks = seen[8 + 9 + 4].fraction; // block 1, after its 4th linear
    assert.ok(midBlocks > 0.3 && midBlocks < 0.6, String(midBlocks));
  });

  it('an error keeps the fraction and shows the message', () => {
    const t = new ProgressTracker();
    t.update({ type: 'phase', phase: 'load', message: 'x' });
    const s = t.update({ type: 'error', error: { code: 'E', message: 'out of memory' } });
    assert.equal(s.message, 'out of memory');
    assert.ok(s.fraction < 0.1);
  });

  it('says units done of all and the time left, for the evaluations and the blocks', () => {
    let now = 0;
    const t = new ProgressTracker(() => now);
    const at = (ms: number, e: TrimEvent): string => {
      now = ms;
      return t.update(e).message;
    };
    at(0, { type: 'start', job: 'j', ep: 'cpu', epNotice: null, model, options: {} as never });
    at(0, { type: 'phase', phase: 'dense_eval', message: 'Evaluating the dense model (60 windows × 512 tokens)' });
    assert.equal(
      at(2000, { type: 'progress', phase: 'dense_eval', done: 1, total: 26 }),
      'Evaluating the dense model (60 windows × 512 tokens) · 1/26 steps',
    );
    // 12 steps in 12 s since the first: 13 left at 1 step/s.
    assert.equal(
      at(14000, { type: 'progress', phase: 'dense_eval', done: 13, total: 26 }),
      'Evaluating the dense model (60 windows × 512 tokens) · 13/26 steps · ~13 s left',
    );
    assert.equal(
      at(26000, { type: 'progress', phase: 'dense_eval', done: 25, total: 26 }),
      'Evaluating the dense model (60 windows × 512 tokens) · 25/26 steps · ~1 s left',
    );
    at(27000, { type: 'phase', phase: 'blocks', message: 'Pruning 3 blocks' });
    assert.equal(at(27000, { type: 'block_start', block: 0, blocks: 3, target: 0.7 }), 'Pruning · block 1/3');
    const end = (b: number): TrimEvent => ({
      type: 'block_end',
      block: b,
      blocks: 3,
      report: { index: b, target: 0.7, achieved: 0.7, seconds: { statistics: 0, prune: 0, propagate: 0 }, layers: [] },
    });
    // One block in 90 s: two left, ~3 min.
    assert.equal(at(117000, end(0)), 'Pruning · block 1/3 done · ~3 min left');
    assert.equal(at(117000, { type: 'block_start', block: 1, blocks: 3, target: 0.7 }), 'Pruning · block 2/3 · ~3 min left');
    assert.equal(at(150000, { type: 'layer', block: 1, layer: layer('q_proj') }), 'Pruning · block 2/3 · q_proj · ~4 min left');
    at(160000, { type: 'phase', phase: 'eval', message: 'Evaluating the pruned model (60 windows × 512 tokens)' });
    assert.equal(
      at(161000, { type: 'progress', phase: 'eval', done: 1, total: 26 }),
      'Evaluating the pruned model (60 windows × 512 tokens) · 1/26 steps',
    );
    assert.equal(
      at(166000, { type: 'progress', phase: 'eval', done: 6, total: 26 }),
      'Evaluating the pruned model (60 windows × 512 tokens) · 6/26 steps · ~20 s left',
    );
  });

  it('blocks finished before a resume do not count in the rate', () => {
    let now = 0;
    const t = new ProgressTracker(() => now);
    const end = (b: number): TrimEvent => ({
      type: 'block_end',
      block: b,
      blocks: 4,
      report: { index: b, target: 0.7, achieved: 0.7, seconds: { statistics: 0, prune: 0, propagate: 0 }, layers: [] },
    });
    t.update({ type: 'phase', phase: 'blocks', message: 'Pruning 4 blocks' });
    assert.equal(t.update(end(0)).message, 'Pruning · block 1/4 done');
    assert.equal(t.update(end(1)).message, 'Pruning · block 2/4 done');
    t.update({ type: 'block_start', block: 2, blocks: 4, target: 0.7 });
    now = 60000;
    assert.equal(t.update(end(2)).message, 'Pruning · block 3/4 done · ~1 min left');
  });
});
