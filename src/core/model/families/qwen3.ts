/**
 * Qwen3 (Qwen3ForCausalLM): Llama plus a per-head RMSNorm of q and k over head_dim (weights
 * `self_attn.q_norm` / `k_norm`, [head_dim]) before rotary; head_dim explicit in config.json (q's
 * width need not equal hidden_size); sliding-window layers only with use_sliding_window.
 */
import type { FamilySpec } from '../family';
import { layerTypesOf, llamaFeatures, llamaLinears } from '../family';
import { cfgError } from '../keys';
import { TrimError } from '../../errors';

export const qwen3: FamilySpec = {
  family: 'qwen3',
  architectures: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  tieByDefault: false,
  features(c, where, base) {
    const act = String(c.hidden_act ?? 'silu');
    if (act !== 'silu') throw new TrimError('E_UNSUPPORTED_ARCH', `${where}: activation "${act}" is not supported (silu).`);
    const f = { ...llamaFeatures(base), qkNorm: true };
    const sw = c.sliding_window;
    if (c.use_sliding_window === true && sw !== null && sw !== undefined) {
      if (typeof sw !== 'number' || !Number.isSafeInteger(sw) || sw <= 0) throw cfgError(where, `"sliding_window" must be a positive integer, got ${JSON.stringify(sw)}.`);
      const from = typeof c.max_window_layers === 'number' ? c.max_window_layers : base.layers;
      f.layerTypes = layerTypesOf(c, base.layers, where, (i) => (i >= from ? 'sliding' : 'full'));
      f.window = sw;
    }
    return f;
  },
  linears: llamaLinears,
  norms: (cfg) => [
    { name: 'input_layernorm.weight', shape: [cfg.hidden] },
    { name: 'post_attention_layernorm.weight', shape: [cfg.hidden] },
    { name: 'self_attn.q_norm.weight', shape: [cfg.headDim] },
    { name: 'self_attn.k_norm.weight', shape: [cfg.headDim] },
  ],
};
