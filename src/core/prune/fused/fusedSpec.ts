/**
 * What a fused run is built from and what it is fed and returns (prune/fused/fusedGraph.ts): the spec of
 * one run of consecutive blocks, the names of its inputs and outputs, and the per-block feed that
 * tells sliding from full layers.
 */
import type { LayerMetric, RowMetric, ScoreKind } from '../../../contract';
import type { ModelConfig } from '../../model/config';
import type { InputGroup } from '../../model/familyLayout';
import type { StoredDtype } from '../../model/dtype';
import { layerVariation } from '../../ort/graphs/decoder';
import type { PackKind } from './packBits';

export interface FusedSpec {
  cfg: ModelConfig;
  seqlen: number;
  /** Windows per chunk (one Loop iteration) and chunks: windows = chunkWindows · chunks. */
  chunkWindows: number;
  chunks: number;
  /** Blocks pruned by one run (the trip count of the block Loop). */
  blocks: number;
  biases: Set<string>;
  /** Local names of the block's tensors, as fed (blockWeightNames). */
  weightNames: string[];
  /** Stored dtype of each block tensor, by local name. */
  dtypes: Map<string, StoredDtype>;
  /** Local names of the linears ('mlp.up_proj') with their input group and [out, in]. */
  linears: { name: string; group: InputGroup; rows: number; cols: number }[];
  /** The first run embeds token ids itself (dtype of the embedding table / OPT positions). */
  embed: { dtype: StoredDtype; positions: StoredDtype | null } | null;
  /** Emit the last block's outputs (the next run's inputs). */
  output: boolean;
  score: ScoreKind;
  trim: { iterations: number; forbidNegLr: boolean; layerMetric: LayerMetric; rowMetric: RowMetric } | null;
  /**
   * Block passes in float32, or in float16 as the authors run their model (norms and softmax in
   * float32; statistics, scores and the TRIM search in float32/float64 either way).
   */
  precision: 'float32' | 'float16';
  /** Attention in the block passes (decoder.ts ForwardOptions); 'gqa' needs float16 and CUDA. */
  attention: 'matmul' | 'gqa';
  /** Row ranks by a TopK per row ('row') or by two stable sorts of the whole matrix ('flat'); the same ranks. */
  ranks: 'row' | 'flat';
  /**
   * Return each linear's kept positions as bits (uint8 [blocks, rows, cols/8], bit j of byte i =
   * element 8i+j) instead of the pruned weight: the host already holds the weights, and at 7B the
   * pruned weights would be 14 GB through onnxruntime-node's slow device-to-host path (measured
   * on the H200: 1 GiB in 139 ms to the device, ~765 ms back). Needs cols divisible by 8.
   */
  masks: boolean;
  /** How keep bits are packed (packBitsOps). */
  pack: PackKind;
  /**
   * Where the weights come from: null, graph inputs (fed by the host on each run); else
   * initializers that ONNX Runtime reads from the checkpoint's files when the session is created
   * (ONNX external data), so that the host never holds them all.
   */
  external: {
    weight: (k: number, local: string) => ExternalRef;
    embed: ExternalRef | null;
    positions: ExternalRef | null;
  } | null;
}

/** A tensor's bytes in a file: its path relative to the session's external-data folder. */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
  shape: number[];
}

/** Input: float32 [blocks], 1 where the run's block is a sliding-window layer (where sliding and full layers mix: layerVariation). */
export const fusedLayers = 'layers.sliding';

/** The fusedLayers feed of the run [first, first + count), or null where the blocks compute alike. */
export function fusedLayerFeed(cfg: ModelConfig, seqlen: number, first: number, count: number): Float32Array | null {
  const types = cfg.features?.layerTypes;
  return types && layerVariation(cfg, seqlen)?.perBlock
    ? Float32Array.from(types.slice(first, first + count), (t) => (t === 'sliding' ? 1 : 0))
    : null;
}

/**
 * Input name of block k's (k-th of the run) weight, fed [1, ...shape]: one buffer per block and
 * tensor, so that the host can hand each to a worker thread afterwards; the graph concatenates them.
 */
export const fusedWeight = (local: string, k: number): string => `w.${local}.${k}`;
/** Output names, each stacked over the run's blocks. */
export const fusedOut = {
  weight: (linear: string): string => `${linear}.pruned`,
  zeros: (linear: string): string => `${linear}.zeros`,
  /** float64 [blocks, 5]: metric before, best metric, lr, iteration, metric after. */
  trim: (linear: string): string => `${linear}.trim`,
  /** uint8 [blocks, rows, cols/8]: kept positions as bits (masks mode). */
  keep: (linear: string): string => `${linear}.keep`,
  /** float32 [blocks, tensors]: count of non-finite values per block tensor, in weightNames order. */
  nonfinite: 'nonfinite',
  /** float32 [blocks]: count of non-finite values among the block's outputs and its linears' sums of squares of inputs. */
  actsFinite: 'acts.finite',
};
