// Runs you can tell apart: rows and pickers lead with model · method · target, then the result;
// the tooltip lists date, the options that differ from the defaults, protocol, device, duration.
// And the run list kept per workspace.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PruneOptions } from '../../src/contract';
import { DEFAULTS, defaultOutName } from '../../src/extension/configResolve';
import { changedOptions, modelName, pickItem, runState, runTitle, tooltipRows } from '../../src/extension/runLabels';
import { RunStore, type RunRecord } from '../../src/extension/runStore';

const opts = (patch: Partial<PruneOptions> = {}): PruneOptions => ({
  ...(DEFAULTS as PruneOptions),
  model: '/models/trim-demo-qwen2-small',
  out: '/tmp/out',
  calib: '/x/calib.txt',
  eval: '/x/eval-brown.txt',
  ...patch,
});
const record = (id: string, patch: Partial<RunRecord> = {}): RunRecord => ({
  id,
  label: id,
  status: 'done',
  options: opts(),
  outAuto: true,
  parent: null,
  createdAt: '2026-12-05T07:12:00Z',
  startedAt: '2026-12-05T07:12:01Z',
  finishedAt: '2026-12-05T07:13:13Z',
  reportPath: null,
  summary: null,
  error: null,
  hostPid: null,
  ...patch,
});

describe('run labels', () => {
  it('lead with model · method · target', () => {
    assert.equal(
      runTitle(opts({ sparsity: 0.7, trim: true, iterations: 40, allocation: 'owl' })),
      'trim-demo-qwen2-small · TRIM ×40 · 70% owl',
    );
    assert.equal(
      runTitle(opts({ sparsity: 0.5, trim: false, score: 'magnitude', nm: '2:4' })),
      'trim-demo-qwen2-small · magnitude 2:4 · 50%',
    );
    assert.equal(
      runTitle(opts({ sparsity: 0.6, trim: false, blockSparsity: [0.5, 0.7] })),
      'trim-demo-qwen2-small · Wanda · 60% per block',
    );
  });

  it('name a Hugging Face cache snapshot by its model id (a row: without the organisation)', () => {
    const snap = opts({ model: '/h/hub/models--Qwen--Qwen2.5-0.5B/snapshots/0123abcd' });
    assert.equal(runTitle(snap), 'Qwen/Qwen2.5-0.5B · Wanda · 70%');
    assert.equal(runTitle(snap, true), 'Qwen2.5-0.5B · Wanda · 70%');
    assert.equal(modelName('/h/.cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B/snapshots/0123abcd'), 'Qwen/Qwen2.5-0.5B');
    assert.equal(modelName('/h/.cache/huggingface/hub/models--gpt2/snapshots/0123abcd/'), 'gpt2');
    assert.equal(modelName('/work/models/llama'), 'llama');
  });

  it("a snapshot's derived output folder is named after the model, not the commit", () => {
    const o = { score: 'wanda', trim: true, sparsity: 0.5, allocation: 'uniform' } as const;
    assert.equal(
      defaultOutName({ ...o, model: '/h/hub/models--Qwen--Qwen2.5-0.5B/snapshots/0123abcd' }, 'R'),
      'Qwen2.5-0.5B-wanda-trim-50-R',
    );
    assert.equal(defaultOutName({ ...o, model: '/x/llama' }, 'R'), 'llama-wanda-trim-50-R');
  });

  it('follow with the result or the state', () => {
    const done = record('a', { summary: { sparsity: 0.6984, perplexity: 221.034, densePerplexity: 113.76, ep: 'cpu', seconds: 72 } });
    assert.equal(runState(done), '69.8% sparse · ppl 113.76 → 221.03');
    assert.equal(runState(record('b', { status: 'failed', error: { code: 'INTERRUPTED', message: '' } })), 'interrupted');
    assert.equal(runState(record('c', { status: 'failed', error: { code: 'E_ARCH', message: '' } })), 'failed: E_ARCH');
  });

  it('list only the options that differ from the defaults', () => {
    assert.deepEqual(changedOptions(opts()), []);
    assert.deepEqual(changedOptions(opts({ sparsity: 0.5, nsamples: 16, seqlen: 128, ep: 'cpu' })).sort(), [
      'ep: "cpu"',
      'nsamples: 16',
      'seqlen: 128',
      'sparsity: 0.5',
    ]);
  });

  it('tooltip rows carry date, options, protocol, device and duration', () => {
    const r = record('a', {
      options: opts({ nsamples: 16, seqlen: 128, maxEvalWindows: 4 }),
      summary: { sparsity: 0.5, perplexity: 2, densePerplexity: 1, ep: 'cpu', seconds: 72 },
    });
    const rows = Object.fromEntries(tooltipRows(r));
    assert.ok(rows.date.includes('2026'));
    assert.equal(rows.options, 'nsamples: 16, seqlen: 128, maxEvalWindows: 4');
    assert.equal(rows.protocol, '16 windows × 128 tokens of calib.txt; perplexity on eval-brown.txt (≤ 4 windows)');
    assert.equal(rows.device, 'CPU');
    assert.equal(rows.duration, '1 min 12 s');
    const p = pickItem(r);
    assert.equal(p.label, 'trim-demo-qwen2-small · Wanda · 70%'); // the defaults: Wanda, 70%
    assert.ok(p.detail.endsWith('· /tmp/out'));
  });
});

describe('runs per workspace', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'trim-ws-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a workspace lists its own runs; all workspaces list every run; old runs belong to none', () => {
    const s = new RunStore(dir);
    s.add(record('legacy'));
    s.add(record('a1', { workspace: 'file:///a' }));
    s.add(record('b1', { workspace: 'file:///b' }));
    s.add(record('a2', { workspace: 'file:///a' }));
    s.add(record('empty', { workspace: '' }));
    assert.deepEqual(
      s.list('file:///a').map((r) => r.id),
      ['a2', 'a1'],
    );
    assert.deepEqual(
      s.list('file:///b').map((r) => r.id),
      ['b1'],
    );
    assert.deepEqual(
      s.list('file:///new').map((r) => r.id),
      [],
      'a new workspace starts empty (welcome view)',
    );
    assert.deepEqual(
      s.list('').map((r) => r.id),
      ['empty'],
    );
    assert.deepEqual(
      s.list().map((r) => r.id),
      ['empty', 'a2', 'b1', 'a1', 'legacy'],
    );
    // Kept across a reload, key included.
    assert.deepEqual(
      new RunStore(dir).list('file:///a').map((r) => r.id),
      ['a2', 'a1'],
    );
  });
});
