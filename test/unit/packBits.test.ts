// Keep-bit packing of the fused graph (masks mode): every way of packing gives the bytes the host
// worker reads (bit j of byte i = element 8i+j of the row-major matrix), computed here bit by bit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, T } from '../../src/core/ort/graphs/builder';
import { packBitsOps, type PackKind } from '../../src/core/prune/fused/packBits';
import { rng } from '../../src/core/model/synth';

describe('keep-bit packing', () => {
  const rows = 37;
  const cols = 8 * 29;
  const r = rng(11).uniform;
  // Rows of all-kept and all-pruned elements too (bytes 255 and 0).
  const keep = Uint8Array.from({ length: rows * cols }, (_, i) => (i < cols ? 1 : i < 2 * cols ? 0 : r() < 0.3 ? 1 : 0));
  const want = new Uint8Array((rows * cols) / 8);
  for (let i = 0; i < keep.length; i++) if (keep[i]) want[i >> 3] |= 1 << (i & 7);

  for (const kind of ['reduce-int', 'reduce-float', 'split-sum'] as PackKind[]) {
    it(`${kind} packs as the host unpacks`, async () => {
      const g = new GraphBuilder('pack');
      const k = g.input('keep', T.BOOL, [rows, cols]);
      g.output(packBitsOps(g, k, rows, cols, kind), 'bits', T.UINT8);
      const s = await ort.InferenceSession.create(g.build(), { executionProviders: ['cpu'] });
      const out = (await s.run({ keep: new ort.Tensor('bool', keep, [rows, cols]) })).bits;
      await s.release();
      assert.deepEqual(out.dims, [rows, cols / 8]);
      assert.deepEqual(Array.from(out.data as Uint8Array), Array.from(want));
    });
  }
});
