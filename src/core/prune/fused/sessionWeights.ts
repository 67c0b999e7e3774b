/**
 * The weights a fused session holds (fusedKernels' `weights: 'initializers'`): ONNX Runtime reads
 * them itself from the checkpoint's shards, as external data at locations relative to one root
 * folder; and what a session that failed to read them was short of, as a typed error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from '../../model/checkpoint';
import type { TensorInfo } from '../../model/safetensors';
import { TrimError } from '../../errors';
import type { ExternalRef } from './fusedSpec';

export class SessionWeights {
  private readonly realFiles = new Map<string, string>();
  /** The filesystem root that external-data locations are relative to. */
  root = '';

  /**
   * ORT resolves each location below one folder and refuses one that leaves it after following
   * links (a hub cache's shards link into its blobs folder): the root holds all. Null where the
   * shards lie on several Windows drives.
   */
  static open(ckpt: Checkpoint): SessionWeights | null {
    const w = new SessionWeights();
    const roots = new Set(ckpt.shardFiles.map((f) => path.parse(w.real(path.join(ckpt.dir, f))).root));
    if (roots.size !== 1) return null;
    w.root = [...roots][0];
    return w;
  }

  private real(file: string): string {
    let r = this.realFiles.get(file);
    if (r === undefined) this.realFiles.set(file, (r = fs.realpathSync(file)));
    return r;
  }

  ref(t: TensorInfo): ExternalRef {
    return { location: path.relative(this.root, this.real(t.file)), offset: t.offset, length: t.byteLength, shape: t.shape };
  }
}

/**
 * The error to throw when creating the session of `which` blocks, with their weights in it, failed
 * (`e`): too little device memory, or weights that could not be read; else `e` itself.
 */
export function sessionWeightsError(e: unknown, dir: string, which: string): unknown {
  const msg = String((e as Error).message ?? e)
    .split('\n')[0]
    .slice(0, 300);
  if (/out of memory|failed to allocate/i.test(msg)) {
    return new TrimError(
      'E_EP',
      `The GPU has too little free memory for the weights of ${which} (${msg}). Lower --gpu-memory (or --blocks-per-run) to what the card has free.`,
    );
  }
  if (/external|deserialize tensor/i.test(msg)) {
    // ORT read the weights itself: a file changed or cut short since its header was checked.
    return new TrimError(
      'E_SAFETENSORS',
      `${dir}: the weights of ${which} could not be read (${msg}). Was the checkpoint changed while pruning? Check the files, or re-download them.`,
    );
  }
  return e;
}
