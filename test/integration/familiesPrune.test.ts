// `prune --trim` on the four spec families' checkpoints written by transformers
// (test/data/families: Qwen3 bf16 sharded, Gemma 2 f32, Gemma 3 bf16, Phi-3 f32), CPU: the
// block-by-block path (TRIM_FUSED=0, whose graphs familiesTransformers.test.ts pins to
// transformers' logits) and the fused graph give the same bytes, also with the CUDA choices and
// all blocks in one run (the per-block sliding/full choice fed per run); 64-token windows, longer
// than Gemma's sliding window of 8 (real masks, no refusal); the report names the family's
// linears and, for Phi-3, how its fused rows split.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { PruneOptions, TrimReport } from '../../src/contract';
import { pruneFusedOrNot, shortCalib } from './cli';

const ROOT = path.resolve(__dirname, '..', '..');
const FAM = path.join(ROOT, 'test', 'data', 'families');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-families-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const calib = shortCalib(tmp, 40000);

/** TRIM at 50% with 4 iterations on 8 windows of 64 tokens, fused or block by block. */
const prune = (model: string, fused: boolean, extra: Partial<PruneOptions>, env: Record<string, string> = {}) =>
  pruneFusedOrNot(tmp, model, fused, { sparsity: 0.5, trim: true, iterations: 4, nsamples: 8, seqlen: 64, batch: 4, calib, ...extra }, env);

/** Every safetensors file of a checkpoint folder, by name. */
function weights(dir: string): Map<string, Buffer> {
  return new Map(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.safetensors'))
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f))]),
  );
}

const LINEARS: Record<string, string[]> = {
  'qwen3-bf16': ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  'gemma2-f32': ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  'gemma3-bf16': ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  'phi3-f32': ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'],
};

describe('prune --trim on Qwen3, Gemma 2, Gemma 3 and Phi-3 (fused = block by block, byte for byte)', () => {
  for (const name of Object.keys(LINEARS)) {
    it(`${name}: Wanda + TRIM 50%`, async () => {
      const model = path.join(tmp, name);
      fs.cpSync(path.join(FAM, name), model, { recursive: true });
      const a = await prune(model, false, {});
      const b = await prune(model, true, {});
      const cuda = { TRIM_RANKS: 'flat', TRIM_OUTPUT: 'masks', TRIM_WEIGHTS: 'initializers' };
      const d = await prune(model, true, { blocksPerRun: 8 }, cuda);
      const src = weights(model);
      const wa = weights(a.dir);
      assert.deepEqual([...wa.keys()], [...src.keys()], "the output keeps the source's files (shards)");
      for (const [f, buf] of wa) {
        assert.ok(buf.equals(weights(b.dir).get(f)!), `${f}: fused and block-by-block outputs differ`);
        assert.ok(buf.equals(weights(d.dir).get(f)!), `${f}: outputs differ (CUDA choices, all blocks in one run)`);
      }
      assert.ok(
        [...wa].some(([f, buf]) => !buf.equals(src.get(f)!)),
        'nothing was pruned',
      );
      for (const r of [a.report, b.report]) {
        assert.equal(r.model.family, name.split('-')[0]);
        assert.deepEqual(r.model.linears, LINEARS[name]);
        assert.ok(Math.abs(r.sparsity - 0.5) < 0.02, `sparsity ${r.sparsity}`);
        for (const blk of r.blocks)
          assert.deepEqual(
            blk.layers.map((l) => l.name),
            LINEARS[name],
          );
      }
      assert.deepEqual(
        b.report.blocks.map((blk) => blk.layers.map((l) => l.rowSparsity)),
        a.report.blocks.map((blk) => blk.layers.map((l) => l.rowSparsity)),
      );
      if (name === 'phi3-f32') {
        // 4 heads of 8, 2 key/value heads: q rows 0-31, k 32-47, v 48-63; intermediate 64: gate 0-63, up 64-127.
        assert.deepEqual(a.report.model.linearParts, {
          qkv_proj: [
            { name: 'q', start: 0, end: 32 },
            { name: 'k', start: 32, end: 48 },
            { name: 'v', start: 48, end: 64 },
          ],
          gate_up_proj: [
            { name: 'gate', start: 0, end: 64 },
            { name: 'up', start: 64, end: 128 },
          ],
        });
        assert.deepEqual(a.report.model.linearShapes, [
          [64, 32],
          [32, 32],
          [128, 32],
          [32, 64],
        ]);
      } else assert.equal(a.report.model.linearParts, undefined);
    });
  }
});
