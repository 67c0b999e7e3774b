/**
 * Rotary position tables, computed the way `transformers` does in float32: inverse frequencies
 * (with the checkpoint's scaling), angles = position × inverse frequency, then cos and sin of the
 * angles repeated over both halves of the head dimension.
 */
import type { RopeScaling } from './config';

const fr = Math.fround;

export function inverseFrequencies(theta: number, headDim: number, scaling: RopeScaling): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = fr(1 / fr(theta ** fr((2 * i) / headDim)));
  if (scaling.type === 'linear') for (let i = 0; i < half; i++) inv[i] = fr(inv[i] / scaling.factor);
  if (scaling.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
    const lowWavelen = originalMaxPositions / lowFreqFactor;
    const highWavelen = originalMaxPositions / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = fr(inv[i] / factor);
      else if (wavelen >= highWavelen) {
        const smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = fr((1 - smooth) * (inv[i] / factor) + smooth * inv[i]);
      }
    }
  }
  return inv;
}

/** cos and sin tables of shape [seqlen, headDim]. */
export function ropeTables(theta: number, headDim: number, scaling: RopeScaling, seqlen: number): { cos: Float32Array; sin: Float32Array } {
  const inv = inverseFrequencies(theta, headDim, scaling);
  const half = headDim / 2;
  const cos = new Float32Array(seqlen * headDim);
  const sin = new Float32Array(seqlen * headDim);
  for (let p = 0; p < seqlen; p++) {
    for (let i = 0; i < half; i++) {
      const a = fr(p * inv[i]);
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[p * headDim + i] = c;
      cos[p * headDim + half + i] = c;
      sin[p * headDim + i] = s;
      sin[p * headDim + half + i] = s;
    }
  }
  return { cos, sin };
}
