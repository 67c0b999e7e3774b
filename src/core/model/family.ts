/**
 * What a model family is, in one place: the architectures it claims, how it reads its
 * config.json keys into features, its tensors (names and shapes), its prunable linears (with the
 * activation that feeds each, and how fused projections split into parts). The graphs
 * (graphs/decoder.ts, graphs/fused.ts) read the features, never the family's name.
 *
 * Registered in model/registry.ts. Llama, Qwen2, Mistral and OPT are still described inline in
 * config.ts and checkpoint.ts (their graphs have no features: `ModelConfig.features` is absent).
 */
import type { Family } from '../../contract';
import type { InputGroup } from '../checkpoint';
import type { ModelConfig, RopeScaling } from '../config';
import { cfgError } from './keys';

export type LayerType = 'full' | 'sliding';

/** How a family's decoder block and head differ from Llama's. */
export interface FamilyFeatures {
  /** RMSNorm scales by (1 + w) (Gemma) rather than by w. */
  normPlusOne: boolean;
  /** Norms after attention and around the MLP (Gemma 2/3: post_attention, pre_ and post_feedforward). */
  sandwichNorms: boolean;
  /** Per-head RMSNorm of q and k over head_dim, before rotary (Qwen3, Gemma 3). */
  qkNorm: boolean;
  /** Scale of q·kᵀ (Llama: head_dim^-0.5; Gemma: query_pre_attn_scalar^-0.5). */
  queryScale: number;
  /** Attention logits soft-capped as cap·tanh(s/cap) before the mask (Gemma 2), or null. */
  attnSoftcap: number | null;
  /** Final logits soft-capped likewise (Gemma 2), or null. */
  finalSoftcap: number | null;
  /** Embeddings multiplied by this (Gemma: sqrt(hidden_size) in float32), or null. */
  embedScale: number | null;
  /** MLP activation of the gate: SiLU, or GELU with the tanh approximation (Gemma). */
  act: 'silu' | 'gelu_tanh';
  /** q, k, v in one linear `self_attn.qkv_proj` (rows q, k, v), gate and up in `mlp.gate_up_proj` (rows gate, up): Phi-3. */
  fusedQkv: boolean;
  fusedGateUp: boolean;
  /** Attention of each layer: 'sliding' layers see themselves and the window − 1 tokens before (real masks); null: all full. */
  layerTypes: LayerType[] | null;
  window: number | null;
  /** Rotary of the sliding layers where it differs from the others' (Gemma 3's local base). */
  localRope: { theta: number; scaling: RopeScaling } | null;
}

/** One part of a fused linear: rows [start, end) of its output (Phi-3's qkv_proj: q, k, v). */
export interface LinearPart {
  name: string;
  start: number;
  end: number;
}

export interface LinearSpec {
  /** Local name within the block ('self_attn.qkv_proj'). */
  name: string;
  group: InputGroup;
  /** [out, in]. */
  shape: [number, number];
  /** How a fused linear's output rows split (its parts in order), or absent. */
  parts?: LinearPart[];
}

export interface TensorSpec {
  name: string;
  shape: number[];
  optional?: boolean;
}

export interface FamilySpec {
  family: Family;
  /** `architectures` entries of config.json this family runs. */
  architectures: string[];
  /** `model_type` values accepted when config.json names no architecture. */
  modelTypes: string[];
  /** Whether the LM head is tied to the embeddings when config.json does not say. */
  tieByDefault: boolean;
  /** The family's own config keys, read after the common ones (hidden sizes, heads, rotary). */
  features(c: Record<string, unknown>, where: string, base: ModelConfig): FamilyFeatures;
  /** The block's prunable linears, in order. */
  linears(cfg: ModelConfig): LinearSpec[];
  /** Non-linear tensors of a block (norms), besides the linears' weights and optional biases. */
  norms(cfg: ModelConfig): TensorSpec[];
  /** The (global) rotary parameters where the family stores them unlike Llama (default: model/keys.ts parseRope). */
  rope?(c: Record<string, unknown>, where: string): { theta: number; scaling: RopeScaling };
}

/** Llama's features: what a family spec changes. */
export function llamaFeatures(cfg: ModelConfig): FamilyFeatures {
  return {
    normPlusOne: false, sandwichNorms: false, qkNorm: false, queryScale: cfg.headDim ** -0.5,
    attnSoftcap: null, finalSoftcap: null, embedScale: null, act: 'silu', fusedQkv: false, fusedGateUp: false, layerTypes: null, window: null, localRope: null,
  };
}

/** q, k, v, o, gate, up, down as separate linears (Llama's names). */
export function llamaLinears(cfg: ModelConfig): LinearSpec[] {
  const { hidden: H, intermediate: I, heads, kvHeads, headDim: D } = cfg;
  return [
    { name: 'self_attn.q_proj', group: 'attn_in', shape: [heads * D, H] },
    { name: 'self_attn.k_proj', group: 'attn_in', shape: [kvHeads * D, H] },
    { name: 'self_attn.v_proj', group: 'attn_in', shape: [kvHeads * D, H] },
    { name: 'self_attn.o_proj', group: 'o_in', shape: [H, heads * D] },
    { name: 'mlp.gate_proj', group: 'mlp_in', shape: [I, H] },
    { name: 'mlp.up_proj', group: 'mlp_in', shape: [I, H] },
    { name: 'mlp.down_proj', group: 'down_in', shape: [H, I] },
  ];
}

/**
 * Per-layer attention types from `layer_types` (transformers ≥ 4.53 writes it), else from a
 * fallback pattern; validated against num_hidden_layers.
 */
export function layerTypesOf(c: Record<string, unknown>, layers: number, where: string, fallback: (i: number) => LayerType): LayerType[] {
  const raw = c.layer_types;
  if (raw === undefined || raw === null) return Array.from({ length: layers }, (_, i) => fallback(i));
  if (!Array.isArray(raw) || raw.length !== layers) {
    throw cfgError(where, `"layer_types" must list one type per layer (${layers}), got ${JSON.stringify(raw)}.`);
  }
  return raw.map((t) => {
    if (t === 'sliding_attention') return 'sliding';
    if (t === 'full_attention') return 'full';
    throw cfgError(where, `layer type ${JSON.stringify(t)} is not supported (sliding_attention, full_attention).`);
  });
}
