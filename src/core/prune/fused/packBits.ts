/**
 * Keep bits of a pruned linear packed on the device (the fused graph's masks mode): 8 kept-or-not
 * flags per byte, least significant first, as the host reads them (prune/maskPool.ts) and as the
 * output's masks file stores them (prune/masks.ts packKeep).
 */
import { T, type GraphBuilder } from '../../ort/graphs/builder';

export type PackKind = 'reduce-int' | 'reduce-float' | 'split-sum';

/**
 * Packs a bool [rows, cols] into uint8 [rows, cols/8], bit j of byte i = element 8i+j: the
 * weighted sum of each group of 8 with weights 1, 2, …, 128 (exact in int32 and in float32).
 * reduce-*: a ReduceSum over the axis of 8; split-sum: the 8 strided slices summed elementwise.
 */
export function packBitsOps(b: GraphBuilder, keep: string, rows: number, cols: number, kind: PackKind): string {
  const powers = [1, 2, 4, 8, 16, 32, 64, 128];
  let packed: string;
  if (kind === 'split-sum') {
    const parts = b.opN(
      'Split',
      [b.op('Reshape', [b.op('Cast', [keep], { to: T.FLOAT }), b.int64([rows, cols / 8, 8])]), b.int64(Array(8).fill(1))],
      8,
      { axis: 2 },
    );
    packed = b.op('Squeeze', [
      b.op(
        'Sum',
        parts.map((x, j) => (j === 0 ? x : b.op('Mul', [x, b.float([powers[j]], [])]))),
      ),
      b.int64([2]),
    ]);
  } else {
    const int = kind === 'reduce-int';
    const bits = b.op('Reshape', [b.op('Cast', [keep], { to: int ? T.INT32 : T.FLOAT }), b.int64([rows, cols / 8, 8])]);
    const w = int ? b.initRaw('bit_values', T.INT32, [8], new Uint8Array(Int32Array.from(powers).buffer)) : b.float(powers);
    packed = b.op('ReduceSum', [b.op('Mul', [bits, w]), b.int64([2])], { keepdims: 0 });
  }
  return b.op('Cast', [packed], { to: T.UINT8 });
}
