// The fused path (one ONNX run for statistics, ranks, TRIM search, masks and propagation;
// core/fused.ts) against the block-by-block path (TRIM_FUSED=0), whose block graphs are pinned to
// transformers' logits (transformersLogits.test.ts): on every tiny checkpoint (Llama f16/bf16,
// Mistral f32, OPT f16/f32) the pruned checkpoints are the same bytes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { PruneOptions, TrimReport } from '../../src/contract';
import { pruneFusedOrNot, shortCalib } from './cli';

const ROOT = path.resolve(__dirname, '..', '..');
const TINY = path.join(ROOT, 'test', 'data', 'tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-fused-eq-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A character-level tokenizer (95 printable ASCII characters + <unk>): ids fit the tiny models' vocabulary of 96. */
function writeTokenizer(dir: string): void {
  const vocab: Record<string, number> = { '<unk>': 0 };
  for (let c = 32; c < 127; c++) vocab[String.fromCharCode(c)] = c - 31;
  fs.writeFileSync(
    path.join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: '.' }, behavior: 'Isolated', invert: false },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
    }),
  );
}

const calib = shortCalib(tmp, 20000);

/** 60% on 8 windows of 32 tokens (`extra`: Wanda or TRIM), fused or block by block. */
const prune = (model: string, fused: boolean, extra: Partial<PruneOptions>, env: Record<string, string> = {}) =>
  pruneFusedOrNot(tmp, model, fused, { sparsity: 0.6, nsamples: 8, seqlen: 32, batch: 4, calib, ...extra }, env);

describe('fused pruning = block-by-block pruning, byte for byte', () => {
  for (const name of ['llama-f16', 'llama-bf16', 'mistral-f32', 'opt-f16', 'opt-f32']) {
    for (const trim of [false, true]) {
      it(`${name}, ${trim ? 'Wanda + TRIM' : 'Wanda'} 60%`, async () => {
        const model = path.join(tmp, name);
        if (!fs.existsSync(model)) {
          fs.cpSync(path.join(TINY, name), model, { recursive: true });
          writeTokenizer(model);
        }
        const extra = { trim, iterations: 4 };
        const a = await prune(model, false, extra);
        const b = await prune(model, true, extra);
        // The CUDA choices, here on the CPU: ranks from two whole-matrix sorts, keep bits applied
        // on the host's worker threads instead of pruned weights returned, and the weights read
        // by ORT from the checkpoint into the session (external data), one block per run and all
        // in one run (the blocks' weights concatenated in the graph, the embedding table too);
        // then keep bits with the weights fed by the host.
        const cuda = { TRIM_RANKS: 'flat', TRIM_OUTPUT: 'masks', TRIM_WEIGHTS: 'initializers' };
        const c = await prune(model, true, extra, cuda);
        const d = await prune(model, true, { ...extra, blocksPerRun: 8 }, cuda);
        const e = await prune(model, true, extra, { ...cuda, TRIM_WEIGHTS: 'inputs' });
        const bytes = (d: string): Buffer => fs.readFileSync(path.join(d, 'model.safetensors'));
        assert.ok(bytes(a.dir).equals(bytes(b.dir)), 'pruned checkpoints differ');
        assert.ok(bytes(a.dir).equals(bytes(c.dir)), 'pruned checkpoints differ (flat ranks, keep bits, weights in the session)');
        assert.ok(bytes(a.dir).equals(bytes(d.dir)), 'pruned checkpoints differ (the same, all blocks in one run)');
        assert.ok(bytes(a.dir).equals(bytes(e.dir)), 'pruned checkpoints differ (flat ranks, keep bits, weights fed)');
        for (const x of [c, d, e])
          assert.deepEqual(
            x.report.blocks.map((blk) => blk.layers.map((l) => l.rowSparsity)),
            b.report.blocks.map((blk) => blk.layers.map((l) => l.rowSparsity)),
          );
        assert.ok(!bytes(a.dir).equals(fs.readFileSync(path.join(model, 'model.safetensors'))), 'nothing was pruned');
        assert.equal(b.report.sparsity, a.report.sparsity);
        b.report.blocks.forEach((blk, i) =>
          blk.layers.forEach((l, j) => {
            const m = a.report.blocks[i].layers[j];
            assert.deepEqual([l.lr, l.iteration, l.rowSparsity], [m.lr, m.iteration, m.rowSparsity], `${l.name} of block ${i}`);
            if (trim)
              assert.ok(
                Math.abs(l.metricAfter! - m.metricAfter!) <= 1e-9,
                `${l.name} of block ${i}: metric ${l.metricAfter} vs ${m.metricAfter}`,
              );
          }),
        );
      });
    }
  }
});
