import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerReport, ModelSummary, TrimEvent } from '../../src/contract';
import { ProgressTracker } from '../../src/extension/progress';

const linears = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const model = { architecture: 'Qwen2ForCausalLM', blocks: 3, linears } as unknown as ModelSummary;
const layer = (name: string): LayerReport => ({
  name, rows: 1, cols: 1, target: 0.7, achieved: 0.7, rowSparsity: [0.7], metricBefore: null, metricAfter: null, lr: null, iteration: null, seconds: 0,
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
    ev.push({ type: 'block_end', block: b, blocks: 3, report: { index: b, target: 0.7, achieved: 0.7, seconds: { statistics: 0, prune: 0, propagate: 0 }, layers: [] } });
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
    assert.ok(seen.some((s) => s.message === 'block 2/3 · gate_proj 70.0%'), seen.map((s) => s.message).join('\n'));
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
});
