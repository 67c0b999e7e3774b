/**
 * One decoder block (graphs/decoder.ts blockForward) run on ORT's CPU provider with seeded random
 * tokens and weights, in float32 or float16 and with either attention, so that two ways of running
 * the same block can be compared; and the relative error between two outputs. For
 * gqaAttention.test.ts (Llama, OPT) and familiesGqa.test.ts (the spec families).
 */
import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../../src/core/model/config';
import { rng } from '../../src/core/model/synth';
import { GraphBuilder, T } from '../../src/core/ort/graphs/builder';
import { blockForward, blockWeightNames, type ForwardOptions } from '../../src/core/ort/graphs/decoder';

export interface BlockWeights {
  /** The block's biases (empty: none). */
  biases: Set<string>;
  /** The shape of a weight or bias. */
  shape(name: string): number[];
  /** Which inputs are norm weights, drawn around `normBase`; the others around 0. */
  norm: RegExp;
  normBase: number;
  /** The value of the block-index input, for a family whose rotary or window varies per block. */
  layer?: number;
}

/** `windows` windows of `S` tokens through one block; inputs and weights drawn from `seed`. */
export async function runBlock(
  cfg: ModelConfig,
  S: number,
  windows: number,
  fo: ForwardOptions,
  seed: number,
  w: BlockWeights,
): Promise<Float32Array> {
  const names = blockWeightNames(cfg, w.biases);
  const g = new GraphBuilder('t');
  const x = g.input('x', T.FLOAT, [windows * S, cfg.hidden]);
  const cast = (v: string): string => (fo.half ? g.op('Cast', [v], { to: T.FLOAT16 }) : v);
  const ws = new Map(names.map((n) => [n, cast(g.input(n, T.FLOAT, w.shape(n)))]));
  const layer = w.layer === undefined ? undefined : g.input('layer', T.FLOAT, []);
  const f = blockForward(g, g, cfg, S, w.biases, cast(x), (n) => ws.get(n)!, layer ? { ...fo, layer } : fo);
  g.output(fo.half ? g.op('Cast', [f.y], { to: T.FLOAT }) : f.y, 'y');
  const r = rng(seed);
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: windows * S * cfg.hidden }, () => r.normal()),
      [windows * S, cfg.hidden],
    ),
  };
  if (layer) feeds.layer = new ort.Tensor('float32', Float32Array.of(w.layer!), []);
  for (const n of names) {
    const dims = w.shape(n);
    const len = dims.reduce((a, b) => a * b, 1);
    feeds[n] = new ort.Tensor(
      'float32',
      Float32Array.from({ length: len }, () => (w.norm.test(n) ? w.normBase + 0.1 * r.normal() : 0.15 * r.normal())),
      dims,
    );
  }
  const s = await ort.InferenceSession.create(g.build(), { executionProviders: ['cpu'] });
  const out = (await s.run(feeds)).y.data as Float32Array;
  await s.release();
  return out;
}

/** The largest absolute difference of `a` from `b`, over the largest magnitude of `b`. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}
