// Bounded, seeded fuzzing of what a checkpoint folder feeds the engine before any weight is used:
// the safetensors header (parseHeader, and readSafetensorsHeader on whole files), the shard index
// (parseIndex), config.json (parseConfig) and, end to end, Checkpoint.open + readBlock on mutated
// folders. Properties: never a hang, never an exception other than a TrimError, never an
// allocation larger than the file being read, and whatever is accepted is self-consistent.
// TRIM_FUZZ_SEED and TRIM_FUZZ_SCALE (a multiplier of the case counts) reproduce or widen a run.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { parseIndex } from '../../src/core/model/shardIndex';
import { parseConfig } from '../../src/core/model/config';
import { isTrimError } from '../../src/core/errors';
import { KNOWN_DTYPES, parseHeader, readSafetensorsHeader } from '../../src/core/model/safetensors';
import { rng } from '../../src/core/model/synth';
import { DEMO, ROOT, tinyModel, tmpDir } from './badInputs';

const SEED = Number(process.env.TRIM_FUZZ_SEED ?? 20261129);
const SCALE = Number(process.env.TRIM_FUZZ_SCALE ?? 1);
const N = (n: number): number => Math.max(1, Math.round(n * SCALE));
/** A single call slower than this is reported as a hang. */
const HANG_MS = 2000;

const root = tmpDir('trim-fuzz-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const r = rng(SEED);
const int = (n: number): number => Math.floor(r.uniform() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

/** Values that break naive parsers: huge, negative, fractional, wrong types, prototype keys, deep nesting. */
const INTERESTING_JSON = [
  '-1',
  '0',
  '1',
  '2',
  '7',
  '1.5',
  '-0',
  '1e308',
  '-1e308',
  '1e400',
  '9007199254740991',
  '9007199254740993',
  '18446744073709551615',
  '4294967296',
  '67108865',
  'null',
  'true',
  'false',
  '""',
  '"x"',
  '[]',
  '{}',
  '[0]',
  '[-1, 2]',
  '[2, 1]',
  '[0, 18446744073709551616]',
  '[1,2,3,4,5,6,7,8,9]',
  '"F16"',
  '"BF16"',
  '"F32"',
  '"I8"',
  '"F8_E4M3"',
  '"toString"',
  '"__proto__"',
  '"constructor"',
  '"hasOwnProperty"',
  '"../x.safetensors"',
  '"model.safetensors"',
  '"model.safetensors.index.json"',
  '"\\u0000.safetensors"',
  '"LlamaForCausalLM"',
  '"OPTForCausalLM"',
  '["constructor"]',
  '{"__proto__": {"dtype": "F16"}}',
  '[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]',
  '{"rope_type": "llama3"}',
  '{"rope_type": "dynamic", "factor": 2}',
];
const INTERESTING_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  '__metadata__',
  'dtype',
  'shape',
  'data_offsets',
  'weight_map',
  'hidden_size',
  'num_hidden_layers',
  'architectures',
  'model_type',
  'quantization_config',
  'rope_scaling',
  'rope_parameters',
  'sliding_window',
  'head_dim',
  'num_key_value_heads',
];

/** Byte-level mutation of a text or binary buffer. */
function mutateBytes(src: Uint8Array): Uint8Array {
  let b = Buffer.from(src);
  const rounds = 1 + int(4);
  for (let k = 0; k < rounds; k++) {
    const at = b.length ? int(b.length) : 0;
    switch (int(8)) {
      case 0:
        if (b.length) b[at] ^= 1 << int(8);
        break;
      case 1:
        if (b.length) b[at] = int(256);
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      case 3: {
        const n = int(64);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        break;
      }
      case 4: {
        const n = 1 + int(64);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + n), b.subarray(at)]);
        break;
      }
      case 5:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(INTERESTING_JSON)), b.subarray(at)]);
        break;
      case 6: {
        // replace a number with an interesting one
        const s = b.toString('latin1');
        const nums = [...s.matchAll(/-?\d+(\.\d+)?/g)];
        if (nums.length) {
          const m = pick(nums);
          b = Buffer.from(s.slice(0, m.index) + pick(INTERESTING_JSON) + s.slice(m.index! + m[0].length), 'latin1');
        }
        break;
      }
      default:
        b = Buffer.concat([b.subarray(0, at), Buffer.from('['.repeat(1 + int(20000))), b.subarray(at)]);
        break;
    }
  }
  return new Uint8Array(b);
}

/** Structural mutation of a JSON value: replace, delete, rename or add at a random place. */
function mutateJson(value: unknown): unknown {
  const v = structuredClone(value) as Record<string, unknown>;
  const rounds = 1 + int(3);
  for (let k = 0; k < rounds; k++) {
    const containers: (Record<string, unknown> | unknown[])[] = [];
    const walk = (x: unknown, depth: number): void => {
      if (x && typeof x === 'object' && depth < 6) {
        containers.push(x as Record<string, unknown>);
        for (const c of Object.values(x)) walk(c, depth + 1);
      }
    };
    walk(v, 0);
    if (!containers.length) return JSON.parse(pick(INTERESTING_JSON));
    const c = pick(containers) as Record<string, unknown>;
    const keys = Object.keys(c);
    const key = keys.length ? pick(keys) : '0';
    switch (int(5)) {
      case 0:
        c[key] = JSON.parse(pick(INTERESTING_JSON));
        break;
      case 1:
        if (Array.isArray(c)) (c as unknown[]).splice(Number(key), 1);
        else delete c[key];
        break;
      case 2:
        if (!Array.isArray(c)) {
          const val = c[key];
          delete c[key];
          c[pick(INTERESTING_KEYS)] = val;
        }
        break;
      case 3:
        if (!Array.isArray(c))
          Object.defineProperty(c, pick(INTERESTING_KEYS), {
            value: JSON.parse(pick(INTERESTING_JSON)),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        break;
      default:
        if (typeof c[key] === 'number') c[key] = (c[key] as number) * pick([-1, 0, 2, 1e9, 0.5]);
        else c[key] = JSON.parse(pick(INTERESTING_JSON));
        break;
    }
  }
  return v;
}

/** Runs one input; anything but a return or a TrimError fails the test with a reproducer. */
function probe<T>(what: string, input: () => string, f: () => T): T | null {
  const t = performance.now();
  try {
    return f();
  } catch (e) {
    if (isTrimError(e)) return null;
    const file = path.join(os.tmpdir(), `trim-fuzz-failure-${Date.now()}.txt`);
    fs.writeFileSync(file, input());
    assert.fail(`${what}: uncaught ${e instanceof Error ? e.stack : String(e)} (seed ${SEED}; input saved to ${file})`);
  } finally {
    const ms = performance.now() - t;
    assert.ok(ms < HANG_MS, `${what}: one input took ${ms.toFixed(0)} ms (seed ${SEED})`);
  }
}

/** Largest single Buffer allocation made while `f` runs (Buffer.alloc / allocUnsafe / allocUnsafeSlow). */
function largestAllocation<T>(f: () => T): { result: T; largest: number } {
  const saved = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  let largest = 0;
  const spy = <F extends (size: number, ...rest: never[]) => Buffer>(orig: F): F =>
    ((size: number, ...rest: never[]) => {
      largest = Math.max(largest, size);
      return orig.call(Buffer, size, ...rest);
    }) as F;
  Buffer.alloc = spy(saved.alloc);
  Buffer.allocUnsafe = spy(saved.allocUnsafe);
  Buffer.allocUnsafeSlow = spy(saved.allocUnsafeSlow);
  try {
    return { result: f(), largest };
  } finally {
    Object.assign(Buffer, saved);
  }
}

function headerBytes(file: string): { header: Buffer; fileSize: number } {
  const b = fs.readFileSync(file);
  const len = Number(b.readBigUInt64LE(0));
  return { header: b.subarray(8, 8 + len), fileSize: b.length };
}

const counts: Record<string, number> = {};
const count = (k: string): void => {
  counts[k] = (counts[k] ?? 0) + 1;
};
after(() =>
  console.log(
    `fuzz (seed ${SEED}): ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; total ${Object.values(counts).reduce((a, b) => a + b, 0)}`,
  ),
);

// Seeds: the demo model, a tiny sharded model, the tiny reference checkpoints of every family.
const tiny = path.join(root, 'tiny');
tinyModel(tiny, { shardBytes: 300_000 });
const tinyShards = fs
  .readdirSync(tiny)
  .filter((f) => f.endsWith('.safetensors'))
  .map((f) => path.join(tiny, f));
const headerSeeds = [path.join(DEMO, 'model.safetensors'), ...tinyShards].map(headerBytes);
const configSeeds: unknown[] = [
  path.join(DEMO, 'config.json'),
  path.join(tiny, 'config.json'),
  ...fs
    .readdirSync(path.join(ROOT, 'test/data/tiny'))
    .map((d) => path.join(ROOT, 'test/data/tiny', d, 'config.json'))
    .filter((f) => fs.existsSync(f)),
].map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const indexSeed = JSON.parse(fs.readFileSync(path.join(tiny, 'model.safetensors.index.json'), 'utf8'));

describe('fuzz', { timeout: 60_000 }, () => {
  it('parseHeader: mutated headers (bytes and structure) against varied file sizes', () => {
    for (let i = 0; i < N(4000); i++) {
      const seed = pick(headerSeeds);
      let bytes: Uint8Array;
      if (i % 2) bytes = mutateBytes(seed.header);
      else bytes = Buffer.from(JSON.stringify(mutateJson(JSON.parse(seed.header.toString('utf8')))));
      const fileSize = pick([seed.fileSize, 8 + bytes.byteLength, seed.fileSize - 1 - int(1000), seed.fileSize + int(1 << 20), 0]);
      count('headers');
      const h = probe(
        'parseHeader',
        () => Buffer.from(bytes).toString('latin1'),
        () => parseHeader('fuzz.safetensors', bytes, fileSize),
      );
      if (!h) continue;
      // Accepted: every tensor lies inside the file and is as long as its dtype and shape say.
      const spans: [number, number][] = [];
      for (const t of h.tensors.values()) {
        assert.ok(Object.hasOwn(KNOWN_DTYPES, t.dtype));
        assert.ok(t.offset >= h.dataStart && t.offset + t.byteLength <= fileSize, `${t.name} outside the file`);
        assert.equal(t.byteLength, t.shape.reduce((a, d) => a * d, 1) * KNOWN_DTYPES[t.dtype]);
        spans.push([t.offset, t.offset + t.byteLength]);
      }
      spans.sort((a, b) => a[0] - b[0]);
      for (let k = 1; k < spans.length; k++) assert.ok(spans[k][0] >= spans[k - 1][1], 'overlap accepted');
    }
  });

  it('readSafetensorsHeader: mutated whole files allocate no more than the file', () => {
    const file = path.join(root, 'mutated.safetensors');
    const whole = fs.readFileSync(tinyShards[1]);
    for (let i = 0; i < N(600); i++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) {
        // The 8-byte length prefix: anything from 0 to 2^64-1.
        const b = Buffer.from(whole);
        b.writeBigUInt64LE(
          pick([0n, 1n, 7n, BigInt(int(whole.length)), BigInt(whole.length), 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]),
          0,
        );
        bytes = b;
      } else bytes = mutateBytes(i % 3 === 1 ? whole.subarray(0, 8 + Number(whole.readBigUInt64LE(0)) + int(4096)) : whole);
      fs.writeFileSync(file, bytes);
      count('files');
      const { largest } = largestAllocation(() =>
        probe(
          'readSafetensorsHeader',
          () => Buffer.from(bytes).toString('base64'),
          () => readSafetensorsHeader(file),
        ),
      );
      assert.ok(largest <= bytes.byteLength, `allocated ${largest} bytes for a ${bytes.byteLength}-byte file`);
    }
  });

  it('parseIndex: mutated model.safetensors.index.json', () => {
    for (let i = 0; i < N(3000); i++) {
      let raw: unknown;
      if (i % 2) raw = mutateJson(indexSeed);
      else {
        try {
          raw = JSON.parse(Buffer.from(mutateBytes(Buffer.from(JSON.stringify(indexSeed)))).toString('utf8'));
        } catch {
          continue; // not JSON: Checkpoint reports that before parseIndex
        }
      }
      count('indexes');
      const idx = probe(
        'parseIndex',
        () => JSON.stringify(raw),
        () => parseIndex(raw, 'fuzz/model.safetensors.index.json'),
      );
      if (!idx) continue;
      for (const f of idx.files) assert.match(f, /^[^/\\.\0][^/\\\0]*\.safetensors$/);
      for (const [, f] of idx.weightMap) assert.ok(idx.files.includes(f));
    }
  });

  it('parseConfig: mutated config.json of every family', () => {
    for (let i = 0; i < N(4000); i++) {
      const seed = pick(configSeeds);
      let raw: unknown;
      if (i % 3) raw = mutateJson(seed);
      else {
        try {
          raw = JSON.parse(Buffer.from(mutateBytes(Buffer.from(JSON.stringify(seed)))).toString('utf8'));
        } catch {
          continue;
        }
      }
      count('configs');
      const c = probe(
        'parseConfig',
        () => JSON.stringify(raw),
        () => parseConfig(raw, 'fuzz/config.json'),
      );
      if (!c) continue;
      assert.ok(['llama', 'qwen2', 'mistral', 'opt'].includes(c.family), `family ${String(c.family)}`);
      for (const k of ['hidden', 'intermediate', 'layers', 'heads', 'kvHeads', 'vocab', 'maxPositions'] as const) {
        assert.ok(Number.isSafeInteger(c[k]) && c[k] > 0, `${k} = ${c[k]}`);
      }
      assert.ok(Number.isInteger(c.headDim) && c.headDim > 0);
      assert.equal(c.heads % c.kvHeads, 0);
      assert.ok(['float16', 'bfloat16', 'float32'].includes(c.dtype));
      const w = c.features?.window ?? null;
      assert.ok(w === null || (Number.isSafeInteger(w) && w >= 0));
    }
  });

  it('Checkpoint.open + readBlock: mutated folders (config, index, shard headers)', () => {
    const dir = path.join(root, 'folder');
    fs.mkdirSync(dir);
    const files = fs.readdirSync(tiny).filter((f) => !f.startsWith('tokenizer'));
    const originals = new Map(files.map((f) => [f, fs.readFileSync(path.join(tiny, f))]));
    for (const [f, b] of originals) fs.writeFileSync(path.join(dir, f), b);
    const largestFile = Math.max(...[...originals.values()].map((b) => b.length));
    for (let i = 0; i < N(300); i++) {
      const target = pick([...originals.keys()]);
      const orig = originals.get(target)!;
      let bytes: Uint8Array;
      if (target.endsWith('.safetensors')) {
        const len = Number(orig.readBigUInt64LE(0));
        const head = mutateBytes(orig.subarray(0, 8 + len));
        bytes = Buffer.concat([head, orig.subarray(8 + len)]);
      } else if (i % 2) bytes = Buffer.from(JSON.stringify(mutateJson(JSON.parse(orig.toString('utf8')))));
      else bytes = mutateBytes(orig);
      fs.writeFileSync(path.join(dir, target), bytes);
      count('folders');
      const { largest } = largestAllocation(() =>
        probe(
          `Checkpoint.open (${target} mutated)`,
          () => Buffer.from(bytes).toString('base64'),
          () => {
            const ckpt = Checkpoint.open(dir);
            ckpt.readF32(ckpt.layout.embed);
            for (let b = 0; b < ckpt.config.layers; b++) ckpt.readBlock(b, true);
            return ckpt;
          },
        ),
      );
      assert.ok(largest <= Math.max(largestFile, bytes.byteLength), `allocated ${largest} bytes; largest file ${largestFile}`);
      fs.writeFileSync(path.join(dir, target), orig);
    }
  });
});
