/**
 * The fused path as the job's block pruner (blockPruner.ts): runs of blocks on the device through
 * FusedPruner (fusedPruner.ts), each run's linears delivered in order while the next block's pruned
 * weights are made, and each run's phase times settled once its profile is read.
 */
import type { PhaseRuns, PhaseSource, PruneOptions, TrimEvent } from '../../../contract';
import type { BlockPruner, BlockSink, RunResult, SettledPhases } from '../blockPruner';
import type { Checkpoint } from '../../model/checkpoint';
import type { Engine } from '../../ort/engine';
import { FusedPruner, type FusedPlan } from './fusedPruner';
import { collectGarbage } from '../../ort/gc';
import { concat, type Activations } from '../../ort/runner';
import { encodeFileOffThread } from '../../text/tokenizer';

export class FusedBlocks implements BlockPruner {
  readonly pruner: FusedPruner;
  private input: { h: Float32Array } | { ids: Int32Array } | null = null;
  private targets: number[] = [];
  /** Runs whose phase times are not known yet: their number, first block and count. */
  private readonly unsettled: { run: number; first: number; count: number }[] = [];
  private readonly sources = new Set<'profiled' | 'sampled'>();
  private runs = 0;

  constructor(
    private readonly ckpt: Checkpoint,
    engine: Engine,
    seqlen: number,
    private readonly plan: FusedPlan,
    o: PruneOptions,
    private readonly emit: (e: TrimEvent) => void,
  ) {
    this.pruner = new FusedPruner(ckpt, engine, seqlen, plan, o);
  }

  /**
   * Tokenizes the calibration text on a worker thread while the first run's weights are read (on
   * libuv's threads) and its session is built and created on this one (0.3-0.7 s at 7B; with the
   * weights in the session, their reading too: 2-3 s). `prepare` times the session's part; the
   * ids are awaited by the caller (a promise in an object, so that this does not wait for them).
   */
  async tokenizeWhilePreparing(
    model: string,
    calib: string,
    prepare: (f: () => Promise<void>) => Promise<void>,
  ): Promise<{ ids: Promise<Int32Array> }> {
    const layers = this.ckpt.config.layers;
    const count = Math.min(this.plan.blocksPerRun, layers);
    this.pruner.prefetch(0, count);
    const tokenized = encodeFileOffThread(model, calib, 'Calibration');
    tokenized.catch(() => {}); // awaited by the caller
    await prepare(() => this.pruner.prepare(0, count, true, count < layers));
    return { ids: tokenized };
  }

  /** The first run's inputs: the calibration windows, or a resumed run's activations; and the block targets. */
  start(windows: Int32Array, resumed: Activations | null, targets: number[]): void {
    this.input = resumed ? { h: concat(resumed) } : { ids: windows };
    this.targets = targets;
  }

  async run(b: number, sink: BlockSink): Promise<RunResult> {
    const layers = this.ckpt.config.layers;
    const input = this.input!;
    const count = Math.min(this.plan.blocksPerRun, layers - b);
    for (let k = 0; k < count; k++) this.emit({ type: 'block_start', block: b + k, blocks: layers, target: this.targets[b + k] });
    const last = b + count >= layers;
    // The previous run's inputs and the outputs' copies are garbage now: free them before
    // this run allocates as much again (V8 would collect them later; host memory, not time).
    if ('h' in input && input.h.byteLength >= 64 * 2 ** 20) collectGarbage();
    const r = await this.pruner.run(b, count, this.targets, input, !last);
    this.runs++;
    // Pruned weights, two blocks at a time: while one block's are written, the next block's
    // are made (read and zeroed, where the session held the weights).
    const start = (k: number): Promise<Uint8Array>[] =>
      r.blocks[k].linears.map((l) => {
        const p = l.pruned();
        p.catch(() => {}); // awaited by the sink, in order
        return p;
      });
    const shapes = this.ckpt.linearShapes();
    let ahead = start(0);
    for (let k = 0; k < count; k++) {
      const made = ahead;
      if (k + 1 < count) ahead = start(k + 1);
      const linears = r.blocks[k].linears;
      for (let i = 0; i < linears.length; i++) {
        const l = linears[i];
        const [rows, cols] = shapes[i];
        await sink.linear(b + k, {
          name: l.name,
          rows,
          cols,
          pruned: () => made[i],
          zeros: l.zeros,
          search: l.search,
          seconds: r.seconds / (count * linears.length),
        });
      }
      // One run does statistics, pruning and propagation together: its time, shared by its blocks
      // until its phases are settled.
      sink.block(b + k, { statistics: 0, prune: r.seconds / count, propagate: 0 }, k === count - 1);
    }
    this.unsettled.push({ run: r.run, first: b, count });
    if (r.h) this.input = { h: r.h };
    const gb = (n: number): string => (n / 1e9).toFixed(2);
    return {
      count,
      next: r.h ? [r.h] : null,
      seconds: { load: r.readSeconds, prune: r.seconds + r.sessionSeconds + r.applySeconds, device: r.seconds },
      throttle: true,
      message: `Blocks ${b}–${b + count - 1}: weights read in ${r.readSeconds.toFixed(2)} s, session ${r.sessionSeconds.toFixed(2)} s, device run ${r.seconds.toFixed(2)} s (${gb(r.bytesIn)} GB in, ${gb(r.bytesOut)} GB out)${r.applySeconds > 0 ? `, pruned weights zeroed from the device's keep bits in ${r.applySeconds.toFixed(2)} s` : ''}.`,
    };
  }

  /**
   * Phase times of the runs whose profile has been read since the last call: at once for a
   * session's runs after its second, else when the session ends (at release() for one that
   * serves several runs).
   */
  settled(): SettledPhases[] {
    const out: SettledPhases[] = [];
    for (let i = 0; i < this.unsettled.length;) {
      const u = this.unsettled[i];
      const ph = this.pruner.phasesOf(u.run);
      if (!ph || ph.blocks.length !== u.count) {
        i++;
        continue;
      }
      this.unsettled.splice(i, 1);
      this.sources.add(ph.source);
      ph.blocks.forEach((seconds, k) => out.push({ block: u.first + k, seconds }));
    }
    return out;
  }

  phaseSource(): PhaseSource {
    return this.sources.size === 0 ? 'unsplit' : this.sources.has('sampled') || this.unsettled.length ? 'sampled' : 'profiled';
  }

  phaseRuns(): PhaseRuns {
    return { runs: this.runs, profiled: this.pruner.phases.profiledRuns(), unsplit: this.unsettled.length };
  }

  async release(): Promise<void> {
    this.input = null;
    await this.pruner.release();
  }
}
