/**
 * Reading stored tensors for the fused path: their bytes as read from the checkpoint's files, in
 * parallel pieces, each tensor in a buffer of its own, and as ORT tensors of the graph's types.
 */
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { TrimError } from '../errors';
import type { TensorInfo } from './safetensors';

/**
 * Stored bytes of each tensor as an ORT tensor of the graph's input type (16-bit weights as
 * uint16 bits), shaped [1, ...shape] when `lead` (one block of a run).
 */
export async function storedTensors(list: TensorInfo[], lead: boolean): Promise<ort.Tensor[]> {
  const bufs = await readStored(list);
  return list.map((t, i) => {
    const dims = lead ? [1, ...t.shape] : t.shape;
    const b = bufs[i].buffer as ArrayBuffer;
    return t.dtype === 'F32' ? new ort.Tensor('float32', new Float32Array(b), dims) : new ort.Tensor('uint16', new Uint16Array(b), dims);
  });
}

/**
 * Stored bytes of each tensor, each in its own buffer (so that it can be handed to a worker
 * later). Reads go out in 32 MiB pieces, all at once, so that the libuv threads copy from the
 * page cache in parallel (one thread reads about 1.2 GB/s here).
 */
export async function readStored(list: TensorInfo[]): Promise<Uint8Array[]> {
  const PIECE = 32 * 2 ** 20;
  const jobs: Promise<void>[] = [];
  // Files are opened and every piece's first read is issued before this function first awaits,
  // so the reads proceed on libuv's threads even while the main thread is busy (tokenizing).
  const fds = new Map<string, number>();
  const fdOf = (file: string): number => {
    let fd = fds.get(file);
    if (fd === undefined) fds.set(file, (fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))));
    return fd;
  };
  const readAt = (fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> =>
    new Promise((resolve, reject) => fs.read(fd, buf, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
  try {
    const out = list.map((t) => {
      const buf = new Uint8Array(new ArrayBuffer(t.byteLength));
      for (let o = 0; o < t.byteLength; o += PIECE) {
        const len = Math.min(PIECE, t.byteLength - o);
        jobs.push(
          (async () => {
            const fd = fdOf(t.file);
            let done = 0;
            while (done < len) {
              const n = await readAt(fd, buf, o + done, len - done, t.offset + o + done);
              if (n === 0)
                throw new TrimError(
                  'E_SAFETENSORS',
                  `${t.file}: unexpected end of file while reading "${t.name}"; was the checkpoint changed while pruning?`,
                );
              done += n;
            }
          })(),
        );
      }
      return buf;
    });
    const failed = (await Promise.allSettled(jobs)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return out;
  } finally {
    // Every issued read ends before the files close, also when an allocation above threw.
    await Promise.allSettled(jobs);
    for (const fd of fds.values()) fs.closeSync(fd);
  }
}
