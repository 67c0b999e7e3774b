/**
 * Phi-3 (Phi3ForCausalLM): Llama with fused projections. `self_attn.qkv_proj` [(Hq + 2·Hkv)·D, H]
 * holds q, k and v's rows in that order; `mlp.gate_up_proj` [2·I, H] the gate's rows then up's
 * (SiLU(gate)·up). They are pruned as stored: one weight, its output rows scored and searched
 * together (Wanda statistics of the shared input; TRIM's rows are the fused output's rows), and
 * the report says which rows are whose (LinearSpec.parts). A sliding window, when set, applies to
 * every layer. Partial rotary (Phi-4-mini) and LongRoPE (the 128k models) are not supported.
 */
import type { FamilySpec } from '../family';
import { llamaFeatures } from '../family';
import { cfgError } from '../keys';
import { TrimError } from '../../errors';
import { llamaNorms, requireSilu } from './llama';

export const phi3: FamilySpec = {
  family: 'phi3',
  architectures: ['Phi3ForCausalLM'],
  modelTypes: ['phi3'],
  tieByDefault: false,
  features(c, where, base) {
    requireSilu(c, where);
    const rp = (typeof c.rope_parameters === 'object' && c.rope_parameters !== null ? c.rope_parameters : {}) as Record<string, unknown>;
    const partial = c.partial_rotary_factor ?? rp.partial_rotary_factor ?? 1;
    if (partial !== 1)
      throw new TrimError(
        'E_UNSUPPORTED_ARCH',
        `${where}: partial rotary (partial_rotary_factor ${JSON.stringify(partial)}) is not supported.`,
      );
    const f = { ...llamaFeatures(base), fusedQkv: true, fusedGateUp: true };
    const sw = c.sliding_window;
    if (sw !== null && sw !== undefined) {
      if (typeof sw !== 'number' || !Number.isSafeInteger(sw) || sw <= 0)
        throw cfgError(where, `"sliding_window" must be a positive integer, got ${JSON.stringify(sw)}.`);
      f.layerTypes = new Array(base.layers).fill('sliding');
      f.window = sw;
    }
    return f;
  },
  linears(cfg) {
    const { hidden: H, intermediate: I, heads, kvHeads, headDim: D } = cfg;
    const q = heads * D;
    const kv = kvHeads * D;
    return [
      {
        name: 'self_attn.qkv_proj',
        group: 'attn_in',
        shape: [q + 2 * kv, H],
        parts: [
          { name: 'q', start: 0, end: q },
          { name: 'k', start: q, end: q + kv },
          { name: 'v', start: q + kv, end: q + 2 * kv },
        ],
      },
      { name: 'self_attn.o_proj', group: 'o_in', shape: [H, q] },
      {
        name: 'mlp.gate_up_proj',
        group: 'mlp_in',
        shape: [2 * I, H],
        parts: [
          { name: 'gate', start: 0, end: I },
          { name: 'up', start: I, end: 2 * I },
        ],
      },
      { name: 'mlp.down_proj', group: 'down_in', shape: [H, I] },
    ];
  },
  norms: llamaNorms,
};
