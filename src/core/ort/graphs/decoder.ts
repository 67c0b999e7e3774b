/**
 * One decoder block's forward pass as graph operations, family by family (Llama/Qwen2/Mistral:
 * RMSNorm, rotary, grouped-query attention, SwiGLU, optional biases; the spec families'
 * features; a family's own arrangement, e.g. OPT: LayerNorm, ReLU MLP, biases), added to any
 * graph: the block graph of the runner (pieceGraphs.ts) and the fused graph's loops (prune/fused/fusedGraph.ts).
 * Also what the callers need to know of a block: its weight names, how its layers vary
 * (sliding windows), the width of each linear's input.
 */
import type { ModelConfig } from '../../model/config';
import type { InputGroup } from '../../model/familyLayout';
import { familySpec } from '../../model/registry';
import { ropeTables } from '../../model/rope';
import { GraphBuilder, T } from './builder';
import { causalMask, geluTanh, layerNorm, rmsNorm, slidingMask, softcap } from './blockOps';
import { fromFloat32 } from '../../model/dtype';

/**
 * How the blocks' attention differs at this window length: a sliding mask that bites (window <
 * seqlen), Gemma 3's rotary of the sliding layers; `perBlock` when sliding and full layers mix (the
 * graphs then take each block's type as an input). null: every block is causal with the global
 * rotary (Llama's graph; GroupQueryAttention may run).
 */
export function layerVariation(cfg: ModelConfig, seqlen: number): { mask: boolean; rope: boolean; perBlock: boolean } | null {
  const F = cfg.features;
  if (!F?.layerTypes || !F.layerTypes.includes('sliding')) return null;
  const mask = F.window !== null && F.window < seqlen;
  const rope = F.localRope !== null;
  return mask || rope ? { mask, rope, perBlock: F.layerTypes.includes('full') } : null;
}

/** Weight input names of a block graph, in feed order. */
export function blockWeightNames(cfg: ModelConfig, biases: Set<string>): string[] {
  const spec = familySpec(cfg.family);
  if (!spec) throw new Error(`no family spec for ${cfg.family}`);
  return [
    ...spec.norms(cfg).map((n) => n.name),
    ...spec.linears(cfg).flatMap((l) => [`${l.name}.weight`, ...(biases.has(`${l.name}.bias`) ? [`${l.name}.bias`] : [])]),
  ];
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
  /**
   * Where sliding and full layers mix (layerVariation().perBlock): a float32 scalar value, > 0.5
   * when this block's attention is a sliding window (chooses its mask and, Gemma 3, its rotary tables).
   */
  layer?: string;
}

export function blockForward(
  g: GraphBuilder,
  root: GraphBuilder,
  cfg: ModelConfig,
  S: number,
  biases: Set<string>,
  x: string,
  w: (local: string, dims: number[]) => string,
  fo: ForwardOptions = {},
): BlockForward {
  const half = fo.half ?? false;
  const withOutput = fo.withOutput ?? true;
  const F = cfg.features;
  const V = layerVariation(cfg, S);
  // GroupQueryAttention masks causally only: windows that bite and soft-capping take the matmul attention.
  const gqa = fo.attention === 'gqa' && !V?.mask && F?.attnSoftcap == null;
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

  const attention = (q: string, k: string, v: string, scale: number, m = mask): string => {
    // q [B,Hq,S,D] → [B,Hkv,rep,S,D]; k, v [B,Hkv,S,D] → [B,Hkv,1,S,D]: one broadcast MatMul serves GQA.
    const q5 = g.op('Reshape', [q, g.int64([0, Hkv, rep, S, D])]);
    const k5 = g.op('Unsqueeze', [k, g.int64([2])]);
    const v5 = g.op('Unsqueeze', [v, g.int64([2])]);
    const kt = g.op('Transpose', [k5], { perm: [0, 1, 2, 4, 3] });
    let sc = g.op('MatMul', [q5, kt]);
    if (scale !== 1) sc = g.op('Mul', [sc, act(scale)]);
    if (half) sc = g.op('Cast', [sc], { to: T.FLOAT });
    if (F?.attnSoftcap != null) sc = softcap(g, sc, F.attnSoftcap, (c) => g.float([c], []));
    let p = g.op('Softmax', [g.op('Add', [sc, m])], { axis: -1 });
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
    const [o] = g.opN(
      'GroupQueryAttention',
      [q3, bsh(k, Hkv), bsh(v, Hkv), '', '', seqlensK, total],
      3,
      { num_heads: Hq, kv_num_heads: Hkv, scale: { float: scale } },
      'com.microsoft',
    );
    return g.op('Reshape', [o, g.int64([-1, Hq * D])]);
  };

  let y: string;
  const own = familySpec(cfg.family)?.block;
  if (own) {
    y = own({
      g,
      cfg,
      x,
      withOutput,
      lin,
      w,
      act,
      captured,
      layerNorm: (inp, p) => layerNorm(g, inp, w(`${p}.weight`, [H]), w(`${p}.bias`, [H]), cfg.normEps),
      attend: (q, k, v, scale) =>
        gqa ? fusedAttention(q, k, v, scale) : attention(toHeads(q, Hq), toHeads(k, Hkv), toHeads(v, Hkv), scale),
    });
  } else {
    // Llama, and the spec families' differences (model/family.ts FamilyFeatures); without features the graph is Llama's.
    const normW = (wname: string, dim: number): string => (F?.normPlusOne ? g.op('Add', [w(wname, [dim]), act(1)]) : w(wname, [dim]));
    const rms = (inp: string, wname: string, dim = H): string => rmsNorm(g, inp, normW(wname, dim), cfg.normEps, half);
    const tables = (key: string, r: NonNullable<ModelConfig['rope']>): string[] =>
      sharedConst(root, `${key}_${S}_${half}`, () => {
        const { cos, sin } = ropeTables(r.theta, D, r.scaling, S);
        const c = root.float(cos, [S, D]);
        const sn = root.float(sin, [S, D]);
        return half ? `${root.op('Cast', [c], { to: T.FLOAT16 })}|${root.op('Cast', [sn], { to: T.FLOAT16 })}` : `${c}|${sn}`;
      }).split('|');
    let [cosT, sinT] = tables('rope', cfg.rope!);
    let attMask = mask;
    if (V && F) {
      if (V.perBlock && !fo.layer) throw new Error(`${cfg.family}: a block graph needs the layer's type (ForwardOptions.layer)`);
      const sliding = V.perBlock ? g.op('Greater', [fo.layer!, g.float([0.5], [])]) : null;
      // Every layer sliding: its choice is a constant.
      const pick = (ifSliding: string, ifFull: string): string => (sliding ? g.op('Where', [sliding, ifSliding, ifFull]) : ifSliding);
      if (V.mask)
        attMask = pick(
          sharedConst(root, `sliding_${S}_${F.window}`, () => root.float(slidingMask(S, F.window!), [S, S])),
          mask,
        );
      if (V.rope) {
        const [lc, ls] = tables('rope_local', F.localRope!);
        [cosT, sinT] = [pick(lc, cosT), pick(ls, sinT)];
      }
    }
    const rope = (t: string, c: string, sn: string): string => {
      const [a, b] = g.opN('Split', [t, g.int64([D / 2, D / 2])], 2, { axis: -1 });
      const rot = g.op('Concat', [g.op('Neg', [b]), a], { axis: -1 });
      return g.op('Add', [g.op('Mul', [t, c]), g.op('Mul', [rot, sn])]);
    };
    const h = rms(x, 'input_layernorm.weight');
    captured.set('attn_in', h);
    const qkv = (): [string, string, string] => {
      if (F?.fusedQkv) {
        const [q, k, v] = g.opN('Split', [lin(h, 'self_attn.qkv_proj', (Hq + 2 * Hkv) * D, H), g.int64([Hq * D, Hkv * D, Hkv * D])], 3, {
          axis: -1,
        });
        return [q, k, v];
      }
      return [lin(h, 'self_attn.q_proj', Hq * D, H), lin(h, 'self_attn.k_proj', Hkv * D, H), lin(h, 'self_attn.v_proj', Hkv * D, H)];
    };
    /** Qwen3 / Gemma 3: RMSNorm of each head's vector (last axis, head_dim) before rotary. */
    const qkNorm = (t: string, which: 'q' | 'k'): string => (F?.qkNorm ? rms(t, `self_attn.${which}_norm.weight`, D) : t);
    const scale = F ? F.queryScale : D ** -0.5;
    let a: string;
    if (gqa) {
      // Rotary in the [B, S, heads, D] layout the operator takes (tables [S, 1, D]); heads stay interleaved per token.
      const [c3, s3] = V?.rope
        ? [cosT, sinT].map((t) => g.op('Reshape', [t, g.int64([S, 1, D])]))
        : sharedConst(root, `rope3_${S}`, () => [cosT, sinT].map((t) => root.op('Reshape', [t, root.int64([S, 1, D])])).join('|')).split(
            '|',
          );
      const bshd = (t: string, heads: number): string => g.op('Reshape', [t, g.int64([-1, S, heads, D])]);
      const [q0, k0, v0] = qkv();
      const q = rope(qkNorm(bshd(q0, Hq), 'q'), c3, s3);
      const k = rope(qkNorm(bshd(k0, Hkv), 'k'), c3, s3);
      a = fusedAttention(q, k, v0, scale);
    } else {
      const [q0, k0, v0] = qkv();
      const q = rope(qkNorm(toHeads(q0, Hq), 'q'), cosT, sinT);
      const k = rope(qkNorm(toHeads(k0, Hkv), 'k'), cosT, sinT);
      const v = toHeads(v0, Hkv);
      a = attention(q, k, v, scale, attMask);
    }
    captured.set('o_in', a);
    const o = lin(a, 'self_attn.o_proj', H, Hq * D);
    // Gemma: each sublayer's output is normed before the residual add, and the MLP has its own input norm.
    const x2 = g.op('Add', [x, F?.sandwichNorms ? rms(o, 'post_attention_layernorm.weight') : o]);
    const h2 = rms(x2, F?.sandwichNorms ? 'pre_feedforward_layernorm.weight' : 'post_attention_layernorm.weight');
    captured.set('mlp_in', h2);
    let gate: string;
    let up: string;
    if (F?.fusedGateUp) [gate, up] = g.opN('Split', [lin(h2, 'mlp.gate_up_proj', 2 * I, H), g.int64([I, I])], 2, { axis: -1 });
    else [gate, up] = [lin(h2, 'mlp.gate_proj', I, H), lin(h2, 'mlp.up_proj', I, H)];
    const activated = F?.act === 'gelu_tanh' ? geluTanh(g, gate, act) : g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    const m = g.op('Mul', [activated, up]);
    captured.set('down_in', m);
    if (withOutput) {
      const d = lin(m, 'mlp.down_proj', H, I);
      y = g.op('Add', [x2, F?.sandwichNorms ? rms(d, 'post_feedforward_layernorm.weight') : d]);
    } else y = '';
  }
  return { y, captured };
}

const sharedConsts = new WeakMap<GraphBuilder, Map<string, string>>();
/** A constant made once per root graph (masks, rotary tables) and shared by every block built in it. */
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
