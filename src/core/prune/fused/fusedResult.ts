/**
 * What a run of the fused pruning graph gives back (fusedPruner.ts runs it): per block, per linear, the
 * pruned stored bytes (or how to make them from the keep bits), zeros per row and TRIM's search
 * figures, read out of the session's outputs once the device's non-finite counts are checked.
 */
import type * as ort from 'onnxruntime-node';
import type { Checkpoint } from '../../model/checkpoint';
import { checkFinite } from '../../model/checkpoint';
import { toFloat32, type StoredDtype } from '../../model/dtype';
import type { TensorInfo } from '../../model/safetensors';
import { readTensorBytes } from '../../model/safetensors';
import { readStored } from '../../model/storedRead';
import { TrimError } from '../../errors';
import { fusedOut, fusedWeight } from './fusedSpec';
import type { MaskPool } from './maskPool';

/**
 * A block whose outputs hold NaN or ±Inf (finite weights, so the configuration's numbers or
 * overflowing activations): the rest of the model would be pruned on garbage. Both paths throw it.
 */
export function nonFiniteActivations(ckpt: Checkpoint, block: number): TrimError {
  return new TrimError(
    'E_NONFINITE',
    `block ${block} of ${ckpt.dir} produced NaN or infinite activations from finite weights and inputs: config.json's numbers (rms_norm_eps, rope_theta, rope_scaling) do not fit these weights, or the activations overflow float32.`,
  );
}

/** A linear's TRIM search, as the graph reports it (trimSearchOps in trimSearch.ts: five numbers per block). */
export interface TrimFigures {
  /** Layer metric of the uniform start, of the best vector found, and of the vector applied (clamped and recentred). */
  before: number;
  best: number;
  after: number;
  /** Learning rate of the chosen vector (0: the uniform start was kept), and the iteration it was reached at. */
  lr: number;
  iteration: number;
}

function trimFigures(t: Float64Array, block: number): TrimFigures {
  const [before, best, lr, iteration, after] = t.subarray(block * 5, block * 5 + 5);
  return { before, best, lr, iteration, after };
}

export interface FusedRunResult {
  /**
   * Per block of the run: per linear, its pruned stored bytes, zeros per row, search figures.
   * `pruned()` resolves at once where the bytes are in memory already; with the weights in the
   * session it reads the stored tensor and zeroes it from the keep bits then (a few at a time).
   */
  blocks: {
    linears: { name: string; pruned: () => Promise<Uint8Array>; zeros: Float32Array; search: TrimFigures | null }[];
  }[];
  /** The next run's inputs (null after the last block). */
  h: Float32Array | null;
  /** session.run; reading the stored weights; building and creating the session (and releasing it, when it holds the weights). */
  seconds: number;
  readSeconds: number;
  sessionSeconds: number;
  /** Zeroing the pruned weights on the host from the run's keep bits (masks mode). */
  applySeconds: number;
  /** Bytes sent to and received from the run. */
  bytesIn: number;
  bytesOut: number;
  /** This run's number, for phasesOf(). */
  run: number;
}

/** What reading a run's outputs needs of the fused pruner (FusedPruner). */
export interface RunSource {
  ckpt: Checkpoint;
  weightNames: string[];
  /** Keep bits out of the graph (masks mode), and the weights held by the session rather than fed. */
  masks: boolean;
  external: boolean;
  /** Search figures out of the graph (--trim). */
  trim: boolean;
  info(block: number, local: string): TensorInfo;
  maskPool(): MaskPool;
}

/**
 * The blocks [first, first + count) of a run from its outputs `r` (and, weights fed, its `feeds`):
 * throws E_NONFINITE where the device counted a non-finite weight or activation.
 */
export async function runBlocks(
  src: RunSource,
  r: ort.InferenceSession.ReturnType,
  feeds: Record<string, ort.Tensor>,
  first: number,
  count: number,
  embed: boolean,
): Promise<{ blocks: FusedRunResult['blocks']; applySeconds: number }> {
  if (embed && (r['embed.nonfinite'].data as Float32Array)[0] > 0) {
    src.ckpt.readF32(src.ckpt.layout.embed); // throws E_NONFINITE, naming the first bad value
  }
  const bad = r[fusedOut.nonfinite].data as Float32Array;
  const nW = src.weightNames.length;
  // Masks mode, weights fed: every block's weights go to a worker with their keep bits and come
  // back pruned. Weights in the session: each is read and zeroed when pruned() asks for it.
  const tA = performance.now();
  const prunedBytes = new Map<string, Uint8Array>();
  if (src.masks && !src.external) {
    const pool = src.maskPool();
    await Promise.all(
      src.ckpt.layout.linears.flatMap((name) => {
        const keep = r[fusedOut.keep(name)].data as Uint8Array;
        const per = keep.length / count;
        return Array.from({ length: count }, async (_, k) => {
          const key = fusedWeight(`${name}.weight`, k);
          const t = feeds[key];
          const buf = await pool.apply(
            (t.data as Uint8Array).buffer as ArrayBuffer,
            keep.subarray(k * per, (k + 1) * per),
            t.type === 'float32' ? 4 : 2,
          );
          prunedBytes.set(key, new Uint8Array(buf));
        });
      }),
    );
  }
  const applySeconds = src.masks && !src.external ? (performance.now() - tA) / 1000 : 0;
  const blocks: FusedRunResult['blocks'] = [];
  const actsFinite = r[fusedOut.actsFinite].data as Float32Array;
  for (let k = 0; k < count; k++) {
    const i = bad.subarray(k * nW, (k + 1) * nW).findIndex((v) => v > 0);
    if (i >= 0) {
      // The device counted; the host names the first bad value (and throws E_NONFINITE).
      const t = src.info(first + k, src.weightNames[i]);
      checkFinite(toFloat32(readTensorBytes(t), t.dtype as StoredDtype), t, first + k);
      throw new TrimError('E_NONFINITE', `${t.file}: tensor "${t.name}" (block ${first + k}) holds NaN or infinite values.`);
    }
    if (actsFinite[k] !== 0) throw nonFiniteActivations(src.ckpt, first + k);
    blocks.push({
      linears: src.ckpt.layout.linears.map((name) => {
        const z = r[fusedOut.zeros(name)].data as Float32Array;
        const rows = z.length / count;
        let pruned: () => Promise<Uint8Array>;
        const bytes = prunedBytes.get(fusedWeight(`${name}.weight`, k));
        if (bytes) pruned = () => Promise.resolve(bytes);
        else if (src.masks) {
          const keep = r[fusedOut.keep(name)].data as Uint8Array;
          const per = keep.length / count;
          const t = src.info(first + k, `${name}.weight`);
          pruned = async () => {
            const [stored] = await readStored([t]);
            return new Uint8Array(
              await src.maskPool().apply(stored.buffer as ArrayBuffer, keep.subarray(k * per, (k + 1) * per), t.dtype === 'F32' ? 4 : 2),
            );
          };
        } else {
          const w = r[fusedOut.weight(name)].data as Float32Array | Uint16Array;
          const per = w.byteLength / count;
          const out = new Uint8Array(w.buffer, w.byteOffset + k * per, per);
          pruned = () => Promise.resolve(out);
        }
        return {
          name,
          pruned,
          zeros: z.subarray(k * rows, (k + 1) * rows),
          search: src.trim ? trimFigures(r[fusedOut.trim(name)].data as Float64Array, k) : null,
        };
      }),
    });
  }
  return { blocks, applySeconds };
}
