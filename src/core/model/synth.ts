/**
 * Random-weight checkpoints of real (or tiny) shapes in the ordinary Hugging Face safetensors
 * layout, written by our own safetensors writer: for benchmarks (`synth --preset`) and for the
 * cross-checks against `transformers` (tiny models under test/data). What the checkpoint holds
 * (config.json, each tensor's name and shape) is synthContents.ts's; here the presets, the random
 * values and the shards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Family } from '../../contract';
import { fromFloat32, type StoredDtype } from './dtype';
import { encodeSafetensors, type TensorToWrite } from './safetensors';
import { configJson, tensorList } from './synthContents';

export interface SynthSpec {
  /** The families our own writer lays out (synthContents.ts; the others' tiny checkpoints are written by transformers: test/data/families). */
  family: Extract<Family, 'llama' | 'qwen2' | 'mistral' | 'opt'>;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  maxPositions: number;
  dtype: 'float16' | 'bfloat16' | 'float32';
  /** q/k/v biases (Qwen2 always; Llama's attention_bias adds o_proj too). */
  qkvBias: boolean;
  tie: boolean;
  ropeTheta?: number;
  /** Extra config.json keys (e.g. rope_scaling). */
  extra?: Record<string, unknown>;
  /** Standard deviation of the random weights. */
  std?: number;
  /** Largest shard in bytes (more tensors → several shards + index). */
  shardBytes?: number;
}

export const PRESETS: Record<string, SynthSpec> = {
  'qwen2.5-0.5b': {
    family: 'qwen2',
    hidden: 896,
    intermediate: 4864,
    layers: 24,
    heads: 14,
    kvHeads: 2,
    vocab: 151936,
    maxPositions: 32768,
    dtype: 'bfloat16',
    qkvBias: true,
    tie: true,
    ropeTheta: 1000000,
  },
  'qwen2.5-1.5b': {
    family: 'qwen2',
    hidden: 1536,
    intermediate: 8960,
    layers: 28,
    heads: 12,
    kvHeads: 2,
    vocab: 151936,
    maxPositions: 131072,
    dtype: 'bfloat16',
    qkvBias: true,
    tie: true,
    ropeTheta: 1000000,
  },
  'qwen2.5-7b': {
    family: 'qwen2',
    hidden: 3584,
    intermediate: 18944,
    layers: 28,
    heads: 28,
    kvHeads: 4,
    vocab: 152064,
    maxPositions: 131072,
    dtype: 'bfloat16',
    qkvBias: true,
    tie: false,
    ropeTheta: 1000000,
  },
  'llama-2-7b': {
    family: 'llama',
    hidden: 4096,
    intermediate: 11008,
    layers: 32,
    heads: 32,
    kvHeads: 32,
    vocab: 32000,
    maxPositions: 4096,
    dtype: 'float16',
    qkvBias: false,
    tie: false,
  },
  'opt-1.3b': {
    family: 'opt',
    hidden: 2048,
    intermediate: 8192,
    layers: 24,
    heads: 32,
    kvHeads: 32,
    vocab: 50272,
    maxPositions: 2048,
    dtype: 'float16',
    qkvBias: true,
    tie: true,
  },
};

/** mulberry32: a small seeded PRNG; normal samples by Box-Muller. */
export function rng(seed: number): { uniform: () => number; normal: () => number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(uniform(), 1e-12);
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal };
}

const ST: Record<SynthSpec['dtype'], StoredDtype> = { float16: 'F16', bfloat16: 'BF16', float32: 'F32' };

const POOL = 1 << 22;

/** Writes the checkpoint (config.json, generation_config.json, one or more safetensors shards). */
export function writeSynth(s: SynthSpec, dir: string, seed = 0): { files: string[]; bytes: number } {
  fs.mkdirSync(dir, { recursive: true });
  const r = rng(seed);
  const std = s.std ?? 0.02;
  const st = ST[s.dtype];
  const width = st === 'F32' ? 4 : 2;
  // Shards stay under 2 GiB: one write call cannot take more (and hub checkpoints use ≤ 5 GB).
  const limit = s.shardBytes ?? 2 ** 31 - 2 ** 24;
  // Assign tensors to shards by size first, so each shard can be generated and written alone.
  const list = tensorList(s);
  const shardOf: number[] = [];
  let shardCount = 1;
  let size = 0;
  for (const t of list) {
    const b = t.shape.reduce((a, c) => a * c, 1) * width;
    if (size > 0 && size + b > limit) {
      shardCount++;
      size = 0;
    }
    shardOf.push(shardCount - 1);
    size += b;
  }
  const names =
    shardCount === 1
      ? ['model.safetensors']
      : Array.from(
          { length: shardCount },
          (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shardCount).padStart(5, '0')}.safetensors`,
        );
  const files: string[] = [];
  let bytes = 0;
  let pool: Uint8Array | null = null;
  const weightMap: Record<string, string> = {};
  for (let sh = 0; sh < shardCount; sh++) {
    const tensors: TensorToWrite[] = [];
    list.forEach((t, i) => {
      if (shardOf[i] !== sh) return;
      const n = t.shape.reduce((a, c) => a * c, 1);
      if (t.kind === 'weight' && n > POOL) {
        // Large matrices: slices of a pool of normal draws at random offsets (a 7B-shaped
        // checkpoint in about a minute instead of drawing billions of normals one by one).
        pool ??= fromFloat32(
          new Float32Array(POOL * 2).map(() => std * r.normal()),
          st,
        );
        const data = new Uint8Array(n * width);
        for (let o = 0; o < n; o += POOL) {
          const len = Math.min(POOL, n - o);
          const from = Math.floor(r.uniform() * POOL);
          data.set(pool.subarray(from * width, (from + len) * width), o * width);
        }
        tensors.push({ name: t.name, dtype: st, shape: t.shape, data });
        weightMap[t.name] = names[sh];
        return;
      }
      const v = new Float32Array(n);
      if (t.kind === 'norm') for (let j = 0; j < n; j++) v[j] = 1 + 0.1 * r.normal();
      else if (t.kind === 'bias') for (let j = 0; j < n; j++) v[j] = 0.1 * r.normal();
      else for (let j = 0; j < n; j++) v[j] = std * r.normal();
      tensors.push({ name: t.name, dtype: st, shape: t.shape, data: fromFloat32(v, st) });
      weightMap[t.name] = names[sh];
    });
    const buf = encodeSafetensors(tensors);
    fs.writeFileSync(path.join(dir, names[sh]), buf);
    files.push(names[sh]);
    bytes += buf.length;
  }
  if (shardCount > 1) {
    fs.writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: bytes }, weight_map: weightMap }, null, 2),
    );
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configJson(s), null, 2));
  fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ _from_model_config: true }, null, 2));
  return { files, bytes };
}
