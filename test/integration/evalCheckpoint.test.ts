// "Evaluate Checkpoint": an eval job in the real worker (dist/worker.js) through evalRunner.ts,
// on the demo model reached through a Hugging Face cache model id by the CLI and through the
// snapshot folder by the worker. The worker's perplexity must equal what the CLI prints for the
// same checkpoint, text and protocol (the same engine: this checks the plumbing, the id
// resolution and the result fields, not the arithmetic, which eval.test.ts checks against
// REFERENCE.md); a cancel ends the worker.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEval } from '../../src/extension/evalRunner';
import { layHubCache } from '../unit/hfLayout';
import { ROOT, cli, ensureBuilt, tmp } from './cli';

const DEMO = path.join(ROOT, 'media', 'models', 'trim-demo-qwen2-small');
const TEXT = path.join(ROOT, 'media', 'data', 'eval-brown.txt');
const WORKER = path.join(ROOT, 'dist', 'worker.js');
let dir: string;
let snapshot: string;

before(() => {
  ensureBuilt();
  dir = tmp('trim-evalck-');
  snapshot = layHubCache(path.join(dir, 'hub'), 'trim-tools/demo', DEMO);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('Evaluate Checkpoint (worker eval job)', () => {
  it("gives the CLI's perplexity for the same checkpoint, text and protocol", async () => {
    const ref = cli(
      ['eval', '--model', 'trim-tools/demo', '--text', TEXT, '--seqlen', '128', '--max-windows', '3', '--ep', 'cpu', '--json'],
      { HF_HUB_CACHE: path.join(dir, 'hub') },
    );
    assert.equal(ref.status, 0, ref.stderr);
    const progress: number[] = [];
    const job = startEval({
      workerPath: WORKER,
      id: 'eval-1',
      options: { model: snapshot, text: TEXT, seqlen: 128, maxWindows: 3, ep: 'cpu' },
      onEvent: (e) => {
        if (e.type === 'progress') progress.push(e.done);
      },
    });
    const r = await job.result;
    assert.equal(r.perplexity, ref.last.perplexity);
    assert.equal(r.windows, 3);
    assert.equal(r.seqlen, 128);
    assert.equal(r.ep, 'cpu');
    assert.ok(
      progress.length > 0 && progress.every((x, i) => i === 0 || x >= progress[i - 1]),
      `progress events arrive in order: ${progress}`,
    );
  });

  it('a cancel ends the worker and rejects with E_CANCELLED', async () => {
    const job = startEval({
      workerPath: WORKER,
      id: 'eval-2',
      options: { model: DEMO, text: TEXT, seqlen: 512, maxWindows: null, ep: 'cpu' },
    });
    setTimeout(() => job.cancel(), 300);
    await assert.rejects(job.result, (e: Error & { code?: string }) => e.code === 'E_CANCELLED');
  });

  it("a folder that is not a checkpoint is the worker's own error", async () => {
    const job = startEval({ workerPath: WORKER, id: 'eval-3', options: { model: dir, text: TEXT, seqlen: 128, maxWindows: 1, ep: 'cpu' } });
    await assert.rejects(
      job.result,
      (e: Error & { code?: string }) => e.code !== undefined && e.code.startsWith('E_') && e.code !== 'E_CANCELLED',
    );
  });
});
