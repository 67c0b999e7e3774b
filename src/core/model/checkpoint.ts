/**
 * A Hugging Face checkpoint folder opened lazily: config.json parsed, every safetensors header
 * (single file or shards named by model.safetensors.index.json) parsed and validated against the
 * config up front; tensor bytes read only when a block asks for them.
 * The family layout: familyLayout.ts; the shard index: shardIndex.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSummary } from '../../contract';
import { parseConfig, type ModelConfig } from './config';
import { TrimError } from '../errors';
import { readSafetensorsHeader, readTensorBytes, type SafetensorsHeader, type TensorInfo } from './safetensors';
import { toFloat32, type StoredDtype } from './dtype';
import { readJsonFile, READ_LIMITS, sysCode } from './safeRead';
import { familySpec } from './registry';
import { blockShapes, LAYER_SLIDING, layoutFor, positionTableRows, type FamilyLayout } from './familyLayout';
import { parseIndex } from './shardIndex';

const FLOAT_DTYPES = new Set(['F16', 'BF16', 'F32']);

export interface BlockTensors {
  /** Every tensor of the block as float32, by local name (e.g. 'mlp.up_proj.weight'). */
  f32: Map<string, Float32Array>;
  /** The stored bytes of each linear weight, by local linear name, for writing pruned copies. */
  raw: Map<string, { info: TensorInfo; bytes: Buffer }>;
}

/**
 * NaN or ±Inf in a weight poisons every activation after it; say where, as soon as the tensor is
 * read (one pass over values already in memory).
 */
export function checkFinite(values: Float32Array, t: TensorInfo, block?: number): Float32Array {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v === 0) continue; // finite
    let nan = 0;
    let inf = 0;
    for (let j = i; j < values.length; j++) {
      if (Number.isNaN(values[j])) nan++;
      else if (!Number.isFinite(values[j])) inf++;
    }
    const cols = t.shape.length === 2 ? t.shape[1] : 0;
    const at = cols ? `row ${Math.floor(i / cols)}, column ${i % cols}` : `index ${i}`;
    const where = block === undefined ? '' : ` (block ${block})`;
    throw new TrimError(
      'E_NONFINITE',
      `${t.file}: tensor "${t.name}"${where} holds ${nan} NaN and ${inf} infinite values (first at ${at}). The checkpoint is damaged or was saved from a diverged model; it cannot be pruned.`,
    );
  }
  return values;
}

export class Checkpoint {
  readonly config: ModelConfig;
  readonly layout: FamilyLayout;
  readonly tensors = new Map<string, TensorInfo>();
  readonly headers: SafetensorsHeader[] = [];
  /** Shard file names in the order of the folder's index (or the single file). */
  readonly shardFiles: string[];
  readonly indexFile: string | null;

  private constructor(readonly dir: string) {
    const cfgPath = path.join(dir, 'config.json');
    let raw: unknown;
    try {
      raw = readJsonFile(cfgPath, { what: 'config.json', code: 'E_CONFIG', max: READ_LIMITS.config });
    } catch (e) {
      if (sysCode(e) === 'ENOENT')
        throw new TrimError(
          'E_MODEL_NOT_FOUND',
          `${dir}: no config.json. Choose a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json).`,
        );
      throw e;
    }
    this.config = parseConfig(raw, cfgPath);
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    if (fs.existsSync(indexPath)) {
      this.indexFile = 'model.safetensors.index.json';
      const raw = readJsonFile(indexPath, { what: 'shard index', code: 'E_SAFETENSORS', max: READ_LIMITS.index });
      const index = parseIndex(raw, indexPath);
      const files = index.files;
      for (const f of files) {
        let st: fs.Stats | null = null;
        try {
          st = fs.statSync(path.join(dir, f));
        } catch {
          st = null;
        }
        if (!st)
          throw new TrimError('E_SAFETENSORS', `${indexPath} names the shard "${f}", which is missing from ${dir}. Download it again.`);
        if (!st.isFile()) throw new TrimError('E_SAFETENSORS', `${indexPath} names the shard "${f}", which is not a file.`);
      }
      this.shardFiles = files;
      for (const f of files) this.addHeader(readSafetensorsHeader(path.join(dir, f)));
      for (const [name, f] of index.weightMap) {
        const t = this.tensors.get(name);
        if (!t) throw new TrimError('E_SAFETENSORS', `${indexPath} maps "${name}" to ${f}, but no shard holds it.`);
        if (path.basename(t.file) !== f)
          throw new TrimError('E_SAFETENSORS', `${indexPath} maps "${name}" to ${f}, but it is stored in ${path.basename(t.file)}.`);
      }
    } else {
      const single = path.join(dir, 'model.safetensors');
      const files = fs.existsSync(single)
        ? ['model.safetensors']
        : fs
            .readdirSync(dir)
            .filter((f) => f.endsWith('.safetensors'))
            .sort();
      if (files.length !== 1) {
        if (files.length === 0 && fs.readdirSync(dir).some((f) => f.endsWith('.bin'))) {
          throw new TrimError(
            'E_SAFETENSORS',
            `${dir}: holds PyTorch .bin weights only; convert them to safetensors first (transformers: model.save_pretrained(dir, safe_serialization=True)).`,
          );
        }
        throw new TrimError(
          'E_SAFETENSORS',
          files.length === 0
            ? `${dir}: no *.safetensors file and no model.safetensors.index.json.`
            : `${dir}: several *.safetensors files but no model.safetensors.index.json to say how they fit together.`,
        );
      }
      this.indexFile = null;
      this.shardFiles = files;
      this.addHeader(readSafetensorsHeader(path.join(dir, files[0])));
    }
    const prefix = this.detectPrefix();
    this.layout = layoutFor(this.config.family, prefix, this.config);
    this.validate();
  }

  static open(dir: string): Checkpoint {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      throw new TrimError('E_MODEL_NOT_FOUND', `${dir}: no such folder. Choose a Hugging Face checkpoint folder.`);
    }
    if (!st.isDirectory()) throw new TrimError('E_MODEL_NOT_FOUND', `${dir}: is a file; choose the checkpoint's folder.`);
    return new Checkpoint(path.resolve(dir));
  }

  private addHeader(h: SafetensorsHeader): void {
    this.headers.push(h);
    for (const [name, t] of h.tensors) {
      if (this.tensors.has(name))
        throw new TrimError('E_SAFETENSORS', `tensor "${name}" is stored twice (${this.tensors.get(name)!.file} and ${t.file}).`);
      this.tensors.set(name, t);
    }
  }

  private detectPrefix(): string {
    const fam = this.config.family;
    for (const p of ['model.', '']) {
      if (this.tensors.has(layoutFor(fam, p, this.config).embed)) return p;
    }
    throw new TrimError(
      'E_MISSING_TENSOR',
      `${this.dir}: no token embedding tensor (expected "${layoutFor(fam, 'model.', this.config).embed}"). Is this a ${this.config.architecture} checkpoint?`,
    );
  }

  blockName(block: number, local: string): string {
    return this.layout.blockPrefix.replace('L', String(block)) + local;
  }

  private expect(name: string, shape: number[], optional = false): void {
    const t = this.tensors.get(name);
    if (!t) {
      if (optional) return;
      throw new TrimError('E_MISSING_TENSOR', `${this.dir}: tensor "${name}" is missing from the checkpoint.`);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) {
      throw new TrimError(
        'E_DTYPE',
        `${t.file}: tensor "${name}" is ${t.dtype}; only F16, BF16 and F32 weights can be pruned (quantized checkpoints are not supported).`,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new TrimError('E_SHAPE', `${t.file}: tensor "${name}" has shape [${t.shape}] but config.json implies [${shape}].`);
    }
  }

  private validate(): void {
    const c = this.config;
    this.expect(this.layout.embed, [c.vocab, c.hidden]);
    if (this.layout.positions) this.expect(this.layout.positions, [positionTableRows(c), c.hidden]);
    this.expect(this.layout.finalNormWeight, [c.hidden]);
    if (this.layout.finalNormBias) this.expect(this.layout.finalNormBias, [c.hidden]);
    if (this.tensors.has(this.layout.lmHead)) this.expect(this.layout.lmHead, [c.vocab, c.hidden]);
    else if (!c.tieEmbeddings && !familySpec(c.family)?.lmHeadOptional) {
      throw new TrimError(
        'E_MISSING_TENSOR',
        `${this.dir}: "lm_head.weight" is missing and config.json does not tie it to the embeddings.`,
      );
    }
    const shapes = blockShapes(c);
    for (let b = 0; b < c.layers; b++) for (const s of shapes) this.expect(this.blockName(b, s.name), s.shape, s.optional);
    // Blocks beyond num_hidden_layers would be copied unpruned and ignored by the model.
    const [before, after] = this.layout.blockPrefix.split('L');
    for (const name of this.tensors.keys()) {
      if (!name.startsWith(before)) continue;
      const b = Number.parseInt(name.slice(before.length), 10);
      if (Number.isInteger(b) && b >= c.layers && name.slice(before.length + String(b).length).startsWith(after)) {
        throw new TrimError(
          'E_SHAPE',
          `${this.tensors.get(name)!.file}: tensor "${name}" belongs to block ${b}, but config.json says num_hidden_layers = ${c.layers}. The config does not match the weights.`,
        );
      }
    }
  }

  /** Reads a tensor as float32 (a global one such as the embeddings or the final norm). */
  readF32(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new TrimError('E_MISSING_TENSOR', `${this.dir}: tensor "${name}" is missing.`);
    return checkFinite(toFloat32(readTensorBytes(t), t.dtype as StoredDtype), t);
  }

  lmHeadName(): string {
    return this.tensors.has(this.layout.lmHead) ? this.layout.lmHead : this.layout.embed;
  }

  /** Reads one block's tensors (float32 copies, plus the raw bytes of its linear weights). */
  readBlock(block: number, withRaw = false): BlockTensors {
    const f32 = new Map<string, Float32Array>();
    const raw = new Map<string, { info: TensorInfo; bytes: Buffer }>();
    for (const s of blockShapes(this.config)) {
      const t = this.tensors.get(this.blockName(block, s.name));
      if (!t) continue;
      const bytes = readTensorBytes(t);
      f32.set(s.name, checkFinite(toFloat32(bytes, t.dtype as StoredDtype), t, block));
      if (withRaw && s.name.endsWith('.weight') && this.layout.linears.includes(s.name.slice(0, -'.weight'.length))) {
        raw.set(s.name.slice(0, -'.weight'.length), { info: t, bytes });
      }
    }
    // Families whose layers differ (sliding or full attention): the block graphs read which this is.
    const types = this.config.features?.layerTypes;
    if (types) f32.set(LAYER_SLIDING, Float32Array.of(types[block] === 'sliding' ? 1 : 0));
    return { f32, raw };
  }

  hasBias(local: string): boolean {
    return this.tensors.has(this.blockName(0, `${local}.bias`));
  }

  /** [out, in] of each linear of a block. */
  linearShapes(): [number, number][] {
    return this.layout.linears.map((l) => {
      const s = this.tensors.get(this.blockName(0, `${l}.weight`))!.shape;
      return [s[0], s[1]];
    });
  }

  summary(): ModelSummary {
    const c = this.config;
    let parameters = 0;
    for (const t of this.tensors.values()) parameters += t.shape.reduce((a, b) => a * b, 1);
    return {
      path: this.dir,
      architecture: c.architecture,
      family: c.family,
      blocks: c.layers,
      hidden: c.hidden,
      intermediate: c.intermediate,
      heads: c.heads,
      kvHeads: c.kvHeads,
      vocab: c.vocab,
      maxPositions: c.maxPositions,
      dtype: c.dtype,
      parameters,
      linears: this.layout.linears.map((l) => l.split('.').pop()!),
      linearShapes: this.linearShapes(),
      ...(this.layout.linearParts.some((p) => p)
        ? {
            linearParts: Object.fromEntries(
              this.layout.linears.flatMap((l, i) => {
                const parts = this.layout.linearParts[i];
                return parts ? [[l.split('.').pop()!, parts.map((p) => ({ ...p }))]] : [];
              }),
            ),
          }
        : {}),
    };
  }
}
