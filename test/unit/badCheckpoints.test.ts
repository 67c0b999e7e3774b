// Every bad checkpoint of test/unit/badInputs.ts through the core's readers: a typed TrimError
// with the expected code and a message that says what is wrong and where, raised at the stage
// where the damage can be seen (opening the folder, reading a block's weights, the tokenizer).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { isTrimError } from '../../src/core/errors';
import { checkIds, TextTokenizer } from '../../src/core/text/tokenizer';
import { BAD_CHECKPOINTS, CALIB, DEMO, tinyModel, tmpDir } from './badInputs';

const root = tmpDir('trim-bad-ckpt-');
after(() => fs.rmSync(root, { recursive: true, force: true }));
const calibSample = fs.readFileSync(CALIB, 'utf8').slice(0, 20_000);

type Stage = 'open' | 'read' | 'tokenizer';

/** Runs the readers a pruning job runs, in its order; returns the stage that threw, with the error. */
function exercise(model: string): { stage: Stage | 'ok'; error: unknown } {
  let stage: Stage = 'open';
  try {
    const ckpt = Checkpoint.open(model);
    stage = 'read';
    ckpt.readF32(ckpt.layout.embed);
    for (let b = 0; b < ckpt.config.layers; b++) ckpt.readBlock(b, true);
    ckpt.readF32(ckpt.layout.finalNormWeight);
    stage = 'tokenizer';
    const tok = TextTokenizer.fromFolder(model);
    checkIds(tok.encode(calibSample), ckpt.config.vocab, tok.source);
    return { stage: 'ok', error: null };
  } catch (e) {
    return { stage, error: e };
  }
}

describe('bad checkpoints: typed errors from the core', () => {
  it('the undamaged tiny model and the demo model pass every stage', () => {
    const d = path.join(root, 'good');
    tinyModel(d);
    assert.deepEqual(exercise(d), { stage: 'ok', error: null });
    assert.deepEqual(exercise(DEMO), { stage: 'ok', error: null });
    const sharded = path.join(root, 'good-sharded');
    tinyModel(sharded, { shardBytes: 300_000 });
    assert.ok(fs.existsSync(path.join(sharded, 'model.safetensors.index.json')));
    assert.deepEqual(exercise(sharded), { stage: 'ok', error: null });
  });

  let i = 0;
  for (const c of BAD_CHECKPOINTS) {
    it(`${c.name} → ${c.code}`, () => {
      const dir = path.join(root, `case-${i++}`);
      fs.mkdirSync(dir);
      const model = c.build(dir);
      const { stage, error } = exercise(model);
      assert.ok(isTrimError(error), `expected a TrimError, got ${error instanceof Error ? error.stack : String(error)}`);
      assert.equal(error.code, c.code, error.message);
      assert.match(error.message, c.message);
      assert.equal(stage, c.stage, `noticed while ${stage}, expected while ${c.stage}: ${error.message}`);
      assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in the message');
      if (c.demo) fs.rmSync(dir, { recursive: true, force: true });
    });
  }
});
