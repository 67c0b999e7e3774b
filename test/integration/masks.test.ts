/**
 * `--save-masks` (issue 19): the keep masks, bit-packed, beside the pruned checkpoint. Checked
 * against the written weights, read here with a safetensors reader of the test's own (header
 * JSON + raw little-endian bytes) and packed bit by bit: 1 where the stored value is not ±0.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { cli, tmp } from './cli';

function readSafetensors(file: string): {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  data: Buffer;
} {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  return { header, data: buf.subarray(8 + n) };
}

describe('prune --save-masks', () => {
  it('writes one packed keep mask per pruned linear, equal to the zeros of the written weights', { timeout: 300_000 }, () => {
    const root = tmp('trim-masks-');
    const out = path.join(root, 'out');
    const r = cli(
      [
        'prune',
        '--trim',
        '--iterations',
        '1',
        '--save-masks',
        '--nsamples',
        '8',
        '--seqlen',
        '64',
        '--no-eval',
        '--ep',
        'cpu',
        '--json',
        '--out',
        out,
      ],
      { TRIM_CACHE_DIR: path.join(root, 'cache') },
    );
    assert.equal(r.status, 0, r.stderr);
    const model = readSafetensors(path.join(out, 'model.safetensors'));
    const masks = readSafetensors(path.join(out, 'trim-masks.bits'));
    const names = Object.keys(masks.header);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8'));
    assert.equal(names.length, report.blocks.length * report.model.linears.length);
    let kept = 0;
    let total = 0;
    for (const name of names) {
      const w = model.header[name];
      assert.ok(w, `${name} is not a weight of the model`);
      const [rows, cols] = w.shape;
      const m = masks.header[name];
      assert.equal(m.dtype, 'U8');
      assert.deepEqual(m.shape, [rows, Math.ceil(cols / 8)]);
      const wb = model.data.subarray(w.data_offsets[0], w.data_offsets[1]);
      const mb = masks.data.subarray(m.data_offsets[0], m.data_offsets[1]);
      const size = w.dtype === 'F32' ? 4 : 2;
      for (let rr = 0; rr < rows; rr++) {
        for (let c = 0; c < cols; c++) {
          const i = rr * cols + c;
          let zero = true;
          for (let k = 0; k < size; k++) if ((wb[i * size + k] & (k === size - 1 ? 0x7f : 0xff)) !== 0) zero = false;
          const bit = (mb[rr * Math.ceil(cols / 8) + (c >> 3)] >> (c & 7)) & 1;
          assert.equal(bit, zero ? 0 : 1, `${name}[${rr}, ${c}]`);
          kept += bit;
          total++;
        }
      }
    }
    // The masks agree with the report's achieved sparsity.
    assert.ok(Math.abs(1 - kept / total - report.sparsity) < 1e-9, `${1 - kept / total} vs ${report.sparsity}`);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
