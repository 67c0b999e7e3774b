/**
 * ONNX graphs of the model's pieces, one family at a time: the embeddings, one decoder block
 * (Llama/Qwen2/Mistral: RMSNorm, rotary, grouped-query attention, SwiGLU, optional biases; OPT:
 * LayerNorm, ReLU MLP, biases), and the head (final norm, LM head, per-token negative
 * log-likelihood). Activations are float32, 2-D [windows·seqlen, hidden] between pieces.
 *
 * A block graph takes its weights as inputs named by their local tensor names (e.g.
 * 'mlp.up_proj.weight'), so one session serves every block. With `stats` it also returns, for
 * each of the four activations that feed the block's linears, the sum of squares per channel
 * over all tokens (Wanda's statistics) and each window's last-token vector (TRIM's X).
 */
import type { ModelConfig } from '../config';
import { INPUT_GROUPS, type InputGroup } from '../checkpoint';
import { ropeTables } from '../rope';
import { GraphBuilder, T } from './builder';
import { fromFloat32 } from '../dtype';

export interface BlockGraphOptions {
  seqlen: number;
  /** Emit Wanda sums of squares and last-token inputs. */
  stats: boolean;
  /** Emit the block's output hidden states. */
  output: boolean;
  /** Local names of the bias tensors present (e.g. 'self_attn.q_proj.bias'). */
  biases: Set<string>;
}

const NEG = -3.4028234663852886e38;

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w (float16 x: computed in float32, as transformers does). */
function rmsNorm(g: GraphBuilder, x: string, w: string, eps: number, half = false): string {
  const x32 = half ? g.op('Cast', [x], { to: T.FLOAT }) : x;
  const ms = g.op('ReduceMean', [g.op('Mul', [x32, x32])], { axes: [-1], keepdims: 1 });
  const r = g.op('Sqrt', [g.op('Add', [ms, g.float([eps], [])])]);
  const n = g.op('Div', [x32, r]);
  return g.op('Mul', [half ? g.op('Cast', [n], { to: T.FLOAT16 }) : n, w]);
}

/** LayerNorm over the last axis (OPT). */
function layerNorm(g: GraphBuilder, x: string, w: string, b: string, eps: number): string {
  return g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: eps } });
}

function causalMask(T_: number): Float32Array {
  const m = new Float32Array(T_ * T_);
  for (let i = 0; i < T_; i++) for (let j = i + 1; j < T_; j++) m[i * T_ + j] = NEG;
  return m;
}

/** Weight input names of a block graph, in feed order. */
export function blockWeightNames(cfg: ModelConfig, biases: Set<string>): string[] {
  const names: string[] = cfg.family === 'opt'
    ? ['self_attn_layer_norm.weight', 'self_attn_layer_norm.bias', 'final_layer_norm.weight', 'final_layer_norm.bias']
    : ['input_layernorm.weight', 'post_attention_layernorm.weight'];
  const linears = cfg.family === 'opt'
    ? ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.out_proj', 'fc1', 'fc2']
    : ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];
  for (const l of linears) {
    names.push(`${l}.weight`);
    if (biases.has(`${l}.bias`)) names.push(`${l}.bias`);
  }
  return names;
}

export interface BlockForward {
  /** The block's output [N, H] ('' when not asked for: a statistics pass stops at down_proj's input). */
  y: string;
  /** The input of each linear group ([N, channels]). */
  captured: Map<InputGroup, string>;
}

/**
 * Adds one block's forward pass to `g` (a graph or a loop body). `x` is [windows·seqlen, H];
 * `w(local, dims)` names the float32 value of a weight; constants shared by every block (causal
 * mask, rotary tables) are created once in `root` and reused.
 */
export interface ForwardOptions {
  /** Activations and products in float16 (norms and softmax in float32). */
  half?: boolean;
  /** Emit the block's output (false: a statistics pass stops at down_proj's input). */
  withOutput?: boolean;
  /**
   * 'matmul': scores materialised, causal mask added, softmax (every provider, exact float32).
   * 'gqa': ORT's com.microsoft.GroupQueryAttention (CUDA, float16 only: flash attention, causal,
   * the key/value heads shared without being repeated).
   */
  attention?: 'matmul' | 'gqa';
}

export function blockForward(g: GraphBuilder, root: GraphBuilder, cfg: ModelConfig, S: number, biases: Set<string>, x: string, w: (local: string, dims: number[]) => string, fo: ForwardOptions = {}): BlockForward {
  const half = fo.half ?? false;
  const withOutput = fo.withOutput ?? true;
  const gqa = fo.attention === 'gqa';
  if (gqa && !half) throw new Error('GroupQueryAttention runs in float16 only');
  // float16: activations and products in half precision, norms and softmax in float32 (as transformers runs a float16 model).
  const act = (v: number): string => (half ? root.initRaw('f16', T.FLOAT16, [], fromFloat32(Float32Array.of(v), 'F16')) : g.float([v], []));
  const { hidden: H, heads: Hq, kvHeads: Hkv, headDim: D } = cfg;
  const I = cfg.intermediate;
  const lin = (inp: string, local: string, outDim: number, inDim: number): string => {
    const ins = [inp, w(`${local}.weight`, [outDim, inDim])];
    if (biases.has(`${local}.bias`)) ins.push(w(`${local}.bias`, [outDim]));
    return g.op('Gemm', ins, { transB: 1 });
  };
  const captured = new Map<InputGroup, string>();
  const mask = sharedConst(root, `causal_${S}`, () => root.float(causalMask(S), [S, S]));
  const rep = Hq / Hkv;

  /** [N, heads·D] → [B, heads, S, D] */
  const toHeads = (t: string, heads: number): string =>
    g.op('Transpose', [g.op('Reshape', [t, g.int64([-1, S, heads, D])])], { perm: [0, 2, 1, 3] });

  const attention = (q: string, k: string, v: string, scale: number): string => {
    // q [B,Hq,S,D] → [B,Hkv,rep,S,D]; k, v [B,Hkv,S,D] → [B,Hkv,1,S,D]: one broadcast MatMul serves GQA.
    const q5 = g.op('Reshape', [q, g.int64([0, Hkv, rep, S, D])]);
    const k5 = g.op('Unsqueeze', [k, g.int64([2])]);
    const v5 = g.op('Unsqueeze', [v, g.int64([2])]);
    const kt = g.op('Transpose', [k5], { perm: [0, 1, 2, 4, 3] });
    let sc = g.op('MatMul', [q5, kt]);
    if (scale !== 1) sc = g.op('Mul', [sc, act(scale)]);
    if (half) sc = g.op('Cast', [sc], { to: T.FLOAT });
    let p = g.op('Softmax', [g.op('Add', [sc, mask])], { axis: -1 });
    if (half) p = g.op('Cast', [p], { to: T.FLOAT16 });
    const ctx = g.op('MatMul', [p, v5]); // [B,Hkv,rep,S,D]
    const c4 = g.op('Reshape', [ctx, g.int64([0, Hq, S, D])]);
    return g.op('Reshape', [g.op('Transpose', [c4], { perm: [0, 2, 1, 3] }), g.int64([-1, Hq * D])]);
  };

  /** [N, heads·D] rows of q, k, v → GroupQueryAttention (causal, prompt only: no past) → [N, Hq·D]. */
  const fusedAttention = (q: string, k: string, v: string, scale: number): string => {
    const bsh = (t: string, heads: number): string => g.op('Reshape', [t, g.int64([-1, S, heads * D])]);
    const q3 = bsh(q, Hq);
    const batch = g.op('Slice', [g.op('Shape', [q3]), g.int64([0]), g.int64([1])]);
    const seqlensK = g.op('Expand', [root.initRaw('i32', T.INT32, [], new Uint8Array(Int32Array.of(S - 1).buffer)), batch]);
    const total = root.initRaw('i32', T.INT32, [], new Uint8Array(Int32Array.of(S).buffer));
    const [o] = g.opN('GroupQueryAttention', [q3, bsh(k, Hkv), bsh(v, Hkv), '', '', seqlensK, total], 3,
      { num_heads: Hq, kv_num_heads: Hkv, scale: { float: scale } }, 'com.microsoft');
    return g.op('Reshape', [o, g.int64([-1, Hq * D])]);
  };

  let y: string;
  if (cfg.family === 'opt') {
    const ln = (inp: string, p: string): string => layerNorm(g, inp, w(`${p}.weight`, [H]), w(`${p}.bias`, [H]), cfg.normEps);
    const h = ln(x, 'self_attn_layer_norm');
    captured.set('attn_in', h);
    const q = g.op('Mul', [lin(h, 'self_attn.q_proj', H, H), act(D ** -0.5)]);
    const k = lin(h, 'self_attn.k_proj', H, H);
    const v = lin(h, 'self_attn.v_proj', H, H);
    const a = gqa ? fusedAttention(q, k, v, 1) : attention(toHeads(q, Hq), toHeads(k, Hkv), toHeads(v, Hkv), 1);
    captured.set('o_in', a);
    const x2 = g.op('Add', [x, lin(a, 'self_attn.out_proj', H, H)]);
    const h2 = ln(x2, 'final_layer_norm');
    captured.set('mlp_in', h2);
    const f = g.op('Relu', [lin(h2, 'fc1', I, H)]);
    captured.set('down_in', f);
    y = withOutput ? g.op('Add', [x2, lin(f, 'fc2', H, I)]) : '';
  } else {
    const rms = (inp: string, wname: string): string => rmsNorm(g, inp, w(wname, [H]), cfg.normEps, half);
    const [cosT, sinT] = sharedConst(root, `rope_${S}_${half}`, () => {
      const { cos, sin } = ropeTables(cfg.rope!.theta, D, cfg.rope!.scaling, S);
      const c = root.float(cos, [S, D]);
      const sn = root.float(sin, [S, D]);
      return half ? `${root.op('Cast', [c], { to: T.FLOAT16 })}|${root.op('Cast', [sn], { to: T.FLOAT16 })}` : `${c}|${sn}`;
    }).split('|');
    const rope = (t: string, c: string, sn: string): string => {
      const [a, b] = g.opN('Split', [t, g.int64([D / 2, D / 2])], 2, { axis: -1 });
      const rot = g.op('Concat', [g.op('Neg', [b]), a], { axis: -1 });
      return g.op('Add', [g.op('Mul', [t, c]), g.op('Mul', [rot, sn])]);
    };
    const h = rms(x, 'input_layernorm.weight');
    captured.set('attn_in', h);
    let a: string;
    if (gqa) {
      // Rotary in the [B, S, heads, D] layout the operator takes (tables [S, 1, D]); heads stay interleaved per token.
      const [c3, s3] = sharedConst(root, `rope3_${S}`, () =>
        [cosT, sinT].map((t) => root.op('Reshape', [t, root.int64([S, 1, D])])).join('|')).split('|');
      const bshd = (t: string, heads: number): string => g.op('Reshape', [t, g.int64([-1, S, heads, D])]);
      const q = rope(bshd(lin(h, 'self_attn.q_proj', Hq * D, H), Hq), c3, s3);
      const k = rope(bshd(lin(h, 'self_attn.k_proj', Hkv * D, H), Hkv), c3, s3);
      a = fusedAttention(q, k, lin(h, 'self_attn.v_proj', Hkv * D, H), D ** -0.5);
    } else {
      const q = rope(toHeads(lin(h, 'self_attn.q_proj', Hq * D, H), Hq), cosT, sinT);
      const k = rope(toHeads(lin(h, 'self_attn.k_proj', Hkv * D, H), Hkv), cosT, sinT);
      const v = toHeads(lin(h, 'self_attn.v_proj', Hkv * D, H), Hkv);
      a = attention(q, k, v, D ** -0.5);
    }
    captured.set('o_in', a);
    const x2 = g.op('Add', [x, lin(a, 'self_attn.o_proj', H, Hq * D)]);
    const h2 = rms(x2, 'post_attention_layernorm.weight');
    captured.set('mlp_in', h2);
    const gate = lin(h2, 'mlp.gate_proj', I, H);
    const up = lin(h2, 'mlp.up_proj', I, H);
    const m = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    captured.set('down_in', m);
    y = withOutput ? g.op('Add', [x2, lin(m, 'mlp.down_proj', H, I)]) : '';
  }
  return { y, captured };
}

const sharedConsts = new WeakMap<GraphBuilder, Map<string, string>>();
function sharedConst(root: GraphBuilder, key: string, make: () => string): string {
  let m = sharedConsts.get(root);
  if (!m) sharedConsts.set(root, (m = new Map()));
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = make()));
  return v;
}

/** Channels of each input group. */
export function groupWidth(cfg: ModelConfig, grp: InputGroup): number {
  return grp === 'down_in' ? cfg.intermediate : grp === 'o_in' ? cfg.heads * cfg.headDim : cfg.hidden;
}

export function buildBlockGraph(cfg: ModelConfig, o: BlockGraphOptions): Uint8Array {
  const g = new GraphBuilder(`block_${cfg.family}`);
  const S = o.seqlen;
  const x = g.input('x', T.FLOAT, ['N', cfg.hidden]);
  const inputs = new Map<string, string>();
  const w = (name: string, dims: number[]): string => {
    let v = inputs.get(name);
    if (!v) inputs.set(name, (v = g.input(name, T.FLOAT, dims)));
    return v;
  };
  const { y, captured } = blockForward(g, g, cfg, S, o.biases, x, w);
  if (o.output) g.output(y, 'y');
  if (o.stats) {
    for (const grp of INPUT_GROUPS) {
      const t = captured.get(grp)!;
      g.output(g.op('ReduceSumSquare', [t], { axes: [0], keepdims: 0 }), `sumsq_${grp}`);
      const dims = groupWidth(cfg, grp);
      const t3 = g.op('Reshape', [t, g.int64([-1, S, dims])]);
      const last = g.op('Slice', [t3, g.int64([S - 1]), g.int64([S]), g.int64([1])]);
      g.output(g.op('Reshape', [last, g.int64([-1, dims])]), `last_${grp}`);
    }
  }
  return g.build();
}

/** ids [N] int64 → hidden [N, H] (OPT adds learned positions, offset 2). */
export function buildEmbedGraph(cfg: ModelConfig, seqlen: number): Uint8Array {
  const g = new GraphBuilder(`embed_${cfg.family}`);
  const ids = g.input('ids', T.INT64, ['N']);
  const E = g.input('embed', T.FLOAT, [cfg.vocab, cfg.hidden]);
  let h = g.op('Gather', [E, ids], { axis: 0 });
  if (cfg.family === 'opt') {
    const P = g.input('positions', T.FLOAT, [cfg.maxPositions + 2, cfg.hidden]);
    const pos = g.int64(Array.from({ length: seqlen }, (_, i) => i + 2));
    const pe = g.op('Gather', [P, pos], { axis: 0 }); // [S, H]
    const h3 = g.op('Reshape', [h, g.int64([-1, seqlen, cfg.hidden])]);
    h = g.op('Reshape', [g.op('Add', [h3, pe]), g.int64([-1, cfg.hidden])]);
  }
  g.output(h, 'h');
  return g.build();
}

/**
 * hidden [N, H], targets [N] → per-token negative log-likelihood [N] (final norm, LM head,
 * log-softmax). With `logits` the logits [N, V] are returned too (for cross-checks).
 */
export function buildHeadGraph(cfg: ModelConfig, logits = false): Uint8Array {
  const g = new GraphBuilder(`head_${cfg.family}`);
  const H = cfg.hidden;
  const x = g.input('x', T.FLOAT, ['N', H]);
  const targets = g.input('targets', T.INT64, ['N']);
  const W = g.input('lm_head', T.FLOAT, [cfg.vocab, H]);
  const h = cfg.family === 'opt'
    ? layerNorm(g, x, g.input('norm.weight', T.FLOAT, [H]), g.input('norm.bias', T.FLOAT, [H]), cfg.normEps)
    : rmsNorm(g, x, g.input('norm.weight', T.FLOAT, [H]), cfg.normEps);
  const lg = g.op('Gemm', [h, W], { transB: 1 });
  const lp = g.op('LogSoftmax', [lg], { axis: -1 });
  const picked = g.op('GatherElements', [lp, g.op('Unsqueeze', [targets, g.int64([1])])], { axis: 1 });
  g.output(g.op('Neg', [g.op('Reshape', [picked, g.int64([-1])])]), 'nll');
  if (logits) g.output(lg, 'logits');
  return g.build();
}
