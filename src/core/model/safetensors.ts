/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to {dtype, shape, data_offsets}, then the tensor bytes. Headers are parsed and validated
 * up front; tensor bytes are read lazily with positioned reads (never the whole file).
 */
import * as fs from 'node:fs';
import { TrimError } from '../errors';
import { jsonDepth } from './safeRead';

/** Largest length one fs read or write call takes (Node refuses over 2 GiB − 1). */
export const IO_MAX = 2 ** 30;

export const KNOWN_DTYPES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  U32: 4,
  U64: 8,
};

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  byteLength: number;
  file: string;
}

export interface SafetensorsHeader {
  file: string;
  headerLength: number;
  /** 8 + headerLength: where the data section starts. */
  dataStart: number;
  fileSize: number;
  metadata: Record<string, string> | null;
  tensors: Map<string, TensorInfo>;
}

/** Upper bound on a header's size; real ones are a few hundred KiB at most. */
const MAX_HEADER = 100 * 1024 * 1024;

function bad(file: string, what: string): TrimError {
  return new TrimError('E_SAFETENSORS', `${file}: ${what}. The file is damaged or not a safetensors file; re-download or re-export it.`);
}

export function readSafetensorsHeader(file: string): SafetensorsHeader {
  // Opened without blocking and checked on the descriptor: a FIFO or a device is refused at once.
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new TrimError('E_SAFETENSORS', `${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? e}).`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw bad(file, 'is not a regular file');
    const fileSize = st.size;
    if (fileSize < 8) throw bad(file, `only ${fileSize} bytes long, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readFully(fd, file, lenBuf, 0, 'the header length');
    const len = lenBuf.readBigUInt64LE(0);
    if (len > BigInt(fileSize - 8)) throw bad(file, `header length ${len} exceeds the file (${fileSize} bytes; truncated file?)`);
    if (len > BigInt(MAX_HEADER)) throw bad(file, `header length ${len} is larger than any real header (${MAX_HEADER} bytes)`);
    if (len < 2n) throw bad(file, `header length ${len} is too small for a JSON header`);
    const headerLength = Number(len);
    // Bounded by the file's size (checked above): never an allocation larger than the file.
    const hbuf = Buffer.alloc(headerLength);
    readFully(fd, file, hbuf, 8, 'the header');
    return parseHeader(file, hbuf, fileSize);
  } finally {
    fs.closeSync(fd);
  }
}

/** Fills `buf` from `position`; a short read (the file shrank) or an I/O error is a TrimError. */
export function readFully(fd: number, file: string, buf: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < buf.byteLength) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, done, Math.min(IO_MAX, buf.byteLength - done), position + done);
    } catch (e) {
      throw bad(file, `cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    if (n === 0) throw bad(file, `unexpected end of file while reading ${what}`);
    done += n;
  }
}

/** Writes all of `buf` at `position` (null: at the file's current position), in pieces of at most IO_MAX. */
export function writeFully(fd: number, buf: Uint8Array, position: number | null): void {
  let done = 0;
  while (done < buf.byteLength)
    done += fs.writeSync(fd, buf, done, Math.min(IO_MAX, buf.byteLength - done), position === null ? null : position + done);
}

/** Validates a header's JSON against the data section's size. Exported for fuzz tests. */
export function parseHeader(file: string, hbuf: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = hbuf.byteLength;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  let json: unknown;
  const text = Buffer.from(hbuf).toString('utf8');
  // A header is two levels deep (tensor → fields; shapes and offsets are flat arrays).
  if (jsonDepth(text, 4) > 4) throw bad(file, 'header is nested deeper than a safetensors header is');
  try {
    json = JSON.parse(text);
  } catch {
    throw bad(file, 'header is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(file, 'header is not a JSON object');
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | null = null;
  const spans: [number, number, string][] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) metadata = v as Record<string, string>;
      else throw bad(file, '__metadata__ is not an object');
      continue;
    }
    if (typeof v !== 'object' || v === null) throw bad(file, `entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: offs } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !Object.hasOwn(KNOWN_DTYPES, dtype))
      throw bad(file, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(file, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[1] < offs[0]) {
      throw bad(file, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    // Stops growing past the data section's size (no overflow); a zero dimension wins.
    let numel = (shape as number[]).includes(0) ? 0 : 1;
    for (const d of shape as number[]) {
      if (numel === 0 || numel > dataSize) break;
      numel *= d;
    }
    const byteLength = offs[1] - offs[0];
    if (numel * KNOWN_DTYPES[dtype] !== byteLength) {
      throw bad(
        file,
        `tensor "${name}" (${dtype} ${JSON.stringify(shape)}) needs ${numel * KNOWN_DTYPES[dtype]} bytes but its offsets span ${byteLength}`,
      );
    }
    if (offs[1] > dataSize) {
      throw bad(file, `tensor "${name}" ends at byte ${offs[1]} of a data section of ${dataSize} bytes (truncated file?)`);
    }
    spans.push([offs[0], offs[1], name]);
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + offs[0], byteLength, file });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw bad(file, `tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
  return { file, headerLength, dataStart, fileSize, metadata, tensors };
}

/** Reads one tensor's bytes with a positioned read. */
export function readTensorBytes(t: TensorInfo): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(t.file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new TrimError(
      'E_SAFETENSORS',
      `${t.file}: cannot open to read "${t.name}" (${(e as NodeJS.ErrnoException).code ?? e}); was the checkpoint moved or deleted while pruning?`,
    );
  }
  // byteLength was checked against the file's size when the header was parsed.
  const buf = Buffer.allocUnsafe(t.byteLength);
  try {
    readFully(fd, t.file, buf, t.offset, `"${t.name}"`);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

export interface TensorToWrite {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Serialises a safetensors file (header padded with spaces to a multiple of 8, as the reference writer does). */
export function encodeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> | null = { format: 'pt' }): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(8 + hb.length + off);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  let p = 8 + hb.length;
  for (const t of tensors) {
    out.set(t.data, p);
    p += t.data.byteLength;
  }
  return out;
}
