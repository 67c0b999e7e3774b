/**
 * The pruning job's block loop: a block pruner (blockPruner.ts) runs over the blocks, one run at a
 * time; each linear it delivers is written into the partial output and reported, each block
 * reported, each run followed by a --resume checkpoint; the runs' phase times are settled as they
 * become known.
 */
import type { BlockReport, EvalResult, LayerReport, PhaseSeconds, TrimEvent } from '../../contract';
import type { Allocation } from './allocation';
import type { BlockPruner, BlockSink } from './blockPruner';
import type { Checkpoint } from '../model/checkpoint';
import { blockReport, layerReport, type JobResult } from './jobReport';
import type { JobSetup } from './jobSetup';
import type { OutputWriter } from '../io/output';
import type { ResumeStore } from '../io/resume';
import { RESUME_FORMAT, type Resumed, type ResumeState } from '../io/resumeFormat';
import type { Activations } from '../ort/runner';

/**
 * The job's state as blocks are pruned: the block reports (a resumed run's first), zeros and
 * weights counted, the phase times, and the --resume checkpoint after each run.
 */
export class Progress {
  readonly blocks: BlockReport[];
  private zeros: number;
  private weights: number;
  private pruner: BlockPruner | null = null;

  constructor(
    private readonly ckpt: Checkpoint,
    private readonly alloc: Allocation,
    resumed: Resumed | null,
    private readonly writer: OutputWriter,
    private readonly store: ResumeStore,
    private readonly key: ResumeState['fingerprint'],
    private readonly dense: EvalResult | null,
    private readonly sec: PhaseSeconds,
    private readonly elapsed: () => number,
    private readonly emit: (e: TrimEvent) => void,
  ) {
    this.blocks = resumed ? resumed.blocks : [];
    this.zeros = resumed ? resumed.state.zeros : 0;
    this.weights = resumed ? resumed.state.weights : 0;
    for (const report of this.blocks) emit({ type: 'block_end', block: report.index, blocks: ckpt.config.layers, report });
    if (!resumed) this.checkpoint(0, null, null);
  }

  /** A checkpoint for --resume: the blocks before `nextBlock` are written, `next` are its inputs. */
  private checkpoint(nextBlock: number, report: BlockReport | readonly BlockReport[] | null, next: Activations | null): void {
    const { targets, ratios, alphas } = this.alloc;
    const state: ResumeState = {
      format: RESUME_FORMAT,
      fingerprint: this.key,
      nextBlock,
      targets,
      ratios,
      alphas,
      dense: this.dense,
      zeros: this.zeros,
      weights: this.weights,
      seconds: { ...this.sec, total: this.elapsed() },
      acts: null,
    };
    this.store.save(state, report, next);
  }

  /** Prunes blocks [start, layers) through `pruner`, one run at a time, and releases it. */
  async pruneBlocks(
    pruner: BlockPruner,
    start: number,
    check: () => void,
    timed: <T>(phase: keyof PhaseSeconds, f: () => Promise<T> | T) => Promise<T>,
  ): Promise<void> {
    const { ckpt, alloc, sec, emit } = this;
    const layers = ckpt.config.layers;
    this.pruner = pruner;
    let layerReports: LayerReport[] = [];
    const sink: BlockSink = {
      linear: async (blk, l) => {
        const bytes = await timed('prune', () => l.pruned());
        const info = ckpt.tensors.get(ckpt.blockName(blk, `${l.name}.weight`))!;
        await timed('write', () => this.writer.writeTensor(info, bytes));
        const { layer, zeros } = layerReport(l, alloc.targets[blk], alloc.alphas ? alloc.alphas[blk][layerReports.length] : null);
        this.zeros += zeros;
        this.weights += l.rows * l.cols;
        layerReports.push(layer);
        emit({ type: 'layer', block: blk, layer });
      },
      block: (blk, seconds, last) => {
        const report = blockReport(blk, alloc.targets[blk], layerReports, seconds, alloc.ratios, alloc.alphas);
        layerReports = [];
        this.blocks.push(report);
        if (!last) emit({ type: 'block_end', block: blk, blocks: layers, report });
      },
    };
    let lastSave = performance.now();
    try {
      for (let b = start; b < layers;) {
        check();
        const r = await pruner.run(b, sink);
        for (const [k, v] of Object.entries(r.seconds) as [keyof PhaseSeconds, number][]) sec[k] = (sec[k] ?? 0) + v;
        this.settle();
        b += r.count;
        // The run's pruned weights reach the disk before the checkpoint that says they are there;
        // large activations (fused) are saved at most once a minute.
        const actBytes = r.next ? r.next.reduce((a, x) => a + x.byteLength, 0) : 0;
        await timed('write', () => {
          this.writer.sync();
          if (!r.throttle || actBytes <= 256 * 2 ** 20 || performance.now() - lastSave > 60_000 || !r.next) {
            // Fused: every block of the run (and of runs whose checkpoint was skipped), not only the last.
            this.checkpoint(b, r.throttle ? this.blocks : this.blocks[this.blocks.length - 1], r.next);
            lastSave = performance.now();
          }
        });
        emit({ type: 'block_end', block: b - 1, blocks: layers, report: this.blocks[this.blocks.length - 1] });
        if (r.message) emit({ type: 'log', level: 'info', message: r.message });
      }
    } finally {
      await pruner.release();
    }
    this.settle();
  }

  /** Phase times that became known (fused runs, split by their profiles) replace the runs' unsplit time. */
  private settle(): void {
    for (const { block, seconds: p } of this.pruner?.settled() ?? []) {
      this.sec.statistics += p.statistics;
      this.sec.propagate += p.propagate;
      this.sec.trim += p.trim;
      this.sec.prune -= p.statistics + p.propagate;
      this.blocks[block].seconds = { statistics: p.statistics, prune: p.prune, propagate: p.propagate };
    }
  }

  result(setup: JobSetup, pruned: EvalResult | null, baseline: JobResult['baseline']): JobResult {
    const { engine, summary, ro, seqlen, batch, precision } = setup;
    return {
      ep: engine.ep,
      device: engine.why,
      model: summary,
      options: { ...ro, seqlen, batch },
      precision,
      zeros: this.zeros,
      weights: this.weights,
      dense: this.dense,
      pruned,
      blocks: this.blocks,
      seconds: this.sec,
      phaseSource: this.pruner?.phaseSource() ?? (setup.fusedPlan ? 'unsplit' : 'measured'),
      phaseRuns: this.pruner?.phaseRuns(),
      out: this.writer.out,
      baseline,
    };
  }
}
