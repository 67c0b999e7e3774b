/**
 * Gemma 3, text only (Gemma3ForCausalLM, model_type gemma3_text): Gemma 2 (model/families/gemma2.ts)
 * without soft-capping by default, plus per-head q/k RMSNorms with (1 + w), and a rotary base of
 * its own for the sliding layers: transformers 5 writes `rope_parameters` keyed by layer type
 * ({full_attention: {...}, sliding_attention: {...}}); older configs `rope_theta` and
 * `rope_local_base_freq`. Older configs give the layer pattern as `sliding_window_pattern`
 * (every pattern-th layer full).
 */
import type { FamilySpec } from '../family';
import { llamaLinears } from '../family';
import { cfgError, num, parseRope, posInt } from '../keys';
import { gemmaFeatures, gemmaNorms } from './gemma2';

function byLayerType(c: Record<string, unknown>, where: string): Record<string, unknown> | null {
  const rp = c.rope_parameters;
  if (rp === null || rp === undefined || typeof rp !== 'object' || Array.isArray(rp)) return null;
  const r = rp as Record<string, unknown>;
  if (!('full_attention' in r) && !('sliding_attention' in r)) return null;
  for (const k of ['full_attention', 'sliding_attention']) {
    if (typeof r[k] !== 'object' || r[k] === null || Array.isArray(r[k]))
      throw cfgError(where, `"rope_parameters.${k}" must be an object.`);
  }
  return r;
}

/** Rotary parameters of one layer type: the per-type entry read as a whole config's rope_parameters. */
function ropeOf(
  c: Record<string, unknown>,
  where: string,
  type: 'full_attention' | 'sliding_attention',
  fallbackTheta: number,
): ReturnType<typeof parseRope> {
  const r = byLayerType(c, where);
  if (r)
    return parseRope(
      { max_position_embeddings: c.max_position_embeddings, rope_theta: fallbackTheta, rope_parameters: r[type] },
      `${where} (rope_parameters.${type})`,
    );
  if (type === 'full_attention') return parseRope({ rope_theta: fallbackTheta, ...c }, where);
  return { theta: num(c, 'rope_local_base_freq', where, 10000), scaling: { type: 'default' } };
}

export const gemma3: FamilySpec = {
  family: 'gemma3',
  architectures: ['Gemma3ForCausalLM'],
  modelTypes: ['gemma3_text'],
  tieByDefault: true,
  rope: (c, where) => ropeOf(c, where, 'full_attention', 1_000_000),
  features(c, where, base) {
    const pattern = posInt(c, c.sliding_window_pattern !== undefined ? 'sliding_window_pattern' : '_sliding_window_pattern', where, 6);
    const f = gemmaFeatures(c, where, base, (i) => ((i + 1) % pattern !== 0 ? 'sliding' : 'full'));
    f.qkNorm = true;
    if (f.layerTypes) f.localRope = ropeOf(c, where, 'sliding_attention', 10000);
    return f;
  },
  linears: llamaLinears,
  norms: (cfg) => gemmaNorms(cfg, true),
};
