/**
 * Llama (LlamaForCausalLM): RMSNorm, rotary (default, linear, llama3, dynamic scaling), grouped-
 * query attention, SwiGLU; biases where attention_bias / mlp_bias put them. The base the other
 * decoder families are written against (model/family.ts llamaFeatures, llamaLinears).
 */
import type { FamilySpec } from '../family';
import { llamaFeatures, llamaLinears } from '../family';
import type { ModelConfig } from '../config';
import { TrimError } from '../../errors';

export function requireSilu(c: Record<string, unknown>, where: string): void {
  const act = String(c.hidden_act ?? 'silu');
  if (act !== 'silu') throw new TrimError('E_UNSUPPORTED_ARCH', `${where}: activation "${act}" is not supported (silu).`);
}

export const llamaNorms = (cfg: ModelConfig): { name: string; shape: number[] }[] => [
  { name: 'input_layernorm.weight', shape: [cfg.hidden] },
  { name: 'post_attention_layernorm.weight', shape: [cfg.hidden] },
];

export const llama: FamilySpec = {
  family: 'llama',
  architectures: ['LlamaForCausalLM'],
  modelTypes: ['llama'],
  tieByDefault: false,
  features(c, where, base) {
    requireSilu(c, where);
    return llamaFeatures(base);
  },
  linears: llamaLinears,
  norms: llamaNorms,
};
