/**
 * config.json of the spec families with the keys older transformers wrote (no layer_types, no
 * rope_parameters; shapes as in public checkpoints: gemma-2-2b, gemma-3-1b, Phi-3-mini-4k,
 * Qwen3-0.6B), read into the features the graphs use; and what is refused, by name.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/core/model/config';
import { TrimError } from '../../src/core/errors';

const gemma2 = {
  architectures: ['Gemma2ForCausalLM'],
  model_type: 'gemma2',
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  vocab_size: 256000,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh',
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  attn_logit_softcapping: 50.0,
  final_logit_softcapping: 30.0,
  torch_dtype: 'float32',
};
const gemma3 = {
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  hidden_size: 1152,
  intermediate_size: 6912,
  num_hidden_layers: 26,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 256,
  vocab_size: 262144,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  hidden_activation: 'gelu_pytorch_tanh',
  query_pre_attn_scalar: 256,
  sliding_window: 512,
  sliding_window_pattern: 6,
  attn_logit_softcapping: null,
  final_logit_softcapping: null,
  torch_dtype: 'bfloat16',
};
const phi3 = {
  architectures: ['Phi3ForCausalLM'],
  model_type: 'phi3',
  hidden_size: 3072,
  intermediate_size: 8192,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32064,
  max_position_embeddings: 4096,
  original_max_position_embeddings: 4096,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  hidden_act: 'silu',
  sliding_window: 2047,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};
const qwen3 = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  vocab_size: 151936,
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_scaling: null,
  hidden_act: 'silu',
  use_sliding_window: false,
  sliding_window: null,
  max_window_layers: 28,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
};

test('Gemma 2, older keys: (1 + w) norms, soft-capping, query scale, scaled embeddings, even layers sliding', () => {
  const c = parseConfig(gemma2);
  const f = c.features!;
  assert.equal(c.family, 'gemma2');
  assert.equal(c.tieEmbeddings, true, 'Gemma ties its LM head unless config.json says otherwise');
  assert.deepEqual([f.normPlusOne, f.sandwichNorms, f.qkNorm, f.act], [true, true, false, 'gelu_tanh']);
  assert.deepEqual([f.attnSoftcap, f.finalSoftcap, f.queryScale], [50, 30, 256 ** -0.5]);
  assert.equal(f.embedScale, Math.fround(Math.sqrt(2304)));
  assert.equal(f.window, 4096);
  assert.deepEqual(f.layerTypes!.slice(0, 4), ['sliding', 'full', 'sliding', 'full']);
});

test('Gemma 3 text, older keys: q/k norms, every 6th layer full, local rotary base on the sliding layers', () => {
  const c = parseConfig(gemma3);
  const f = c.features!;
  assert.equal(c.family, 'gemma3');
  assert.equal(f.qkNorm, true);
  assert.deepEqual([f.attnSoftcap, f.finalSoftcap], [null, null]);
  assert.deepEqual(
    f.layerTypes!.map((t, i) => (t === 'full' ? i : -1)).filter((i) => i >= 0),
    [5, 11, 17, 23],
  );
  assert.equal(c.rope?.theta, 1000000);
  assert.equal(f.localRope?.theta, 10000);
});

test('Gemma 3 text, transformers 5 keys: rope_parameters by layer type', () => {
  const { rope_theta: _t, rope_local_base_freq: _l, sliding_window_pattern: _p, ...rest } = gemma3;
  const c = parseConfig({
    ...rest,
    layer_types: Array.from({ length: 26 }, (_, i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention')),
    rope_parameters: {
      full_attention: { rope_type: 'linear', factor: 8.0, rope_theta: 1000000 },
      sliding_attention: { rope_type: 'default', rope_theta: 10000 },
    },
  });
  assert.deepEqual(c.rope, { theta: 1000000, scaling: { type: 'linear', factor: 8 } });
  assert.deepEqual(c.features!.localRope, { theta: 10000, scaling: { type: 'default' } });
});

test('Phi-3: fused linears with their parts, a window on every layer', () => {
  const c = parseConfig(phi3);
  const f = c.features!;
  assert.deepEqual([f.fusedQkv, f.fusedGateUp, f.window], [true, true, 2047]);
  assert.ok(f.layerTypes!.every((t) => t === 'sliding'));
  assert.equal(c.tieEmbeddings, false);
});

test('Qwen3: q/k norms, explicit head_dim, no window without use_sliding_window; with it, layers from max_window_layers', () => {
  const c = parseConfig(qwen3);
  assert.deepEqual([c.features!.qkNorm, c.headDim, c.features!.layerTypes], [true, 128, null]);
  const w = parseConfig({ ...qwen3, use_sliding_window: true, sliding_window: 4096, max_window_layers: 20 });
  assert.deepEqual(
    w.features!.layerTypes!.map((t) => t === 'sliding'),
    Array.from({ length: 28 }, (_, i) => i >= 20),
  );
  assert.equal(w.features!.window, 4096);
});

test('what the spec families refuse is a typed error that names it', () => {
  const refused = (raw: object, code: string, re: RegExp): void => {
    assert.throws(
      () => parseConfig(raw),
      (e: unknown) => e instanceof TrimError && e.code === code && re.test(e.message),
    );
  };
  refused({ ...phi3, rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } }, 'E_CONFIG', /longrope/);
  refused({ ...phi3, partial_rotary_factor: 0.75 }, 'E_UNSUPPORTED_ARCH', /partial rotary/);
  refused({ ...gemma2, hidden_activation: 'gelu' }, 'E_UNSUPPORTED_ARCH', /activation "gelu"/);
  refused({ ...gemma2, layer_types: ['sliding_attention'] }, 'E_CONFIG', /layer_types/);
  refused({ ...gemma2, query_pre_attn_scalar: 0 }, 'E_CONFIG', /query_pre_attn_scalar/);
  refused({ ...gemma3, layer_types: Array(26).fill('chunked_attention') }, 'E_CONFIG', /chunked_attention/);
  refused(
    { ...qwen3, architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe' },
    'E_UNSUPPORTED_ARCH',
    /Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM/,
  );
});

test('Gemma 2 and 3 say their activations overflow float16 (--precision auto keeps float32 on CUDA); the others do not', () => {
  const dir = path.join(__dirname, '..', 'data', 'families');
  const flags = Object.fromEntries(
    ['qwen3-bf16', 'gemma2-f32', 'gemma3-bf16', 'phi3-f32'].map((m) => [
      m,
      parseConfig(JSON.parse(fs.readFileSync(path.join(dir, m, 'config.json'), 'utf8'))).features?.float16Overflows,
    ]),
  );
  assert.deepEqual(flags, { 'qwen3-bf16': false, 'gemma2-f32': true, 'gemma3-bf16': true, 'phi3-f32': false });
});
