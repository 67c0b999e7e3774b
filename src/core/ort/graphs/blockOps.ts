/**
 * The pieces a decoder block (and the head) is made of, as graph operations: the norms (RMSNorm,
 * in float32 under float16 activations; LayerNorm; Gemma's 1 + w scale), the activations (GELU
 * with the tanh approximation, soft-capping) and the attention masks (causal, sliding window).
 */
import type { ModelConfig } from '../../model/config';
import { T, type GraphBuilder } from './builder';

/** The masks' -∞: the lowest float32. */
const NEG = -3.4028234663852886e38;

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w (float16 x: computed in float32, as transformers does). */
export function rmsNorm(g: GraphBuilder, x: string, w: string, eps: number, half = false): string {
  const x32 = half ? g.op('Cast', [x], { to: T.FLOAT }) : x;
  const ms = g.op('ReduceMean', [g.op('Mul', [x32, x32])], { axes: [-1], keepdims: 1 });
  const r = g.op('Sqrt', [g.op('Add', [ms, g.float([eps], [])])]);
  const n = g.op('Div', [x32, r]);
  return g.op('Mul', [half ? g.op('Cast', [n], { to: T.FLOAT16 }) : n, w]);
}

/** LayerNorm over the last axis (OPT). */
export function layerNorm(g: GraphBuilder, x: string, w: string, b: string, eps: number): string {
  return g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: eps } });
}

/** The final norm's scale: w, or (1 + w) (Gemma). */
export function normWeight(g: GraphBuilder, cfg: ModelConfig, w: string): string {
  return cfg.features?.normPlusOne ? g.op('Add', [w, g.float([1], [])]) : w;
}

/** GELU with the tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(g: GraphBuilder, x: string, c: (v: number) => string): string {
  const inner = g.op('Mul', [
    c(Math.sqrt(2 / Math.PI)),
    g.op('Add', [x, g.op('Mul', [c(0.044715), g.op('Mul', [x, g.op('Mul', [x, x])])])]),
  ]);
  return g.op('Mul', [g.op('Mul', [c(0.5), x]), g.op('Add', [c(1), g.op('Tanh', [inner])])]);
}

/** cap·tanh(s / cap) (Gemma 2's soft-capping of attention and final logits). */
export function softcap(g: GraphBuilder, s: string, cap: number | null, c: (v: number) => string): string {
  return cap === null ? s : g.op('Mul', [g.op('Tanh', [g.op('Div', [s, c(cap)])]), c(cap)]);
}

/** Causal: token i sees j ≤ i (0 there, NEG above the diagonal). */
export function causalMask(T_: number): Float32Array {
  const m = new Float32Array(T_ * T_);
  for (let i = 0; i < T_; i++) for (let j = i + 1; j < T_; j++) m[i * T_ + j] = NEG;
  return m;
}

/** Causal and a sliding window: token i sees j with i − window < j ≤ i (itself and the window − 1 before it), as transformers masks. */
export function slidingMask(T_: number, window: number): Float32Array {
  const m = causalMask(T_);
  for (let i = 0; i < T_; i++) for (let j = 0; j <= i - window; j++) m[i * T_ + j] = NEG;
  return m;
}
