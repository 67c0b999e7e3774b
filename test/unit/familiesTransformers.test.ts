/**
 * Qwen3, Gemma 2, Gemma 3 (text) and Phi-3 against `transformers` 5.17: tiny random checkpoints
 * written by transformers' own save_pretrained (qwen3 bfloat16 and sharded, gemma2 float32,
 * gemma3 bfloat16, phi3 float32) and their reference figures, computed by transformers in
 * float32 with eager attention on the device machine (test/data/families/make_families.py):
 * logits of a fixed 24-token input (longer than Gemma's sliding window of 8), the token ids of a
 * fixed text under the demo tokenizer, and the perplexity over its 64-token windows.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { Engine } from '../../src/core/ort/engine';
import { sequenceLogits } from '../../src/core/eval/logits';
import { evaluatePerplexity } from '../../src/core/eval/perplexity';
import { Runner } from '../../src/core/ort/runner';
import { TextTokenizer } from '../../src/core/text/tokenizer';

const dir = path.join(__dirname, '..', 'data', 'families');
const root = path.join(__dirname, '..', '..');
const refFile = path.join(dir, 'reference.json');
export const FAMILY_MODELS = ['qwen3-bf16', 'gemma2-f32', 'gemma3-bf16', 'phi3-f32'];

interface Ref {
  input: number[];
  text: { file: string; chars: number; seqlen: number; windows: number; ids: number[] };
  models: Record<
    string,
    {
      architecture: string;
      shape: [number, number];
      full_shape: [number, number];
      logits: number[];
      perplexity: number;
      window_losses: number[];
    }
  >;
}
const ref: Ref | null = fs.existsSync(refFile) ? (JSON.parse(fs.readFileSync(refFile, 'utf8')) as Ref) : null;
const skip = ref ? false : `${refFile} is missing: generate it with test/data/families/make_families.py on a machine with transformers`;

test("the demo tokenizer gives transformers' token ids of the text", { skip }, () => {
  const text = fs.readFileSync(path.join(root, ref!.text.file), 'utf8').slice(0, ref!.text.chars);
  const ids = TextTokenizer.fromFolder(path.join(dir, 'qwen3-bf16')).encode(text);
  const want = ref!.text.ids;
  assert.deepEqual(Array.from(ids.subarray(0, want.length)), want);
  assert.equal(Math.floor(ids.length / ref!.text.seqlen) >= ref!.text.windows, true);
});

for (const name of FAMILY_MODELS) {
  test(`${name}: logits of a 24-token input match transformers (max relative error ≤ 1e-3)`, { skip }, async () => {
    const expected = ref!.models[name];
    assert.ok(expected, `reference.json lacks ${name}`);
    const ckpt = Checkpoint.open(path.join(dir, name));
    assert.equal(ckpt.config.architecture, expected.architecture);
    const engine = await Engine.create('cpu');
    const got = await sequenceLogits(ckpt, engine, Int32Array.from(ref!.input));
    const [rows, vocab] = expected.full_shape;
    const cols = expected.shape[1];
    assert.equal(got.length, rows * vocab);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const want = expected.logits[r * cols + c];
        maxAbs = Math.max(maxAbs, Math.abs(want));
        maxDiff = Math.max(maxDiff, Math.abs(got[r * vocab + c] - want));
      }
    }
    const rel = maxDiff / maxAbs;
    console.log(name, 'logits rel', rel);
    assert.ok(rel <= 1e-3, `max |ours - transformers| / max |transformers| = ${rel.toExponential(3)}`);
    assert.ok(maxAbs > 0.1, 'reference logits are not degenerate');
  });

  test(`${name}: perplexity of the text matches transformers (within 0.1%)`, { skip }, async () => {
    const expected = ref!.models[name];
    const ckpt = Checkpoint.open(path.join(dir, name));
    const engine = await Engine.create('cpu');
    const { seqlen, windows } = ref!.text;
    const runner = new Runner(ckpt, engine, seqlen, 4);
    try {
      const r = await evaluatePerplexity(ckpt, runner, Int32Array.from(ref!.text.ids), windows);
      assert.equal(r.windows, windows);
      const rel = Math.abs(r.perplexity - expected.perplexity) / expected.perplexity;
      console.log(name, 'ppl rel', rel);
      assert.ok(rel <= 1e-3, `ours ${r.perplexity} vs transformers ${expected.perplexity} (relative ${rel.toExponential(3)})`);
    } finally {
      await runner.release();
    }
  });
}
