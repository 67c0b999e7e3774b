/**
 * The pruning job's block loop (prune.ts) runs over one interface with two implementations:
 * fusedBlocks.ts (statistics, scores, TRIM search, masks and propagation of a run of blocks in
 * one device run) and hostBlocks.ts (block by block, each pass on its own: N:M, input_recalc,
 * TRIM_FUSED=0). Each reports every pruned linear in one shape, from which jobReport.ts makes the
 * report.
 */
import type { BlockReport, PhaseRuns, PhaseSeconds, PhaseSource } from '../../contract';
import type { PhaseSplit } from '../ort/phaseProfile';
import type { Activations } from '../ort/runner';

/** A linear's TRIM search: the layer metric before and after, and the chosen learning rate and iteration. */
export interface SearchFigures {
  before: number;
  after: number;
  lr: number;
  iteration: number;
}

/** One pruned linear of a block. */
export interface LinearResult {
  /** Its name in the block's layout ("self_attn.q_proj"). */
  name: string;
  rows: number;
  cols: number;
  /** Its pruned weight's stored bytes (made when asked, where the fused session held the weights). */
  pruned: () => Promise<Uint8Array>;
  /** Zeros per row. */
  zeros: ArrayLike<number>;
  search: SearchFigures | null;
  /** Seconds it took (fused: its run's time shared by the run's linears). */
  seconds: number;
}

/** Where a pruner delivers its results, in order: each linear of a block, then the block. */
export interface BlockSink {
  linear(block: number, l: LinearResult): Promise<void>;
  /** `last`: the last block of the run (its block_end waits for the run's checkpoint). */
  block(block: number, seconds: BlockReport['seconds'], last: boolean): void;
}

export interface RunResult {
  /** Blocks pruned by this run. */
  count: number;
  /** The next block's inputs (null after the last block), for the --resume checkpoint. */
  next: Activations | null;
  /** Seconds to add to the job's phases. */
  seconds: Partial<PhaseSeconds>;
  /** Large activations (> 256 MiB) are checkpointed at most once a minute. */
  throttle: boolean;
  /** A line for the log after the run's last block_end. */
  message?: string;
}

/** A block's phase times, known after its run (fused: once its profile has been read). */
export interface SettledPhases {
  block: number;
  seconds: PhaseSplit;
}

export interface BlockPruner {
  /** Prunes the run of blocks that starts at `first` (one block, or the fused plan's run), emitting block_start. */
  run(first: number, sink: BlockSink): Promise<RunResult>;
  /** Phase times that became known since the last call. */
  settled(): SettledPhases[];
  /** How the phase times were obtained, and (fused) the device runs. */
  phaseSource(): PhaseSource;
  phaseRuns(): PhaseRuns | undefined;
  release(): Promise<void>;
}
