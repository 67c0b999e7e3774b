/**
 * Weights as the checkpoint stores them, inside the fused graph: the element type they travel in,
 * their widening to float32, and the global tables (embeddings, OPT's positions) as graph inputs
 * or as initializers read from the checkpoint's files.
 */
import { toFloat32, type StoredDtype } from '../../model/dtype';
import { T, type GraphBuilder } from '../../ort/graphs/builder';
import type { ExternalRef, FusedSpec } from './fusedSpec';

// 16-bit weights travel as their uint16 bits (onnxruntime-node's float16 tensors depend on the
// Node version: under Node 24 a Uint16Array fed as float16 arrives empty) and are widened through
// a table of all 65,536 patterns.
export const ELEM: Record<StoredDtype, number> = { F32: T.FLOAT, F16: T.UINT16, BF16: T.UINT16 };

/** float32 value of every 16-bit pattern of `dt`. */
function widenTable(dt: 'F16' | 'BF16'): Uint8Array {
  const bits = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) bits[i] = i;
  const f = toFloat32(new Uint8Array(bits.buffer), dt);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

export type Widen = (b: GraphBuilder, v: string, dt: StoredDtype) => string;

/** A stored weight as float32 in `b`: 16-bit bits through the table of their dtype (one initializer per dtype, in `g`). */
export function widener(g: GraphBuilder): Widen {
  const luts = new Map<StoredDtype, string>();
  return (b, v, dt) => {
    if (dt === 'F32') return v;
    let lut = luts.get(dt);
    if (!lut) luts.set(dt, (lut = g.initRaw(`${dt.toLowerCase()}_table`, T.FLOAT, [65536], widenTable(dt))));
    return b.op('Gather', [lut, b.op('Cast', [v], { to: T.INT32 })], { axis: 0 });
  };
}

/** The embedding table (or OPT's positions): a graph input, or an initializer read from the checkpoint. */
export function globalWeight(
  g: GraphBuilder,
  s: FusedSpec,
  name: string,
  type: number,
  dims: number[],
  ref: ExternalRef | null | undefined,
): string {
  if (!s.external) return g.input(name, type, dims);
  if (!ref) throw new Error(`no external reference for ${name}`);
  return g.initExternal(name, type, dims, ref.location, ref.offset, ref.length);
}
