/**
 * `config.json` of a Hugging Face checkpoint, read into the few numbers the engine needs. Both
 * the older keys (`torch_dtype`, `rope_theta`, `rope_scaling`) and the newer ones (`dtype`,
 * `rope_parameters`, `layer_types`) are understood. The common decoder keys are read here, each
 * family's own by its spec (model/families/*.ts).
 */
import type { Family } from '../../contract';
import { TrimError } from '../errors';
import { cfgError, checkRope, num, parseRope, posInt } from './keys';
import type { FamilyFeatures, FamilySpec } from './family';
import { FAMILY_SPECS } from './registry';

export const SUPPORTED_ARCHITECTURES: Record<string, Family> = Object.fromEntries(
  FAMILY_SPECS.flatMap((s) => s.architectures.map((a) => [a, s.family])),
);
const MODEL_TYPES: Record<string, Family> = Object.fromEntries(FAMILY_SPECS.flatMap((s) => s.modelTypes.map((t) => [t, s.family])));

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /** Dynamic NTK changes nothing for sequences within the original length. */
  | { type: 'dynamic'; factor: number; originalMaxPositions: number };

export interface ModelConfig {
  architecture: string;
  family: Family;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  maxPositions: number;
  normEps: number;
  tieEmbeddings: boolean;
  dtype: 'float16' | 'bfloat16' | 'float32';
  /** Rotary embedding (Llama family); null for OPT. */
  rope: { theta: number; scaling: RopeScaling } | null;
  /**
   * How the family's block and head differ from Llama's (model/family.ts). Set by every family's
   * parser; optional so that a hand-built config (tests) is plain Llama.
   */
  features?: FamilyFeatures;
}

export function parseConfig(raw: unknown, where = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw cfgError(where, 'is not a JSON object.');
  const c = raw as Record<string, unknown>;
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : [];
  const modelType = typeof c.model_type === 'string' ? c.model_type : '';
  // Own properties only: "constructor" or "toString" must not match Object.prototype.
  const architecture = archs.find((a) => Object.hasOwn(SUPPORTED_ARCHITECTURES, a)) ?? archs[0] ?? modelType;
  const family = Object.hasOwn(SUPPORTED_ARCHITECTURES, architecture)
    ? SUPPORTED_ARCHITECTURES[architecture]
    : archs.length === 0 && Object.hasOwn(MODEL_TYPES, modelType)
      ? MODEL_TYPES[modelType]
      : undefined;
  if (!family) {
    throw new TrimError(
      'E_UNSUPPORTED_ARCH',
      `${where}: architecture "${architecture || 'unknown'}" is not supported. Supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}.`,
    );
  }
  if (c.quantization_config) {
    throw new TrimError(
      'E_UNSUPPORTED_ARCH',
      `${where}: the checkpoint is quantized (quantization_config is set); TRIM prunes float16, bfloat16 or float32 weights only.`,
    );
  }
  const dtypeRaw = String(c.dtype ?? c.torch_dtype ?? 'float32');
  const dtype = dtypeRaw === 'float16' || dtypeRaw === 'bfloat16' || dtypeRaw === 'float32' ? dtypeRaw : null;
  if (!dtype) throw new TrimError('E_DTYPE', `${where}: dtype "${dtypeRaw}" is not supported (float16, bfloat16, float32).`);

  const spec = FAMILY_SPECS.find((f) => f.family === family);
  if (!spec) throw new Error(`no family spec for ${family}`);
  return spec.parse ? spec.parse(c, where, architecture, dtype) : parseSpecFamily(c, where, architecture, spec, dtype);
}

/** A family described by a spec (model/registry.ts): Llama's common keys, then the spec's own. */
function parseSpecFamily(
  c: Record<string, unknown>,
  where: string,
  architecture: string,
  spec: FamilySpec,
  dtype: ModelConfig['dtype'],
): ModelConfig {
  const hidden = posInt(c, 'hidden_size', where);
  const heads = posInt(c, 'num_attention_heads', where);
  const kvHeads = posInt(c, 'num_key_value_heads', where, heads);
  if (heads % kvHeads !== 0) throw cfgError(where, `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}.`);
  const headDim = c.head_dim != null ? posInt(c, 'head_dim', where) : hidden / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw cfgError(where, `head dimension ${headDim} must be an even integer.`);
  const maxPositions = posInt(c, 'max_position_embeddings', where);
  // RMSNorm divides by sqrt(mean(x²) + eps): eps ≤ 0 gives NaN or Inf for small activations.
  const normEps = num(c, 'rms_norm_eps', where, 1e-6);
  if (!(normEps > 0 && normEps < 1))
    throw cfgError(where, `"rms_norm_eps" must be a small positive number (real models use 1e-6 to 1e-5), got ${normEps}.`);
  const rope = spec.rope ? spec.rope(c, where) : parseRope(c, where);
  checkRope(rope, headDim, maxPositions, where);
  const base: ModelConfig = {
    architecture,
    family: spec.family,
    hidden,
    heads,
    kvHeads,
    headDim,
    intermediate: posInt(c, 'intermediate_size', where),
    layers: posInt(c, 'num_hidden_layers', where),
    vocab: posInt(c, 'vocab_size', where),
    maxPositions,
    normEps,
    tieEmbeddings: typeof c.tie_word_embeddings === 'boolean' ? c.tie_word_embeddings : spec.tieByDefault,
    dtype,
    rope,
  };
  const features = spec.features(c, where, base);
  if (features.localRope) checkRope(features.localRope, headDim, maxPositions, where);
  return { ...base, features };
}
