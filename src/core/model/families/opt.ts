/**
 * OPT (OPTForCausalLM): pre-LayerNorm blocks (with biases), learned absolute positions read from
 * row p + 2, queries scaled by head_dim^-0.5 before the scores, ReLU MLP (fc1, fc2), every linear
 * with a bias; LM head tied to the embeddings. Not supported: do_layer_norm_before=false
 * (opt-350m) and word_embed_proj_dim ≠ hidden_size.
 */
import type { BlockParts, FamilySpec } from '../family';
import { llamaFeatures } from '../family';
import type { ModelConfig } from '../config';
import { cfgError, num, posInt } from '../keys';
import { TrimError } from '../../errors';

function parse(c: Record<string, unknown>, where: string, architecture: string, dtype: ModelConfig['dtype']): ModelConfig {
  const hidden = posInt(c, 'hidden_size', where);
  const heads = posInt(c, 'num_attention_heads', where);
  if (c.do_layer_norm_before === false) {
    throw new TrimError('E_UNSUPPORTED_ARCH', `${where}: OPT with do_layer_norm_before=false (opt-350m) is not supported.`);
  }
  const proj = num(c, 'word_embed_proj_dim', where, hidden);
  if (proj !== hidden)
    throw new TrimError('E_UNSUPPORTED_ARCH', `${where}: OPT with word_embed_proj_dim ≠ hidden_size (project_in/out) is not supported.`);
  const act = String(c.activation_function ?? 'relu');
  if (act !== 'relu') throw new TrimError('E_UNSUPPORTED_ARCH', `${where}: OPT activation "${act}" is not supported (relu).`);
  if (hidden % heads !== 0) throw cfgError(where, `hidden_size ${hidden} is not divisible by num_attention_heads ${heads}.`);
  const cfg: ModelConfig = {
    architecture,
    family: 'opt',
    hidden,
    heads,
    kvHeads: heads,
    headDim: hidden / heads,
    intermediate: posInt(c, 'ffn_dim', where),
    layers: posInt(c, 'num_hidden_layers', where),
    vocab: posInt(c, 'vocab_size', where),
    maxPositions: posInt(c, 'max_position_embeddings', where),
    normEps: 1e-5,
    tieEmbeddings: c.tie_word_embeddings !== false,
    dtype,
    rope: null,
  };
  return { ...cfg, features: { ...llamaFeatures(cfg), finalNorm: 'layer', positionOffset: 2 } };
}

function block(b: BlockParts): string {
  const { g, cfg, x, lin, captured } = b;
  const { hidden: H, intermediate: I, headDim: D } = cfg;
  const h = b.layerNorm(x, 'self_attn_layer_norm');
  captured.set('attn_in', h);
  const q = g.op('Mul', [lin(h, 'self_attn.q_proj', H, H), b.act(D ** -0.5)]);
  const k = lin(h, 'self_attn.k_proj', H, H);
  const v = lin(h, 'self_attn.v_proj', H, H);
  const a = b.attend(q, k, v, 1);
  captured.set('o_in', a);
  const x2 = g.op('Add', [x, lin(a, 'self_attn.out_proj', H, H)]);
  const h2 = b.layerNorm(x2, 'final_layer_norm');
  captured.set('mlp_in', h2);
  const f = g.op('Relu', [lin(h2, 'fc1', I, H)]);
  captured.set('down_in', f);
  return b.withOutput ? g.op('Add', [x2, lin(f, 'fc2', H, I)]) : '';
}

export const opt: FamilySpec = {
  family: 'opt',
  architectures: ['OPTForCausalLM'],
  modelTypes: ['opt'],
  tieByDefault: true,
  lmHeadOptional: true,
  parse,
  features: () => {
    throw new Error('OPT parses its whole config (opt.parse)');
  },
  layout: (prefix) => ({
    blockPrefix: `${prefix}decoder.layers.L.`,
    embed: `${prefix}decoder.embed_tokens.weight`,
    positions: `${prefix}decoder.embed_positions.weight`,
    finalNormWeight: `${prefix}decoder.final_layer_norm.weight`,
    finalNormBias: `${prefix}decoder.final_layer_norm.bias`,
    lmHead: 'lm_head.weight',
  }),
  linears(cfg) {
    const { hidden: H, intermediate: I } = cfg;
    return [
      { name: 'self_attn.q_proj', group: 'attn_in', shape: [H, H], bias: true },
      { name: 'self_attn.k_proj', group: 'attn_in', shape: [H, H], bias: true },
      { name: 'self_attn.v_proj', group: 'attn_in', shape: [H, H], bias: true },
      { name: 'self_attn.out_proj', group: 'o_in', shape: [H, H], bias: true },
      { name: 'fc1', group: 'mlp_in', shape: [I, H], bias: true },
      { name: 'fc2', group: 'down_in', shape: [H, I], bias: true },
    ];
  },
  norms: (cfg) => [
    { name: 'self_attn_layer_norm.weight', shape: [cfg.hidden] },
    { name: 'self_attn_layer_norm.bias', shape: [cfg.hidden] },
    { name: 'final_layer_norm.weight', shape: [cfg.hidden] },
    { name: 'final_layer_norm.bias', shape: [cfg.hidden] },
  ],
  block,
};
