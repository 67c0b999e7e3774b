/**
 * What identifies a run's sources, for the dense-perplexity cache and the resume fingerprint:
 * everything that determines the result.
 *
 * - Small files (config.json, tokenizer files, the shard index, the texts): the SHA-256 of their
 *   content. Editing `rms_norm_eps` changes the key even when the size and time do not.
 * - Shards (gigabytes): size, modification time and the SHA-256 of the header (every tensor's
 *   name, dtype, shape and offsets) and of 64 pieces of 64 KiB spread evenly over the data
 *   (plus the last piece); a shard of at most 64 MiB is hashed whole. Reading 4 MiB per shard
 *   costs milliseconds where a full hash of a 7B checkpoint costs tens of seconds on every run
 *   (`scripts/bench-source-key.ts` prints both; BENCHMARKS.md has the figures).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from './checkpoint';
import { readRegular, READ_LIMITS } from './safeRead';

const KiB = 1024;
const PIECE = 64 * KiB;
const PIECES = 64;
const WHOLE = 64 * 2 ** 20;

/** SHA-256 of a small file's content, or `missing` when it does not exist. */
export function contentDigest(file: string, max: number = READ_LIMITS.text): string {
  if (!fs.existsSync(file)) return 'missing';
  return `sha256:${createHash('sha256')
    .update(readRegular(file, { what: 'source file', code: 'E_IO', max }))
    .digest('hex')}`;
}

/** A shard's identity: size, mtime, and a hash of its header and of sampled pieces of its data. */
export function shardStamp(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    return 'missing';
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return 'not a file';
    const h = createHash('sha256');
    const read = (pos: number, len: number): void => {
      const buf = Buffer.allocUnsafe(len);
      let done = 0;
      while (done < len) {
        const n = fs.readSync(fd, buf, done, len - done, pos + done);
        if (n === 0) break;
        done += n;
      }
      h.update(buf.subarray(0, done));
    };
    const size = st.size;
    if (size <= WHOLE) {
      for (let pos = 0; pos < size; pos += 16 * 2 ** 20) read(pos, Math.min(16 * 2 ** 20, size - pos));
      return `${size}:${st.mtimeMs}:${h.digest('hex')}`;
    }
    // The header (its length first; bounded like the reader bounds it).
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const headerEnd = Math.min(size, 8 + Math.min(Number(lenBuf.readBigUInt64LE(0)), 100 * 2 ** 20));
    read(0, headerEnd);
    const span = size - headerEnd - PIECE;
    for (let i = 0; i < PIECES; i++) read(headerEnd + Math.floor((span * i) / (PIECES - 1)), PIECE);
    return `${size}:${st.mtimeMs}:${h.digest('hex')}`;
  } finally {
    fs.closeSync(fd);
  }
}

/** Identity of every file of a checkpoint that decides a result, by name. */
export function checkpointStamps(ckpt: Checkpoint): Record<string, string> {
  const out: Record<string, string> = {};
  out['config.json'] = contentDigest(path.join(ckpt.dir, 'config.json'), READ_LIMITS.config);
  out['tokenizer.json'] = contentDigest(path.join(ckpt.dir, 'tokenizer.json'), READ_LIMITS.tokenizer);
  out['tokenizer_config.json'] = contentDigest(path.join(ckpt.dir, 'tokenizer_config.json'), READ_LIMITS.tokenizerConfig);
  if (ckpt.indexFile) out[ckpt.indexFile] = contentDigest(path.join(ckpt.dir, ckpt.indexFile), READ_LIMITS.index);
  for (const f of ckpt.shardFiles) out[f] = shardStamp(path.join(ckpt.dir, f));
  return out;
}
