/**
 * What a synthetic checkpoint (synth.ts) holds, family by family: its config.json and the name,
 * shape and kind of every tensor, the tensors taken from the family's spec (model/family.ts) for
 * that config.json as the checkpoint reader parses it.
 */
import { layoutFor, positionTableRows, type InputGroup } from './familyLayout';
import { parseConfig, type ModelConfig } from './config';
import type { FamilySpec } from './family';
import { familySpec } from './registry';
import type { SynthSpec } from './synth';

/**
 * What this writer needs per family beyond the family's spec (model/families/*.ts), which gives
 * every tensor's name and shape: the family's own config.json keys (after the common ones), the
 * linears whose optional bias `qkvBias` adds, and whether a block's norms are listed before the
 * sublayer they feed (Llama's listing) or after it (OPT's). The listing fixes the order of the
 * random draws, so it stays as checkpoints have always been written.
 */
interface SynthFamily {
  keys(s: SynthSpec): Record<string, unknown>;
  biased: string[];
  normsFirst: boolean;
}

/** Llama's keys, with a family's own before the token ids. */
function llamaKeys(s: SynthSpec, own: Record<string, unknown>): Record<string, unknown> {
  return {
    intermediate_size: s.intermediate,
    num_key_value_heads: s.kvHeads,
    hidden_act: 'silu',
    rms_norm_eps: 1e-6,
    rope_theta: s.ropeTheta ?? 10000,
    ...own,
    bos_token_id: 0,
    eos_token_id: 0,
  };
}

const QKV = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'];

const WRITERS: Record<SynthSpec['family'], SynthFamily> = {
  // attention_bias puts a bias on o_proj too.
  llama: {
    keys: (s) => llamaKeys(s, { attention_bias: s.qkvBias, mlp_bias: false }),
    biased: [...QKV, 'self_attn.o_proj'],
    normsFirst: true,
  },
  qwen2: { keys: (s) => llamaKeys(s, {}), biased: QKV, normsFirst: true },
  mistral: { keys: (s) => llamaKeys(s, { sliding_window: null }), biased: QKV, normsFirst: true },
  // Every OPT linear has its bias (the spec requires it).
  opt: {
    keys: (s) => ({
      ffn_dim: s.intermediate,
      do_layer_norm_before: true,
      word_embed_proj_dim: s.hidden,
      activation_function: 'relu',
      enable_bias: true,
      layer_norm_elementwise_affine: true,
      bos_token_id: 2,
      eos_token_id: 2,
      pad_token_id: 1,
    }),
    biased: [],
    normsFirst: false,
  },
};

function specOf(s: SynthSpec): FamilySpec {
  const spec = familySpec(s.family);
  if (!spec) throw new Error(`no family spec for ${s.family}`);
  return spec;
}

/** The config.json of a synthetic checkpoint: the family's first architecture and model_type, the common keys, the family's own, `extra`. */
export function configJson(s: SynthSpec): Record<string, unknown> {
  const spec = specOf(s);
  return {
    architectures: [spec.architectures[0]],
    model_type: spec.modelTypes[0],
    hidden_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    vocab_size: s.vocab,
    max_position_embeddings: s.maxPositions,
    torch_dtype: s.dtype,
    tie_word_embeddings: s.tie,
    ...WRITERS[s.family].keys(s),
    ...s.extra,
  };
}

type SynthTensor = { name: string; shape: number[]; kind: 'weight' | 'norm' | 'bias' };

/**
 * One block's tensors (local names), from the family's spec: sublayer by sublayer (attention:
 * attn_in and o_in linears; MLP: mlp_in and down_in), each group's weights, each followed by its
 * bias where the spec requires one, then the optional biases this model has; the sublayer's norm
 * (the spec's norms split in two halves, attention's then the MLP's) before or after its linears.
 */
function blockTensors(s: SynthSpec, cfg: ModelConfig): SynthTensor[] {
  const spec = specOf(s);
  const writer = WRITERS[s.family];
  const linears = spec.linears(cfg);
  const norms = spec.norms(cfg);
  const biased = new Set(s.qkvBias ? writer.biased : []);
  const out: SynthTensor[] = [];
  const sublayers: InputGroup[][] = [
    ['attn_in', 'o_in'],
    ['mlp_in', 'down_in'],
  ];
  sublayers.forEach((groups, i) => {
    const half = norms.length / 2;
    const norm = norms
      .slice(i * half, (i + 1) * half)
      .map((n): SynthTensor => ({ name: n.name, shape: n.shape, kind: n.name.endsWith('.bias') ? 'bias' : 'norm' }));
    if (writer.normsFirst) out.push(...norm);
    for (const g of groups) {
      const group = linears.filter((l) => l.group === g);
      for (const l of group) {
        out.push({ name: `${l.name}.weight`, shape: l.shape, kind: 'weight' });
        if (l.bias) out.push({ name: `${l.name}.bias`, shape: [l.shape[0]], kind: 'bias' });
      }
      for (const l of group) if (!l.bias && biased.has(l.name)) out.push({ name: `${l.name}.bias`, shape: [l.shape[0]], kind: 'bias' });
    }
    if (!writer.normsFirst) out.push(...norm);
  });
  return out;
}

/**
 * Names and shapes of every tensor, from the family's spec for the config.json written (as the
 * checkpoint reader would expect them): the embeddings (and learned positions), the blocks, the
 * final norm, the LM head unless tied.
 */
export function tensorList(s: SynthSpec): SynthTensor[] {
  const cfg = parseConfig(configJson(s));
  const layout = layoutFor(cfg.family, 'model.', cfg);
  const H = cfg.hidden;
  const out: SynthTensor[] = [{ name: layout.embed, shape: [cfg.vocab, H], kind: 'weight' }];
  if (layout.positions) out.push({ name: layout.positions, shape: [positionTableRows(cfg), H], kind: 'weight' });
  const block = blockTensors(s, cfg);
  for (let l = 0; l < cfg.layers; l++) {
    const p = layout.blockPrefix.replace('L', String(l));
    for (const t of block) out.push({ ...t, name: p + t.name });
  }
  out.push({ name: layout.finalNormWeight, shape: [H], kind: 'norm' });
  if (layout.finalNormBias) out.push({ name: layout.finalNormBias, shape: [H], kind: 'bias' });
  if (!cfg.tieEmbeddings) out.push({ name: layout.lmHead, shape: [cfg.vocab, H], kind: 'weight' });
  return out;
}
