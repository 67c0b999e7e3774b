// The spec families' block pass with ORT's GroupQueryAttention (what the fused graph runs in
// float16 on CUDA where no window bites) against the float32 pass with materialised attention
// (pinned to transformers' logits in familiesTransformers.test.ts), on the CPU provider: Qwen3's
// and Gemma 3's q/k norms before rotary, Gemma 3's rotary chosen per block (local base on sliding
// layers), Phi-3's fused q/k/v and gate/up. The difference must be float16 rounding, no more; and
// Gemma 3's sliding and full blocks must differ (the choice is live).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, type ModelConfig } from '../../src/core/model/config';
import { layerVariation, type ForwardOptions } from '../../src/core/ort/graphs/decoder';
import { familySpec } from '../../src/core/model/registry';
import { relErr, runBlock } from './blockPass';

const FAM = path.join(__dirname, '..', 'data', 'families');
const config = (name: string): ModelConfig => parseConfig(JSON.parse(fs.readFileSync(path.join(FAM, name, 'config.json'), 'utf8')));

function shapes(cfg: ModelConfig): Map<string, number[]> {
  const spec = familySpec(cfg.family)!;
  return new Map([
    ...spec.norms(cfg).map((n) => [n.name, n.shape] as const),
    ...spec.linears(cfg).map((l) => [`${l.name}.weight`, l.shape] as const),
  ]);
}

/** The block of `cfg` with its own weights' shapes; the block-index input is `sliding` where it varies per block. */
function block(cfg: ModelConfig, S: number, windows: number, fo: ForwardOptions, sliding: number, seed: number): Promise<Float32Array> {
  const dims = shapes(cfg);
  return runBlock(cfg, S, windows, fo, seed, {
    biases: new Set(),
    shape: (n) => dims.get(n)!,
    norm: /norm/,
    normBase: cfg.features?.normPlusOne ? 0 : 1,
    layer: layerVariation(cfg, S)?.perBlock ? sliding : undefined,
  });
}

describe('spec families: GroupQueryAttention block pass = materialised attention, to float16 rounding', () => {
  for (const [name, sliding] of [
    ['qwen3-bf16', 0],
    ['gemma3-bf16', 1],
    ['gemma3-bf16', 0],
    ['phi3-f32', 0],
  ] as const) {
    it(`${name}${name.startsWith('gemma') ? (sliding ? ', sliding layer' : ', full layer') : ''}`, async () => {
      const cfg = config(name);
      // Gemma 3's window is 8: at 8 tokens it does not bite, so GroupQueryAttention runs.
      const S = 8;
      assert.ok(!layerVariation(cfg, S)?.mask);
      const ref = await block(cfg, S, 3, {}, sliding, 7);
      const mm16 = await block(cfg, S, 3, { half: true }, sliding, 7);
      const gqa = await block(cfg, S, 3, { half: true, attention: 'gqa' }, sliding, 7);
      const eMm = relErr(mm16, ref);
      const eGqa = relErr(gqa, ref);
      assert.ok(eGqa < 5e-3, `gqa vs float32: ${eGqa}`);
      assert.ok(eGqa < 3 * eMm + 1e-3, `gqa ${eGqa} vs float16 matmul ${eMm}`);
      if (name.startsWith('gemma3')) {
        const other = await block(cfg, S, 3, {}, 1 - sliding, 7);
        assert.ok(relErr(other, ref) > 1e-3, 'the local and global rotary give the same block output');
      }
    });
  }
});
