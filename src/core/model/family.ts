/**
 * What a model family is, in one place: the architectures it claims, how it reads its
 * config.json keys into features, its tensors (names and shapes), its prunable linears (with the
 * activation that feeds each, and how fused projections split into parts). The graphs
 * (ort/graphs/decoder.ts, prune/fused/fusedGraph.ts) read the features, never the family's name.
 *
 * Registered in model/registry.ts. Most families are Llama with differences (FamilyFeatures, read
 * by graphs/decoder.ts blockForward); one whose block is arranged otherwise (OPT) brings its own
 * block builder (FamilySpec.block) and config parser.
 */
import type { Family } from '../../contract';
import type { FamilyLayout, InputGroup } from './familyLayout';
import type { GraphBuilder } from '../ort/graphs/builder';
import type { ModelConfig, RopeScaling } from './config';
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
  /** The final norm: RMSNorm, or LayerNorm with a bias (OPT). */
  finalNorm: 'rms' | 'layer';
  /**
   * Activations leave float16's range (±65504) in real checkpoints of this family (Gemma 2 and 3:
   * large norm weights and sandwich norms; transformers#36822), so `--precision auto` keeps
   * float32 on CUDA rather than float16.
   */
  float16Overflows: boolean;
  /** Learned absolute positions (a table `layout.positions`), position p at row p + offset (OPT: 2); null: none. */
  positionOffset: number | null;
}

/**
 * What a family's own block builder (FamilySpec.block) is given: the graph, the block's input,
 * and the pieces every decoder block is made of, so that a builder writes only its arrangement.
 */
export interface BlockParts {
  g: GraphBuilder;
  cfg: ModelConfig;
  /** The block's input [windows·seqlen, hidden]. */
  x: string;
  /** Emit the output (false: a statistics pass stops at the last linear's input; return ''). */
  withOutput: boolean;
  /** A linear (Gemm with its bias where the checkpoint has one): [N, inDim] → [N, outDim]. */
  lin(inp: string, local: string, outDim: number, inDim: number): string;
  /** A block tensor by local name. */
  w(local: string, dims: number[]): string;
  /** A scalar constant in the activations' dtype. */
  act(v: number): string;
  /** LayerNorm over the last axis with `${prefix}.weight` and `${prefix}.bias`. */
  layerNorm(inp: string, prefix: string): string;
  /** Causal attention of q [N, Hq·D], k, v [N, Hkv·D] rows, scores × scale → [N, Hq·D] (GroupQueryAttention where chosen). */
  attend(q: string, k: string, v: string, scale: number): string;
  /** Record the activation that feeds a group of linears (Wanda statistics, TRIM's X). */
  captured: Map<InputGroup, string>;
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
  /** The bias is required (OPT); otherwise optional, used where the checkpoint has it. */
  bias?: boolean;
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
  /** The whole config, where the family's keys are not Llama's (OPT); then `features` is not called. */
  parse?(c: Record<string, unknown>, where: string, architecture: string, dtype: ModelConfig['dtype']): ModelConfig;
  /** Tensor names outside the blocks, and the blocks' prefix, where not Llama's (`prefix` is 'model.' or ''). */
  layout?(prefix: string): Omit<FamilyLayout, 'linears' | 'linearInput' | 'linearParts'>;
  /** The LM head may be absent even when config.json does not tie it (OPT then uses the embeddings). */
  lmHeadOptional?: boolean;
  /** The block's graph where it is not Llama's (graphs/decoder.ts blockForward): returns its output. */
  block?(b: BlockParts): string;
}

/** Llama's features: what a family spec changes. */
export function llamaFeatures(cfg: ModelConfig): FamilyFeatures {
  return {
    normPlusOne: false,
    sandwichNorms: false,
    qkNorm: false,
    queryScale: cfg.headDim ** -0.5,
    attnSoftcap: null,
    finalSoftcap: null,
    embedScale: null,
    act: 'silu',
    fusedQkv: false,
    fusedGateUp: false,
    layerTypes: null,
    window: null,
    localRope: null,
    finalNorm: 'rms',
    positionOffset: null,
    float16Overflows: false,
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
