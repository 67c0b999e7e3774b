/**
 * Keep masks of a pruned checkpoint, bit-packed (as the authors' --save_masks keeps its masks
 * beside the model): `trim-masks.bits`, a file in the safetensors format (not named *.safetensors, so
 * that no loader takes it for a shard of the model), one U8 tensor per pruned linear weight, named as
 * the weight, shape [rows, ceil(cols / 8)]; bit j (least significant first) of byte i of a row is
 * 1 when column 8i + j of that row is kept (its stored value is not ±0). Read from the written
 * weights, so the masks are exactly what the checkpoint holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from '../model/checkpoint';
import { ioError } from '../io/output';
import { readTensorBytes, type TensorInfo } from '../model/safetensors';

export const MASKS_FILE = 'trim-masks.bits';

/** Packs the keep bits of one stored weight (F16/BF16/F32, row-major [rows, cols]). */
export function packKeep(bytes: Buffer, dtype: string, rows: number, cols: number): Uint8Array {
  const stride = Math.ceil(cols / 8);
  const out = new Uint8Array(rows * stride);
  const wide = dtype === 'F32';
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const nz = wide ? (bytes.readUInt32LE(i * 4) & 0x7fffffff) !== 0 : (bytes.readUInt16LE(i * 2) & 0x7fff) !== 0;
      if (nz) out[r * stride + (c >> 3)] |= 1 << (c & 7);
    }
  }
  return out;
}

/** Writes the masks of every block's linears of `written` into `dir` (the output's partial folder). */
export function writeMasks(written: Checkpoint, dir: string): string {
  const infos: TensorInfo[] = [];
  for (let b = 0; b < written.config.layers; b++) {
    for (const l of written.layout.linears) {
      const t = written.tensors.get(written.blockName(b, `${l}.weight`));
      if (t) infos.push(t);
    }
  }
  const header: Record<string, unknown> = { __metadata__: { format: 'trim-keep-masks/1', bitorder: 'little', meaning: '1 = kept' } };
  let off = 0;
  for (const t of infos) {
    const n = t.shape[0] * Math.ceil(t.shape[1] / 8);
    header[t.name] = { dtype: 'U8', shape: [t.shape[0], Math.ceil(t.shape[1] / 8)], data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const file = path.join(dir, MASKS_FILE);
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    for (const t of infos) fs.writeSync(fd, packKeep(readTensorBytes(t), t.dtype, t.shape[0], t.shape[1]));
    fs.fsyncSync(fd);
  } catch (e) {
    throw ioError(`writing ${MASKS_FILE}`, e);
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  return file;
}
