/**
 * Gemma 2 (Gemma2ForCausalLM): RMSNorms that scale by (1 + w), four per block (input,
 * post-attention, pre- and post-feedforward: each sublayer's output is normed before the
 * residual add); embeddings × sqrt(hidden_size); GELU (tanh approximation) on the gate; q·kᵀ
 * scaled by query_pre_attn_scalar^-0.5 and soft-capped as cap·tanh(s/cap) before the mask; final
 * logits soft-capped; sliding-window layers per `layer_types` (older configs: even layers).
 */
import type { FamilyFeatures, FamilySpec } from '../family';
import { layerTypesOf, llamaFeatures, llamaLinears } from '../family';
import type { ModelConfig } from '../config';
import { cfgError, positive } from '../keys';
import { TrimError } from '../../errors';

/** What Gemma 2 and Gemma 3 share. */
export function gemmaFeatures(
  c: Record<string, unknown>,
  where: string,
  base: ModelConfig,
  pattern: (i: number) => 'sliding' | 'full',
): FamilyFeatures {
  const act = String(c.hidden_activation ?? c.hidden_act ?? 'gelu_pytorch_tanh');
  if (act !== 'gelu_pytorch_tanh')
    throw new TrimError('E_UNSUPPORTED_ARCH', `${where}: activation "${act}" is not supported (gelu_pytorch_tanh).`);
  const cap = (key: string): number | null => (c[key] === null || c[key] === undefined ? null : positive(c, key, where));
  const f: FamilyFeatures = {
    ...llamaFeatures(base),
    normPlusOne: true,
    sandwichNorms: true,
    queryScale: positive(c, 'query_pre_attn_scalar', where, 256) ** -0.5,
    attnSoftcap: cap('attn_logit_softcapping'),
    finalSoftcap: cap('final_logit_softcapping'),
    // transformers multiplies by a tensor of the activations' dtype: float32 here.
    embedScale: Math.fround(Math.sqrt(base.hidden)),
    act: 'gelu_tanh',
    float16Overflows: true,
  };
  const sw = c.sliding_window;
  if (sw !== null && sw !== undefined) {
    if (typeof sw !== 'number' || !Number.isSafeInteger(sw) || sw <= 0)
      throw cfgError(where, `"sliding_window" must be a positive integer, got ${JSON.stringify(sw)}.`);
    f.layerTypes = layerTypesOf(c, base.layers, where, pattern);
    f.window = sw;
  }
  return f;
}

export function gemmaNorms(cfg: ModelConfig, qk: boolean): { name: string; shape: number[] }[] {
  const H = [cfg.hidden];
  return [
    { name: 'input_layernorm.weight', shape: H },
    { name: 'post_attention_layernorm.weight', shape: H },
    { name: 'pre_feedforward_layernorm.weight', shape: H },
    { name: 'post_feedforward_layernorm.weight', shape: H },
    ...(qk
      ? [
          { name: 'self_attn.q_norm.weight', shape: [cfg.headDim] },
          { name: 'self_attn.k_norm.weight', shape: [cfg.headDim] },
        ]
      : []),
  ];
}

export const gemma2: FamilySpec = {
  family: 'gemma2',
  architectures: ['Gemma2ForCausalLM'],
  modelTypes: ['gemma2'],
  tieByDefault: true,
  features: (c, where, base) => gemmaFeatures(c, where, base, (i) => (i % 2 === 0 ? 'sliding' : 'full')),
  linears: llamaLinears,
  norms: (cfg) => gemmaNorms(cfg, false),
};
