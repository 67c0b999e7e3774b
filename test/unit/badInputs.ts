/**
 * Bad checkpoints for the reliability tests (issue 7), each built in a temporary folder from a
 * tiny synthetic model (src/core/model/synth.ts, with the demo model's tokenizer) or from a copy of the
 * demo model, then damaged in one way. Shared by test/unit/badCheckpoints.test.ts (the core) and
 * test/integration/badInputsCli.test.ts (the CLI).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrimErrorCode } from '../../src/core/errors';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes, type TensorToWrite } from '../../src/core/model/safetensors';
import { writeSynth, type SynthSpec } from '../../src/core/model/synth';

export const ROOT = path.resolve(__dirname, '../..');
export const DEMO = path.join(ROOT, 'media', 'models', 'trim-demo-qwen2-small');
export const CALIB = path.join(ROOT, 'media', 'data', 'calib.txt');

/** Two blocks, 32 wide, the demo tokenizer's vocabulary. */
export const TINY: SynthSpec = {
  family: 'qwen2',
  hidden: 32,
  intermediate: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  vocab: 8192,
  maxPositions: 256,
  dtype: 'float16',
  qkvBias: true,
  tie: true,
};

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Every name, size, mtime and byte (sha256) under a folder, symlinks as written (not followed):
 * equal before and after means nothing under it was touched.
 */
export function treeSnapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of fs.readdirSync(d).sort()) {
      const p = path.join(d, f);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${p} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${p}/ ${st.mtimeMs}`);
        walk(p);
      } else out.push(`${p} ${st.size} ${st.mtimeMs} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir);
  return out.join('\n');
}

/** sha256 of every file under a folder (or of the file), by relative path. */
export function hashTree(p: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(p)) return out;
  const walk = (d: string, rel: string): void => {
    const st = fs.statSync(d);
    if (st.isFile()) {
      out[rel || '.'] = createHash('sha256').update(fs.readFileSync(d)).digest('hex');
      return;
    }
    for (const f of fs.readdirSync(d).sort()) walk(path.join(d, f), rel ? `${rel}/${f}` : f);
  };
  walk(p, '');
  return out;
}

/** A tiny checkpoint with the demo tokenizer; `shardBytes` splits it into shards with an index. */
export function tinyModel(dir: string, spec: Partial<SynthSpec> = {}): void {
  writeSynth({ ...TINY, ...spec }, dir, 7);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(DEMO, f), path.join(dir, f));
}

/** Sets keys of a model folder's config.json (the others kept). */
export function setConfig(dir: string, patch: Record<string, unknown>): void {
  const f = path.join(dir, 'config.json');
  fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), ...patch }, null, 2));
}

export function copyDemo(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(DEMO)) {
    fs.copyFileSync(path.join(DEMO, f), path.join(dir, f));
    fs.chmodSync(path.join(dir, f), 0o644);
  }
}

/** Every tensor of a safetensors file, decoded. */
export function readAll(file: string): TensorToWrite[] {
  const h = readSafetensorsHeader(file);
  return [...h.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: readTensorBytes(t) }));
}

export function writeAll(file: string, tensors: TensorToWrite[]): void {
  fs.writeFileSync(file, encodeSafetensors(tensors));
}

/** Rewrites a file's JSON header (the data section kept as it is). */
export function rewriteHeader(
  file: string,
  mutate: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void,
): void {
  const buf = fs.readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8'));
  mutate(header);
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hb = Buffer.from(json);
  const out = Buffer.alloc(8 + hb.length);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  fs.writeFileSync(file, Buffer.concat([out, buf.subarray(8 + len)]));
}

export function setHeaderLength(file: string, len: bigint): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(len, 0);
  fs.writeSync(fd, b, 0, 8, 0);
  fs.closeSync(fd);
}

export function headerLength(file: string): number {
  return Number(fs.readFileSync(file).readBigUInt64LE(0));
}

/** Writes a float16 bit pattern over element `index` of a tensor, in place. */
export function pokeF16(file: string, tensor: string, index: number, bits: number): void {
  const t = readSafetensorsHeader(file).tensors.get(tensor);
  if (!t || t.dtype !== 'F16') throw new Error(`no F16 tensor ${tensor} in ${file}`);
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(2);
  b.writeUInt16LE(bits, 0);
  fs.writeSync(fd, b, 0, 2, t.offset + index * 2);
  fs.closeSync(fd);
}

const F16_NAN = 0x7e00;
const F16_INF = 0x7c00;

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const f = path.join(dir, 'config.json');
  const c = JSON.parse(fs.readFileSync(f, 'utf8'));
  edit(c);
  fs.writeFileSync(f, JSON.stringify(c));
}

function editIndex(dir: string, edit: (wm: Record<string, string>) => void): void {
  const f = path.join(dir, 'model.safetensors.index.json');
  const idx = JSON.parse(fs.readFileSync(f, 'utf8'));
  edit(idx.weight_map);
  fs.writeFileSync(f, JSON.stringify(idx));
}

/** The tiny model in two shards (the embeddings alone, then the rest) with an index. */
const SHARDED: Partial<SynthSpec> = { shardBytes: 300_000 };
const shards = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();

export interface BadCase {
  name: string;
  /** Where the core notices: opening the folder, reading the blocks' weights, or the tokenizer. */
  stage: 'open' | 'read' | 'tokenizer';
  code: TrimErrorCode;
  /** What the message must say (what is wrong and where). */
  message: RegExp;
  /** Builds the bad checkpoint in `dir` (an empty folder that exists), returns the model path. */
  build(dir: string): string;
  /** Built from a copy of the demo model (slower; the CLI test runs a few of those). */
  demo?: boolean;
}

const st = (dir: string): string => path.join(dir, 'model.safetensors');
const L = (b: number, local: string): string => `model.layers.${b}.${local}`;

export const BAD_CHECKPOINTS: BadCase[] = [
  {
    name: 'model folder does not exist',
    stage: 'open',
    code: 'E_MODEL_NOT_FOUND',
    message: /nowhere: no such folder/,
    build: (d) => path.join(d, 'nowhere'),
  },
  {
    name: 'model path is a file',
    stage: 'open',
    code: 'E_MODEL_NOT_FOUND',
    message: /is a file/,
    build: (d) => {
      tinyModel(d);
      return st(d);
    },
  },
  {
    name: 'no config.json',
    stage: 'open',
    code: 'E_MODEL_NOT_FOUND',
    message: /no config\.json/,
    build: (d) => {
      tinyModel(d);
      fs.rmSync(path.join(d, 'config.json'));
      return d;
    },
  },
  {
    name: 'config.json is not JSON',
    stage: 'open',
    code: 'E_CONFIG',
    message: /config\.json: not valid JSON/,
    build: (d) => {
      tinyModel(d);
      fs.writeFileSync(path.join(d, 'config.json'), '{"architectures": ["Qwen2');
      return d;
    },
  },
  {
    name: 'config.json misses hidden_size',
    stage: 'open',
    code: 'E_CONFIG',
    message: /"hidden_size" is missing/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        delete c.hidden_size;
      });
      return d;
    },
  },
  {
    name: 'unsupported architecture',
    stage: 'open',
    code: 'E_UNSUPPORTED_ARCH',
    message: /"GPT2LMHeadModel" is not supported/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.architectures = ['GPT2LMHeadModel'];
        c.model_type = 'gpt2';
      });
      return d;
    },
  },
  {
    name: 'architecture named after an Object.prototype key',
    stage: 'open',
    code: 'E_UNSUPPORTED_ARCH',
    message: /"constructor" is not supported/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.architectures = ['constructor'];
      });
      return d;
    },
  },
  {
    name: 'quantized checkpoint (quantization_config)',
    stage: 'open',
    code: 'E_UNSUPPORTED_ARCH',
    message: /quantized/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.quantization_config = { quant_method: 'gptq', bits: 4 };
      });
      return d;
    },
  },
  {
    name: 'config dtype float8',
    stage: 'open',
    code: 'E_DTYPE',
    message: /dtype "float8_e4m3fn" is not supported/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.dtype = 'float8_e4m3fn';
      });
      return d;
    },
  },
  {
    name: 'quantized weights (I8 q_proj)',
    stage: 'open',
    code: 'E_DTYPE',
    message: /model\.layers\.1\.self_attn\.q_proj\.weight" is I8.*quantized/,
    build: (d) => {
      tinyModel(d);
      writeAll(
        st(d),
        readAll(st(d)).map((t) =>
          t.name === L(1, 'self_attn.q_proj.weight') ? { ...t, dtype: 'I8', data: new Uint8Array(t.data.byteLength / 2) } : t,
        ),
      );
      return d;
    },
  },
  {
    name: 'float8 weights (F8_E4M3 down_proj)',
    stage: 'open',
    code: 'E_DTYPE',
    message: /down_proj\.weight" is F8_E4M3/,
    build: (d) => {
      tinyModel(d);
      writeAll(
        st(d),
        readAll(st(d)).map((t) =>
          t.name === L(0, 'mlp.down_proj.weight') ? { ...t, dtype: 'F8_E4M3', data: new Uint8Array(t.data.byteLength / 2) } : t,
        ),
      );
      return d;
    },
  },
  {
    name: 'no weights at all',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /no \*\.safetensors file/,
    build: (d) => {
      tinyModel(d);
      fs.rmSync(st(d));
      return d;
    },
  },
  {
    name: 'PyTorch .bin weights only',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /PyTorch \.bin weights only/,
    build: (d) => {
      tinyModel(d);
      fs.renameSync(st(d), path.join(d, 'pytorch_model.bin'));
      return d;
    },
  },
  {
    name: 'several shards without an index',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /several \*\.safetensors files but no model\.safetensors\.index\.json/,
    build: (d) => {
      tinyModel(d, SHARDED);
      fs.rmSync(path.join(d, 'model.safetensors.index.json'));
      return d;
    },
  },
  {
    name: 'shard shorter than 8 bytes',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model\.safetensors: only 5 bytes long/,
    build: (d) => {
      tinyModel(d);
      fs.truncateSync(st(d), 5);
      return d;
    },
  },
  {
    name: 'shard truncated inside the header',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model\.safetensors: header length \d+ exceeds the file/,
    build: (d) => {
      tinyModel(d);
      fs.truncateSync(st(d), 100);
      return d;
    },
  },
  {
    name: 'shard truncated inside the data',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model\.safetensors: tensor ".*" ends at byte \d+ of a data section of \d+ bytes \(truncated file\?\)/,
    build: (d) => {
      tinyModel(d);
      fs.truncateSync(st(d), fs.statSync(st(d)).size - 1000);
      return d;
    },
  },
  {
    name: 'sharded model: second shard truncated',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model-00002-of-0000\d\.safetensors: .*truncated/,
    build: (d) => {
      tinyModel(d, SHARDED);
      const f = path.join(d, shards(d)[1]);
      fs.truncateSync(f, fs.statSync(f).size - 64);
      return d;
    },
  },
  {
    name: 'header length lies (2^40)',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /header length 1099511627776 exceeds the file/,
    build: (d) => {
      tinyModel(d);
      setHeaderLength(st(d), 2n ** 40n);
      return d;
    },
  },
  {
    name: 'header length lies (2^64-1)',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /header length 18446744073709551615 exceeds the file/,
    build: (d) => {
      tinyModel(d);
      setHeaderLength(st(d), 2n ** 64n - 1n);
      return d;
    },
  },
  {
    name: 'header length lies (too short)',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model\.safetensors: header is not valid JSON/,
    build: (d) => {
      tinyModel(d);
      setHeaderLength(st(d), BigInt(headerLength(st(d)) - 40));
      return d;
    },
  },
  {
    name: 'header length zero',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /header length 0 is too small/,
    build: (d) => {
      tinyModel(d);
      setHeaderLength(st(d), 0n);
      return d;
    },
  },
  {
    name: 'header is a JSON array',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /header is not a JSON object/,
    build: (d) => {
      tinyModel(d);
      const n = headerLength(st(d));
      const fd = fs.openSync(st(d), 'r+');
      fs.writeSync(fd, Buffer.from('[]'.padEnd(n, ' ')), 0, n, 8);
      fs.closeSync(fd);
      return d;
    },
  },
  {
    name: 'offsets point past the end',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /"model\.norm\.weight" ends at byte \d+ of a data section/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h['model.norm.weight'].data_offsets = h['model.norm.weight'].data_offsets.map((o) => o + 4096);
      });
      return d;
    },
  },
  {
    name: 'offsets overlap',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /overlap/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h[L(1, 'post_attention_layernorm.weight')].data_offsets = [...h[L(1, 'input_layernorm.weight')].data_offsets];
      });
      return d;
    },
  },
  {
    name: 'offsets span the wrong size',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /"model\.layers\.0\.mlp\.up_proj\.weight" \(F16 \[64,32\]\) needs 4096 bytes but its offsets span 4094/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h[L(0, 'mlp.up_proj.weight')].data_offsets[1] -= 2;
      });
      return d;
    },
  },
  {
    name: 'negative offset',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /invalid data_offsets \[-2,/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h[L(0, 'mlp.up_proj.weight')].data_offsets[0] = -2;
      });
      return d;
    },
  },
  {
    name: 'dtype lies (F16 declared F32)',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /"model\.layers\.1\.self_attn\.v_proj\.weight" \(F32 \[16,32\]\) needs 2048 bytes but its offsets span 1024/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h[L(1, 'self_attn.v_proj.weight')].dtype = 'F32';
      });
      return d;
    },
  },
  {
    name: 'unknown dtype',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /unknown dtype "F17"/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h['model.norm.weight'].dtype = 'F17';
      });
      return d;
    },
  },
  {
    name: 'dtype named after an Object.prototype key',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /unknown dtype "toString"/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h['model.norm.weight'].dtype = 'toString';
      });
      return d;
    },
  },
  {
    name: 'negative dimension',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /invalid shape \[-32\]/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h['model.norm.weight'].shape = [-32];
      });
      return d;
    },
  },
  {
    name: 'shape lies (same size, transposed)',
    stage: 'open',
    code: 'E_SHAPE',
    message: /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[32,64\] but config\.json implies \[64,32\]/,
    build: (d) => {
      tinyModel(d);
      rewriteHeader(st(d), (h) => {
        h[L(0, 'mlp.gate_proj.weight')].shape = [32, 64];
      });
      return d;
    },
  },
  {
    name: 'config.json hidden_size disagrees with the weights',
    stage: 'open',
    code: 'E_SHAPE',
    message: /"model\.embed_tokens\.weight" has shape \[8192,32\] but config\.json implies \[8192,48\]/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.hidden_size = 48;
      });
      return d;
    },
  },
  {
    name: 'config.json intermediate_size disagrees',
    stage: 'open',
    code: 'E_SHAPE',
    message: /gate_proj\.weight" has shape \[64,32\] but config\.json implies \[96,32\]/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.intermediate_size = 96;
      });
      return d;
    },
  },
  {
    name: 'config.json has more blocks than the weights',
    stage: 'open',
    code: 'E_MISSING_TENSOR',
    message: /"model\.layers\.2\.input_layernorm\.weight" is missing/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.num_hidden_layers = 3;
      });
      return d;
    },
  },
  {
    name: 'config.json has fewer blocks than the weights',
    stage: 'open',
    code: 'E_SHAPE',
    message: /"model\.layers\.1\..*" belongs to block 1, but config\.json says num_hidden_layers = 1/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.num_hidden_layers = 1;
      });
      return d;
    },
  },
  {
    name: 'a block tensor is missing',
    stage: 'open',
    code: 'E_MISSING_TENSOR',
    message: /"model\.layers\.1\.self_attn\.k_proj\.weight" is missing/,
    build: (d) => {
      tinyModel(d);
      writeAll(
        st(d),
        readAll(st(d)).filter((t) => t.name !== L(1, 'self_attn.k_proj.weight')),
      );
      return d;
    },
  },
  {
    name: 'untied model without lm_head',
    stage: 'open',
    code: 'E_MISSING_TENSOR',
    message: /"lm_head\.weight" is missing/,
    build: (d) => {
      tinyModel(d);
      editConfig(d, (c) => {
        c.tie_word_embeddings = false;
      });
      return d;
    },
  },
  {
    name: 'index names a missing shard',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /names the shard "model-00002-of-0000\d\.safetensors", which is missing/,
    build: (d) => {
      tinyModel(d, SHARDED);
      fs.rmSync(path.join(d, shards(d)[1]));
      return d;
    },
  },
  {
    name: 'index is not JSON',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model\.safetensors\.index\.json: not valid JSON/,
    build: (d) => {
      tinyModel(d, SHARDED);
      fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), '{"weight_map": {');
      return d;
    },
  },
  {
    name: 'index without weight_map',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /has no "weight_map" object/,
    build: (d) => {
      tinyModel(d, SHARDED);
      fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), '{"metadata": {}}');
      return d;
    },
  },
  {
    name: 'index with an empty weight_map',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /"weight_map" is empty/,
    build: (d) => {
      tinyModel(d, SHARDED);
      fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), '{"weight_map": {}}');
      return d;
    },
  },
  {
    name: 'index maps a tensor to the wrong shard',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /maps "model\.norm\.weight" to model-00001-of-0000\d\.safetensors, but it is stored in model-0000\d-of/,
    build: (d) => {
      tinyModel(d, SHARDED);
      editIndex(d, (wm) => {
        wm['model.norm.weight'] = shards(d)[0];
      });
      return d;
    },
  },
  {
    name: 'index names a tensor no shard holds',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /maps "model\.layers\.9\.mlp\.up_proj\.weight" to .*, but no shard holds it/,
    build: (d) => {
      tinyModel(d, SHARDED);
      editIndex(d, (wm) => {
        wm[L(9, 'mlp.up_proj.weight')] = shards(d)[0];
      });
      return d;
    },
  },
  {
    name: 'index shard name escapes the folder',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /shard name "\.\.\/x\.safetensors" must be a plain \*\.safetensors file name/,
    build: (d) => {
      tinyModel(d, SHARDED);
      editIndex(d, (wm) => {
        wm['model.norm.weight'] = '../x.safetensors';
      });
      return d;
    },
  },
  {
    name: 'index shard name is empty',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /shard name "" must be a plain/,
    build: (d) => {
      tinyModel(d, SHARDED);
      editIndex(d, (wm) => {
        wm['model.norm.weight'] = '';
      });
      return d;
    },
  },
  {
    name: 'index names a folder as a shard',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /names the shard "extra\.safetensors", which is not a file/,
    build: (d) => {
      tinyModel(d, SHARDED);
      fs.mkdirSync(path.join(d, 'extra.safetensors'));
      editIndex(d, (wm) => {
        wm['model.norm.weight'] = 'extra.safetensors';
      });
      return d;
    },
  },
  {
    name: 'tensor stored in two shards',
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /tensor "model\.embed_tokens\.weight" is stored twice/,
    build: (d) => {
      tinyModel(d, SHARDED);
      const [a, b] = shards(d).map((f) => path.join(d, f));
      const emb = readAll(a).find((t) => t.name === 'model.embed_tokens.weight')!;
      writeAll(b, [...readAll(b), emb]);
      return d;
    },
  },
  {
    name: 'NaN in a block weight',
    stage: 'read',
    code: 'E_NONFINITE',
    message: /tensor "model\.layers\.1\.mlp\.up_proj\.weight" \(block 1\) holds 1 NaN and 0 infinite values \(first at row 5, column 3\)/,
    build: (d) => {
      tinyModel(d);
      pokeF16(st(d), L(1, 'mlp.up_proj.weight'), 5 * 32 + 3, F16_NAN);
      return d;
    },
  },
  {
    name: '+Inf in a block norm',
    stage: 'read',
    code: 'E_NONFINITE',
    message: /"model\.layers\.0\.input_layernorm\.weight" \(block 0\) holds 0 NaN and 1 infinite values \(first at index 7\)/,
    build: (d) => {
      tinyModel(d);
      pokeF16(st(d), L(0, 'input_layernorm.weight'), 7, F16_INF);
      return d;
    },
  },
  {
    name: 'NaN in the embeddings',
    stage: 'read',
    code: 'E_NONFINITE',
    message: /"model\.embed_tokens\.weight" holds 2 NaN/,
    build: (d) => {
      tinyModel(d);
      pokeF16(st(d), 'model.embed_tokens.weight', 100, F16_NAN);
      pokeF16(st(d), 'model.embed_tokens.weight', 5000, F16_NAN | 0x8000);
      return d;
    },
  },
  {
    name: 'demo model: NaN in block 3',
    demo: true,
    stage: 'read',
    code: 'E_NONFINITE',
    message: /tensor "model\.layers\.3\.self_attn\.o_proj\.weight" \(block 3\) holds 1 NaN/,
    build: (d) => {
      copyDemo(d);
      pokeF16(st(d), L(3, 'self_attn.o_proj.weight'), 1000, F16_NAN);
      return d;
    },
  },
  {
    name: 'demo model: truncated shard',
    demo: true,
    stage: 'open',
    code: 'E_SAFETENSORS',
    message: /model\.safetensors: .*truncated file/,
    build: (d) => {
      copyDemo(d);
      fs.truncateSync(st(d), 9_000_000);
      return d;
    },
  },
  {
    name: 'tokenizer.json missing',
    stage: 'tokenizer',
    code: 'E_TOKENIZER',
    message: /no tokenizer\.json/,
    build: (d) => {
      tinyModel(d);
      fs.rmSync(path.join(d, 'tokenizer.json'));
      return d;
    },
  },
  {
    name: 'tokenizer.json is not JSON',
    stage: 'tokenizer',
    code: 'E_TOKENIZER',
    message: /tokenizer\.json: not valid JSON/,
    build: (d) => {
      tinyModel(d);
      fs.writeFileSync(path.join(d, 'tokenizer.json'), fs.readFileSync(path.join(DEMO, 'tokenizer.json')).subarray(0, 4000));
      return d;
    },
  },
  {
    name: 'tokenizer.json is not a tokenizer',
    stage: 'tokenizer',
    code: 'E_TOKENIZER',
    message: /tokenizer\.json: cannot be loaded/,
    build: (d) => {
      tinyModel(d);
      fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": {}}');
      return d;
    },
  },
  {
    name: 'tokenizer_config.json is not JSON',
    stage: 'tokenizer',
    code: 'E_TOKENIZER',
    message: /tokenizer_config\.json: not valid JSON/,
    build: (d) => {
      tinyModel(d);
      fs.writeFileSync(path.join(d, 'tokenizer_config.json'), '{');
      return d;
    },
  },
  {
    name: "tokenizer of a larger vocabulary than the model's",
    stage: 'tokenizer',
    code: 'E_TOKENIZER',
    message: /produced token id \d+, but the model's vocab_size is 1000/,
    build: (d) => {
      tinyModel(d, { vocab: 1000 });
      return d;
    },
  },
];
