/**
 * Qwen2 (Qwen2ForCausalLM): Llama with q/k/v biases (optional tensors, found in the checkpoint)
 * and, with use_sliding_window, sliding-window layers: per `layer_types` (transformers ≥ 4.53),
 * else the layers from max_window_layers on. Qwen3 (qwen3.ts) adds q/k norms.
 */
import type { FamilyFeatures, FamilySpec } from '../family';
import { layerTypesOf, llamaFeatures, llamaLinears } from '../family';
import type { ModelConfig } from '../config';
import { cfgError } from '../keys';
import { llamaNorms, requireSilu } from './llama';

/** Qwen2/Qwen3's window: only with use_sliding_window, on the layers layer_types (or max_window_layers) names. */
export function qwenWindows(c: Record<string, unknown>, where: string, base: ModelConfig, f: FamilyFeatures): FamilyFeatures {
  const sw = c.sliding_window;
  if (c.use_sliding_window !== true || sw === null || sw === undefined || sw === 0) return f;
  if (typeof sw !== 'number' || !Number.isSafeInteger(sw) || sw < 0)
    throw cfgError(where, `"sliding_window" must be a non-negative integer or null, got ${JSON.stringify(sw)}.`);
  const from = typeof c.max_window_layers === 'number' ? c.max_window_layers : 28; // transformers' default
  const layerTypes = layerTypesOf(c, base.layers, where, (i) => (i >= from ? 'sliding' : 'full'));
  return layerTypes.includes('sliding') ? { ...f, layerTypes, window: sw } : f;
}

export const qwen2: FamilySpec = {
  family: 'qwen2',
  architectures: ['Qwen2ForCausalLM'],
  modelTypes: ['qwen2'],
  tieByDefault: false,
  features(c, where, base) {
    requireSilu(c, where);
    return qwenWindows(c, where, base, llamaFeatures(base));
  },
  linears: llamaLinears,
  norms: llamaNorms,
};
