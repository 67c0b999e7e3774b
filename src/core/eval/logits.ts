/** Logits of one sequence, through the same embed/block/head graphs as evaluation (cross-checks). */
import type { Checkpoint } from '../model/checkpoint';
import type { Engine } from '../ort/engine';
import { readHeadWeights, Runner } from '../ort/runner';

export async function sequenceLogits(ckpt: Checkpoint, engine: Engine, ids: Int32Array): Promise<Float32Array> {
  const lay = ckpt.layout;
  const runner = new Runner(ckpt, engine, ids.length, 1);
  try {
    const embed = ckpt.readF32(lay.embed);
    let acts = await runner.embed(ids, embed, lay.positions ? ckpt.readF32(lay.positions) : null);
    for (let b = 0; b < ckpt.config.layers; b++)
      acts = (await runner.runBlock(ckpt.readBlock(b).f32, acts, { stats: false, propagate: true })).out!;
    return (await runner.head(acts[0], new BigInt64Array(ids.length), readHeadWeights(ckpt, embed), true)).logits!;
  } finally {
    await runner.release();
  }
}
