/**
 * Reading the files a user names, so that no file can hang or flood a job: each is opened
 * without blocking (O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
 * forever, with the thread, and so the signal handlers, held), checked to be a regular file on
 * the open descriptor (no FIFO, device such as /dev/zero, socket or folder; no race between a
 * check and the open), and read only up to a size limit. JSON is also checked for nesting
 * depth before it is parsed (JSON.parse copes, but everything that walks the value afterwards
 * recurses: JSON.stringify in a message, structured clone, a tokenizer's loader).
 *
 * The limits live here, in one table.
 */
import * as fs from 'node:fs';
import { TrimError, type TrimErrorCode } from '../errors';

const MiB = 2 ** 20;

/** Size limits of the files the engine reads whole. */
export const READ_LIMITS = {
  /** A model's config.json (real ones are a few KiB). */
  config: 16 * MiB,
  /** model.safetensors.index.json (a 70B model's is about 100 KiB). */
  index: 64 * MiB,
  /** tokenizer.json (the largest vocabularies are some tens of MiB). */
  tokenizer: 256 * MiB,
  /** tokenizer_config.json, generation files. */
  tokenizerConfig: 32 * MiB,
  /** Calibration and evaluation texts (tokenized as one string: V8 strings end near 512 MiB). */
  text: 256 * MiB,
  /** A resume checkpoint's state.json and block reports. */
  checkpoint: 256 * MiB,
} as const;

/** Deepest nesting of a JSON file the engine reads (real configs and tokenizers: under 10). */
export const MAX_JSON_DEPTH = 64;

const NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

function kind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export interface ReadSpec {
  /** What the file is, for messages ("config.json", "Calibration text"). */
  what: string;
  code: TrimErrorCode;
  /** Largest size accepted, in bytes. */
  max: number;
}

/**
 * Opens `file` for reading when it is a regular file; throws a TrimError (spec.code) otherwise.
 * Returns the descriptor and its size. The descriptor is blocking-agnostic: for regular files
 * O_NONBLOCK changes nothing.
 */
export function openRegular(file: string, spec: Pick<ReadSpec, 'what' | 'code'>): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new TrimError(spec.code, `${spec.what} ${file}: cannot be read (${err.code ?? err.message}).`), {
      sysCode: err.code,
    });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new TrimError(spec.code, `${spec.what} ${file}: is ${kind(st)}, not a regular file.`);
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** The errno code (ENOENT, …) behind a TrimError of openRegular/readRegular, if any. */
export function sysCode(e: unknown): string | undefined {
  return (e as { sysCode?: string }).sysCode;
}

/** The whole of a regular file of at most spec.max bytes. */
export function readRegular(file: string, spec: ReadSpec): Buffer {
  const { fd, size } = openRegular(file, spec);
  try {
    if (size > spec.max)
      throw new TrimError(spec.code, `${spec.what} ${file}: is ${size} bytes, more than the ${spec.max} bytes such a file may have.`);
    // Read until the end (the file may have grown since fstat), never past the limit.
    const chunks: Buffer[] = [];
    let total = 0;
    let buf = Buffer.allocUnsafe(Math.max(1, Math.min(size + 1, spec.max + 1)));
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw new TrimError(
          spec.code,
          `${spec.what} ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`,
        );
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > spec.max)
        throw new TrimError(spec.code, `${spec.what} ${file}: is more than the ${spec.max} bytes such a file may have.`);
      if (n === buf.length) buf = Buffer.allocUnsafe(Math.min(64 * MiB, spec.max + 1 - total) || 1);
      else buf = buf.subarray(n);
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } finally {
    fs.closeSync(fd);
  }
}

/** Async readRegular, for the extension host (whose thread must never wait on a file). */
export async function readRegularAsync(file: string, spec: ReadSpec): Promise<Buffer> {
  let h: fs.promises.FileHandle;
  try {
    h = await fs.promises.open(file, fs.constants.O_RDONLY | NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new TrimError(spec.code, `${spec.what} ${file}: cannot be read (${err.code ?? err.message}).`), {
      sysCode: err.code,
    });
  }
  try {
    const st = await h.stat();
    if (!st.isFile()) throw new TrimError(spec.code, `${spec.what} ${file}: is ${kind(st)}, not a regular file.`);
    if (st.size > spec.max)
      throw new TrimError(spec.code, `${spec.what} ${file}: is ${st.size} bytes, more than the ${spec.max} bytes such a file may have.`);
    const buf = Buffer.allocUnsafe(st.size + 1);
    let total = 0;
    for (;;) {
      const { bytesRead } = await h.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > st.size) throw new TrimError(spec.code, `${spec.what} ${file}: grew while it was read.`);
    }
    return buf.subarray(0, total);
  } finally {
    await h.close();
  }
}

/** Deepest nesting of arrays and objects in a JSON text (strings skipped), stopping past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 93 || c === 125) depth--;
  }
  return max;
}

/** JSON.parse with a depth limit; errors (spec.code) name the file. */
export function parseJson(text: string, where: string, code: TrimErrorCode, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth)
    throw new TrimError(code, `${where}: JSON nested more than ${maxDepth} levels deep; the file is damaged or not what it should be.`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TrimError(code, `${where}: not valid JSON (${(e as Error).message}).`);
  }
}

/** A regular JSON file of bounded size and depth, parsed. */
export function readJsonFile(file: string, spec: ReadSpec): unknown {
  return parseJson(readRegular(file, spec).toString('utf8'), file, spec.code);
}
