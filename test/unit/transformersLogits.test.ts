/**
 * Our graphs against `transformers`: tiny random-weight Llama (float16, bfloat16), Mistral
 * (float32) and OPT (float16, float32) checkpoints written by our own writer
 * (test/data/tiny/make-models.ts); reference logits computed by transformers 5.17 on the device
 * machine (test/data/tiny/make_reference.py) and committed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { Engine } from '../../src/core/ort/engine';
import { sequenceLogits } from '../../src/core/eval/logits';

const dir = path.join(__dirname, '..', 'data', 'tiny');
const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference-logits.json'), 'utf8')) as {
  input: number[];
  models: Record<string, { shape: number[]; logits: number[] }>;
};

for (const name of ['llama-f16', 'llama-bf16', 'mistral-f32', 'opt-f16', 'opt-f32']) {
  test(`${name}: logits match transformers (max relative error ≤ 1e-3)`, async () => {
    const expected = ref.models[name];
    assert.ok(expected, `reference-logits.json lacks ${name}`);
    const ckpt = Checkpoint.open(path.join(dir, name));
    const engine = await Engine.create('cpu');
    const got = await sequenceLogits(ckpt, engine, Int32Array.from(ref.input));
    assert.equal(got.length, expected.logits.length);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(expected.logits[i]));
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected.logits[i]));
    }
    const rel = maxDiff / maxAbs;
    assert.ok(rel <= 1e-3, `max |ours - transformers| / max |transformers| = ${rel.toExponential(3)}`);
    assert.ok(maxAbs > 0.1, 'reference logits are not degenerate');
  });
}
