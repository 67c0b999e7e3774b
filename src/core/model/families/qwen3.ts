/**
 * Qwen3 (Qwen3ForCausalLM): Llama plus a per-head RMSNorm of q and k over head_dim (weights
 * `self_attn.q_norm` / `k_norm`, [head_dim]) before rotary; head_dim explicit in config.json (q's
 * width need not equal hidden_size); sliding-window layers as Qwen2's.
 */
import type { FamilySpec } from '../family';
import { llamaFeatures, llamaLinears } from '../family';
import { llamaNorms, requireSilu } from './llama';
import { qwenWindows } from './qwen2';

export const qwen3: FamilySpec = {
  family: 'qwen3',
  architectures: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  tieByDefault: false,
  features(c, where, base) {
    requireSilu(c, where);
    return qwenWindows(c, where, base, { ...llamaFeatures(base), qkNorm: true });
  },
  linears: llamaLinears,
  norms: (cfg) => [
    ...llamaNorms(cfg),
    { name: 'self_attn.q_norm.weight', shape: [cfg.headDim] },
    { name: 'self_attn.k_norm.weight', shape: [cfg.headDim] },
  ],
};
