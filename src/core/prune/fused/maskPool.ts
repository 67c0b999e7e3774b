/**
 * Zeroes pruned weights on the host from packed keep bits (prune/fused/fusedGraph.ts masks mode), on a pool
 * of worker threads. Each job's weight buffer is transferred to a worker and back (no copy), so a
 * run's weights, one buffer per block and tensor, spread over the cores.
 *
 * Bit j of mask byte i keeps element 8i+j; a cleared bit sets the element's bytes to zero (as the
 * device's Where(keep, W, 0) does: +0 in every dtype).
 */
import { Worker } from 'node:worker_threads';
import * as os from 'node:os';

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const HALF = Uint32Array.of(0, 0xffff, 0xffff0000, 0xffffffff);
parentPort.on('message', (m) => {
  const mask = new Uint8Array(m.mask);
  const n = mask.length;
  if (m.elem === 2) {
    const w = new Uint32Array(m.buf, 0, n * 4);
    for (let i = 0, b = 0; i < n; i++, b += 4) {
      const v = mask[i];
      if (v === 255) continue;
      w[b] &= HALF[v & 3]; w[b + 1] &= HALF[(v >> 2) & 3]; w[b + 2] &= HALF[(v >> 4) & 3]; w[b + 3] &= HALF[v >> 6];
    }
  } else {
    const w = new Int32Array(m.buf, 0, n * 8);
    for (let i = 0, b = 0; i < n; i++, b += 8) {
      const v = mask[i];
      if (v === 255) continue;
      w[b] &= -(v & 1); w[b + 1] &= -((v >> 1) & 1); w[b + 2] &= -((v >> 2) & 1); w[b + 3] &= -((v >> 3) & 1);
      w[b + 4] &= -((v >> 4) & 1); w[b + 5] &= -((v >> 5) & 1); w[b + 6] &= -((v >> 6) & 1); w[b + 7] &= -(v >> 7);
    }
  }
  parentPort.postMessage({ id: m.id, buf: m.buf }, [m.buf]);
});
`;

interface Job {
  id: number;
  buf: ArrayBuffer;
  mask: ArrayBuffer;
  elem: 2 | 4;
  resolve: (b: ArrayBuffer) => void;
  reject: (e: Error) => void;
}

export class MaskPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly running = new Map<number, Job>();
  private next = 0;
  private failed: Error | null = null;
  private closing = false;

  constructor(readonly size = Math.max(1, Math.min(16, os.availableParallelism()))) {}

  private spawn(): void {
    const w = new Worker(SOURCE, { eval: true });
    w.on('message', (m: { id: number; buf: ArrayBuffer }) => {
      const job = this.running.get(m.id)!;
      this.running.delete(m.id);
      job.resolve(m.buf);
      this.idle.push(w);
      this.pump();
    });
    w.on('error', (e) => this.fail(e));
    w.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`a mask worker exited (code ${code})`));
    });
    this.workers.push(w);
    this.idle.push(w);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const j of [...this.running.values(), ...this.queue]) j.reject(e);
    this.running.clear();
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const w = this.idle.pop()!;
      this.running.set(job.id, job);
      w.postMessage({ id: job.id, buf: job.buf, mask: job.mask, elem: job.elem }, [job.buf, job.mask]);
    }
  }

  /**
   * Zeroes the elements of `buf` (2- or 4-byte elements, 8 per mask byte) whose bit is clear.
   * `buf` is detached here and comes back, changed, as the promise's value.
   */
  apply(buf: ArrayBuffer, mask: Uint8Array, elem: 2 | 4): Promise<ArrayBuffer> {
    if (mask.length * 8 * elem !== buf.byteLength) throw new Error(`mask of ${mask.length} bytes for ${buf.byteLength} bytes of weights`);
    if (this.failed) return Promise.reject(this.failed);
    if (this.workers.length < this.size) this.spawn();
    // slice(): a view would take its whole underlying buffer along.
    const own = mask.slice().buffer;
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.next++, buf, mask: own, elem, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
