/**
 * Writes the tiny random-weight checkpoints of test/data/tiny with our own safetensors writer
 * (run: npx tsx test/data/tiny/make-models.ts). Their reference logits come from transformers
 * (make_reference.py, run on the device machine) and are committed as reference-logits.json.
 */
import * as path from 'node:path';
import { writeSynth, type SynthSpec } from '../../../src/core/model/synth';

const tiny = { hidden: 64, intermediate: 160, layers: 2, vocab: 96, maxPositions: 128, std: 0.15 };
export const TINY_MODELS: Record<string, SynthSpec> = {
  // Llama, float16, GQA 4/2, attention_bias (q/k/v/o biases), llama3 rotary scaling.
  'llama-f16': { family: 'llama', ...tiny, heads: 4, kvHeads: 2, dtype: 'float16', qkvBias: true, tie: false, ropeTheta: 500000,
    extra: { rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 32 } } },
  // Llama, bfloat16, MHA, no biases, tied embeddings.
  'llama-bf16': { family: 'llama', ...tiny, heads: 4, kvHeads: 4, dtype: 'bfloat16', qkvBias: false, tie: true },
  // OPT, float16 (LayerNorm, learned positions, ReLU, biases; tied LM head).
  'opt-f16': { family: 'opt', ...tiny, heads: 4, kvHeads: 4, dtype: 'float16', qkvBias: true, tie: true },
  // OPT, float32.
  'opt-f32': { family: 'opt', ...tiny, heads: 8, kvHeads: 8, dtype: 'float32', qkvBias: true, tie: true },
  // Mistral, float32, GQA 4/1.
  'mistral-f32': { family: 'mistral', ...tiny, heads: 4, kvHeads: 1, dtype: 'float32', qkvBias: false, tie: false },
};
export const TINY_INPUT = [5, 17, 3, 88, 42, 0, 61, 9, 33, 70, 2, 95, 14, 50, 27, 8, 66, 1, 45, 90, 12, 37, 81, 6];

if (require.main === module) {
  let seed = 1;
  for (const [name, spec] of Object.entries(TINY_MODELS)) {
    writeSynth(spec, path.join(__dirname, name), seed++);
    console.log('wrote', name);
  }
}
