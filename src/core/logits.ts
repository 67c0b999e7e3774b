/** Logits of one sequence, through the same embed/block/head graphs as evaluation (cross-checks). */
import * as ort from 'onnxruntime-node';
import type { Checkpoint } from './checkpoint';
import type { Engine } from './engine';
import { f32, i64 } from './engine';
import { buildHeadGraph } from './graphs/decoder';
import { Runner } from './runner';

export async function sequenceLogits(ckpt: Checkpoint, engine: Engine, ids: Int32Array): Promise<Float32Array> {
  const c = ckpt.config;
  const lay = ckpt.layout;
  const runner = new Runner(ckpt, engine, ids.length, 1);
  try {
    let acts = await runner.embed(ids, ckpt.readF32(lay.embed), lay.positions ? ckpt.readF32(lay.positions) : null);
    for (let b = 0; b < c.layers; b++) acts = (await runner.runBlock(ckpt.readBlock(b).f32, acts, { stats: false, propagate: true })).out!;
    const head = await engine.session(buildHeadGraph(c, true));
    const feeds: Record<string, ort.Tensor> = {
      x: f32(acts[0], [ids.length, c.hidden]),
      targets: i64(new BigInt64Array(ids.length), [ids.length]),
      lm_head: f32(ckpt.readF32(ckpt.lmHeadName()), [c.vocab, c.hidden]),
      'norm.weight': f32(ckpt.readF32(lay.finalNormWeight), [c.hidden]),
    };
    if (lay.finalNormBias) feeds['norm.bias'] = f32(ckpt.readF32(lay.finalNormBias), [c.hidden]);
    const r = await head.run(feeds);
    await head.release();
    return r.logits.data as Float32Array;
  } finally {
    await runner.release();
  }
}
