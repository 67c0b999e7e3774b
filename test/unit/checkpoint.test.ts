/** config.json (older and newer keys), safetensors headers, dtype decoding and typed errors. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { parseConfig } from '../../src/core/model/config';
import { defaults } from '../../src/core/defaults';
import { fromFloat32, toFloat32 } from '../../src/core/model/dtype';
import { TrimError } from '../../src/core/errors';
import { inverseFrequencies } from '../../src/core/model/rope';
import { encodeSafetensors, parseHeader } from '../../src/core/model/safetensors';

const shared = path.resolve(__dirname, '../../../shared/configs');

test(
  'real config.json files of public checkpoints parse (older keys: torch_dtype, rope_theta, rope_scaling)',
  { skip: !fs.existsSync(shared) && 'needs ../shared/configs' },
  () => {
    const want: Record<string, [string, number, number, string]> = {
      'Qwen__Qwen2.5-7B.json': ['qwen2', 28, 4, 'bfloat16'],
      'meta-llama__Llama-2-7b-hf.json': ['llama', 32, 32, 'float16'],
      'meta-llama__Llama-3.1-8B.json': ['llama', 32, 8, 'bfloat16'],
      'mistralai__Mistral-7B-v0.1.json': ['mistral', 32, 8, 'bfloat16'],
      'facebook__opt-125m.json': ['opt', 12, 12, 'float16'],
    };
    for (const [file, [family, layers, kv, dtype]] of Object.entries(want)) {
      const c = parseConfig(JSON.parse(fs.readFileSync(path.join(shared, file), 'utf8')), file);
      assert.equal(c.family, family, file);
      assert.equal(c.layers, layers, file);
      assert.equal(c.kvHeads, kv, file);
      assert.equal(c.dtype, dtype, file);
    }
    const l3 = parseConfig(JSON.parse(fs.readFileSync(path.join(shared, 'meta-llama__Llama-3.1-8B.json'), 'utf8')));
    assert.equal(l3.rope?.theta, 500000);
    assert.equal(l3.rope?.scaling.type, 'llama3');
    assert.equal(l3.features?.window, null);
    const m = parseConfig(JSON.parse(fs.readFileSync(path.join(shared, 'mistralai__Mistral-7B-v0.1.json'), 'utf8')));
    // Mistral's window is masked for real on every layer (no --seqlen refusal any more).
    assert.equal(m.features?.window, 4096);
    assert.deepEqual(new Set(m.features?.layerTypes), new Set(['sliding']));
  },
);

test('the demo model config uses the newer keys (dtype, rope_parameters, layer_types)', () => {
  const c = Checkpoint.open(defaults.model()).config;
  assert.equal(c.dtype, 'float16');
  assert.equal(c.rope?.theta, 10000);
  assert.equal(c.tieEmbeddings, true);
  assert.equal(c.layers, 6);
  assert.equal(c.headDim, 64);
});

test('llama3 rotary scaling keeps high frequencies and divides low ones by the factor', () => {
  const plain = inverseFrequencies(500000, 128, { type: 'default' });
  const scaled = inverseFrequencies(500000, 128, {
    type: 'llama3',
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositions: 8192,
  });
  assert.equal(scaled[0], plain[0]);
  assert.ok(Math.abs(scaled[63] - plain[63] / 8) < 1e-12 * plain[63] + 1e-20);
});

test('unsupported architectures and quantized checkpoints are typed errors naming what is supported', () => {
  assert.throws(
    () => parseConfig({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }),
    (e: unknown) =>
      e instanceof TrimError && e.code === 'E_UNSUPPORTED_ARCH' && /GPT2LMHeadModel/.test(e.message) && /LlamaForCausalLM/.test(e.message),
  );
  const base = JSON.parse(fs.readFileSync(path.join(defaults.model(), 'config.json'), 'utf8'));
  assert.throws(
    () => parseConfig({ ...base, quantization_config: { quant_method: 'gptq' } }),
    (e: unknown) => e instanceof TrimError && /quantized/.test(e.message),
  );
  assert.throws(
    () => parseConfig({ ...base, hidden_size: 'big' }),
    (e: unknown) => e instanceof TrimError && e.code === 'E_CONFIG' && /hidden_size/.test(e.message),
  );
});

test('safetensors headers that lie are typed errors', () => {
  const ok = encodeSafetensors([{ name: 'w', dtype: 'F16', shape: [2, 2], data: new Uint8Array(8) }]);
  const len = Number(ok.readBigUInt64LE(0));
  const header = ok.subarray(8, 8 + len);
  assert.equal(parseHeader('x', header, ok.length).tensors.get('w')!.byteLength, 8);
  const lie = (h: object, dataBytes = 64): unknown => {
    try {
      const hb = Buffer.from(JSON.stringify(h));
      parseHeader('x', hb, 8 + hb.length + dataBytes);
      return null;
    } catch (e) {
      return e;
    }
  };
  for (const [h, what] of [
    [{ w: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 8] } }, /needs 12 bytes/],
    [{ w: { dtype: 'Q4', shape: [2, 2], data_offsets: [0, 8] } }, /unknown dtype/],
    [{ w: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8000] } }, /needs 8 bytes/],
    [{ w: { dtype: 'F16', shape: [40, 2], data_offsets: [0, 160] } }, /ends at byte 160 of a data section of 64/],
    [{ w: { dtype: 'F16', shape: [-2, 2], data_offsets: [0, 8] } }, /invalid shape/],
    [{ a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'F16', shape: [2], data_offsets: [2, 6] } }, /overlap/],
  ] as const) {
    const e = lie(h);
    assert.ok(e instanceof TrimError && e.code === 'E_SAFETENSORS' && what.test(e.message), `${JSON.stringify(h)}: ${e}`);
  }
});

test('a folder without config.json, and a missing shard named by the index, are typed errors', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-ck-'));
  try {
    assert.throws(
      () => Checkpoint.open(d),
      (e: unknown) => e instanceof TrimError && e.code === 'E_MODEL_NOT_FOUND',
    );
    fs.copyFileSync(path.join(defaults.model(), 'config.json'), path.join(d, 'config.json'));
    fs.writeFileSync(
      path.join(d, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors' } }),
    );
    assert.throws(
      () => Checkpoint.open(d),
      (e: unknown) => e instanceof TrimError && /model-00001-of-00002.safetensors/.test(e.message) && /missing/.test(e.message),
    );
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('float16 and bfloat16 decode exactly; float16 encoding rounds to nearest even', () => {
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555]).buffer);
  assert.deepEqual(Array.from(toFloat32(f16, 'F16')), [1, -2, 65504, 2 ** -24, -0, Infinity, Math.fround(0.333251953125)]);
  const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x3eaa]).buffer);
  assert.deepEqual(Array.from(toFloat32(bf, 'BF16')), [1, -3, Math.fround(0.33203125)]);
  const values = Float32Array.from([1, -2, 65504, 0.1, 1e-7, 3.14159]);
  const back = toFloat32(fromFloat32(values, 'F16'), 'F16');
  [1, -2, 65504, 0.0999755859375, 1.1920928955078125e-7, 3.140625].forEach((v, i) => assert.equal(back[i], Math.fround(v)));
});
