/**
 * Mistral (MistralForCausalLM): Llama with a sliding window on every layer when config.json sets
 * `sliding_window` (Mistral 7B v0.1: 4096), masked for real.
 */
import type { FamilySpec } from '../family';
import { llamaFeatures, llamaLinears } from '../family';
import { cfgError } from '../keys';
import { llamaNorms, requireSilu } from './llama';

export const mistral: FamilySpec = {
  family: 'mistral',
  architectures: ['MistralForCausalLM'],
  modelTypes: ['mistral'],
  tieByDefault: false,
  features(c, where, base) {
    requireSilu(c, where);
    const f = llamaFeatures(base);
    const sw = c.sliding_window;
    if (sw === null || sw === undefined || sw === 0) return f;
    if (typeof sw !== 'number' || !Number.isSafeInteger(sw) || sw < 0)
      throw cfgError(where, `"sliding_window" must be a non-negative integer or null, got ${JSON.stringify(sw)}.`);
    return { ...f, layerTypes: new Array(base.layers).fill('sliding'), window: sw };
  },
  linears: llamaLinears,
  norms: llamaNorms,
};
