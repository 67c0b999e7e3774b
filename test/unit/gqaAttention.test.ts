// The block pass with ORT's GroupQueryAttention (what the fused graph uses in float16 on CUDA)
// against the float32 block pass with materialised attention (pinned to transformers' logits in
// transformersLogits.test.ts), here on the CPU provider: Llama-style grouped heads with rotary and
// OPT's pre-scaled queries, several windows. The difference must be float16 rounding, no more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelConfig } from '../../src/core/model/config';
import { blockForward, blockWeightNames, type ForwardOptions } from '../../src/core/ort/graphs/decoder';
import { GraphBuilder, T } from '../../src/core/ort/graphs/builder';
import { relErr, runBlock } from './blockPass';

const base = {
  architecture: 'test',
  intermediate: 96,
  layers: 1,
  vocab: 16,
  maxPositions: 64,
  normEps: 1e-6,
  tieEmbeddings: false,
  dtype: 'float32',
} as const;
const llama: ModelConfig = {
  ...base,
  family: 'llama',
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  rope: { theta: 10000, scaling: { type: 'default' } },
};
const opt: ModelConfig = { ...base, family: 'opt', hidden: 64, heads: 4, kvHeads: 4, headDim: 16, rope: null };

function shapeOf(cfg: ModelConfig, n: string): number[] {
  const H = cfg.hidden;
  const I = cfg.intermediate;
  const kv = cfg.kvHeads * cfg.headDim;
  if (/norm/.test(n)) return [H];
  const m: Record<string, number[]> = {
    'self_attn.q_proj.weight': [H, H],
    'self_attn.k_proj.weight': [kv, H],
    'self_attn.v_proj.weight': [kv, H],
    'self_attn.o_proj.weight': [H, H],
    'self_attn.out_proj.weight': [H, H],
    'mlp.gate_proj.weight': [I, H],
    'mlp.up_proj.weight': [I, H],
    'mlp.down_proj.weight': [H, I],
    'fc1.weight': [I, H],
    'fc2.weight': [H, I],
  };
  if (m[n]) return m[n];
  return [m[n.replace('.bias', '.weight')][0]];
}

/** The block of `cfg` (OPT's with biases), its norms drawn around 1. */
function block(cfg: ModelConfig, S: number, windows: number, fo: ForwardOptions, seed: number): Promise<Float32Array> {
  const biases = new Set(
    cfg.family === 'opt'
      ? blockWeightNames(cfg, new Set())
          .filter((n) => n.endsWith('.weight') && !/norm/.test(n))
          .map((n) => n.replace('.weight', '.bias'))
      : [],
  );
  return runBlock(cfg, S, windows, fo, seed, { biases, shape: (n) => shapeOf(cfg, n), norm: /norm.*weight/, normBase: 1 });
}

describe('GroupQueryAttention block pass = materialised attention, to float16 rounding', () => {
  for (const [name, cfg] of [
    ['Llama (2 kv heads, rotary)', llama],
    ['OPT (pre-scaled queries)', opt],
  ] as const) {
    it(name, async () => {
      const S = 24;
      const ref = await block(cfg, S, 3, {}, 7);
      const mm16 = await block(cfg, S, 3, { half: true }, 7);
      const gqa = await block(cfg, S, 3, { half: true, attention: 'gqa' }, 7);
      const eMm = relErr(mm16, ref);
      const eGqa = relErr(gqa, ref);
      assert.ok(eGqa < 5e-3, `gqa vs float32: ${eGqa}`);
      assert.ok(eGqa < 3 * eMm + 1e-3, `gqa ${eGqa} vs float16 matmul ${eMm}`);
      // Causality: the first window's outputs do not depend on later tokens or windows.
      assert.ok(relErr(gqa.subarray(0, S * cfg.hidden), ref.subarray(0, S * cfg.hidden)) < 5e-3);
    });
  }
  it('GroupQueryAttention is refused in float32', () => {
    const g = new GraphBuilder('t');
    assert.throws(() => blockForward(g, g, llama, 8, new Set(), g.input('x', T.FLOAT, [8, 64]), (n) => n, { attention: 'gqa' }), /float16/);
  });
});
