/**
 * The block-by-block path (N:M, input_recalc, TRIM_FUSED=0): per block, a statistics pass on the
 * execution provider, then per linear its scores, target (TRIM search on a small graph, or
 * uniform, or N:M) and mask on the host, then a propagation pass with the pruned weights.
 * Each pass is timed where it runs ('measured' phase times).
 */
import type { PhaseRuns, PhaseSource, PruneOptions, TrimEvent } from '../../contract';
import type { BlockPruner, BlockSink, RunResult, SearchFigures, SettledPhases } from './blockPruner';
import type { Checkpoint } from '../model/checkpoint';
import type { InputGroup } from '../model/familyLayout';
import { f32, type Engine } from '../ort/engine';
import { nonFiniteActivations } from './fused/fusedResult';
import { buildTrimEvalGraph } from './trimEval';
import { parseNM } from '../options';
import { firstNonFinite } from '../io/resume';
import type { Activations, Runner } from '../ort/runner';
import { maskFromRanks, nmMask, norm2, prunedCounts, rowRanks, scoreMatrix, uniformCounts } from './scores';
import { trimSearch } from './trimSearch';

export class HostBlocks implements BlockPruner {
  /**
   * `acts`: the first block's inputs (the embeddings, or a resumed run's checkpoint). `targets`:
   * per block.
   */
  constructor(
    private readonly ckpt: Checkpoint,
    private readonly engine: Engine,
    private readonly runner: Runner,
    private readonly o: PruneOptions,
    private readonly targets: number[],
    private acts: Activations,
    private readonly emit: (e: TrimEvent) => void,
    private readonly check: () => void,
  ) {}

  async run(b: number, sink: BlockSink): Promise<RunResult> {
    const { ckpt, runner, o } = this;
    const layers = ckpt.config.layers;
    const shapes = ckpt.linearShapes();
    const sec = { statistics: 0, trim: 0, prune: 0, propagate: 0 };
    const tBlock = performance.now();
    const target = this.targets[b];
    this.emit({ type: 'block_start', block: b, blocks: layers, target });
    const { f32: w, raw } = ckpt.readBlock(b, true);
    const s0 = performance.now();
    const stats = (await runner.runBlock(w, this.acts, { stats: true, propagate: false })).stats!;
    if ([...stats.sumsq.values()].some((s) => s.some((v) => !Number.isFinite(v)))) throw nonFiniteActivations(ckpt, b);
    const statSeconds = (performance.now() - s0) / 1000;
    sec.statistics += statSeconds;
    let group: InputGroup | null = null;
    let lastStats = stats;
    let delivered = 0;
    const p0 = performance.now();
    for (let i = 0; i < ckpt.layout.linears.length; i++) {
      this.check();
      const tLayer = performance.now();
      const name = ckpt.layout.linears[i];
      const g = ckpt.layout.linearInput[i];
      if (o.inputRecalc && o.trim && g !== group && group !== null) {
        // Refresh X with the earlier linears of this block already pruned (scores stay).
        const t = performance.now();
        lastStats = (await runner.runBlock(w, this.acts, { stats: true, propagate: false })).stats!;
        sec.statistics += (performance.now() - t) / 1000;
      }
      group = g;
      const [rows, cols] = shapes[i];
      const W = w.get(`${name}.weight`)!;
      const score = scoreMatrix(W, rows, cols, o.score, norm2(stats, g, o.nsamples));
      let mask: Uint8Array;
      let search: SearchFigures | null = null;
      if (o.nm) {
        const { n, m } = parseNM(o.nm);
        mask = nmMask(score, rows, cols, n, m);
      } else {
        const rank = rowRanks(score, rows, cols);
        if (o.trim) {
          const t = performance.now();
          const r = await this.search(W, rank, lastStats.last.get(g)!, rows, cols, target);
          search = r.figures;
          sec.trim += (performance.now() - t) / 1000;
          mask = maskFromRanks(rank, rows, cols, prunedCounts(r.s, cols));
        } else {
          mask = maskFromRanks(rank, rows, cols, uniformCounts(rows, cols, target));
        }
      }
      const bytes = raw.get(name)!.bytes;
      const zeros = applyMask(W, bytes, mask, rows, cols, raw.get(name)!.info.dtype);
      const tSink = performance.now();
      await sink.linear(b, { name, rows, cols, pruned: () => Promise.resolve(bytes), zeros, search, seconds: (tSink - tLayer) / 1000 });
      delivered += performance.now() - tSink;
    }
    // The sink wrote the pruned weights (the job's write phase).
    sec.prune += (performance.now() - p0 - delivered) / 1000;
    const q0 = performance.now();
    this.acts = (await runner.runBlock(w, this.acts, { stats: false, propagate: true })).out!;
    if (this.acts.some((a) => firstNonFinite(a) >= 0)) throw nonFiniteActivations(ckpt, b);
    const propSeconds = (performance.now() - q0) / 1000;
    sec.propagate += propSeconds;
    sink.block(
      b,
      { statistics: statSeconds, prune: (performance.now() - tBlock) / 1000 - statSeconds - propSeconds, propagate: propSeconds },
      true,
    );
    return { count: 1, next: b + 1 < layers ? this.acts : null, seconds: sec, throttle: false };
  }

  /** TRIM's search for one linear, its layer metric evaluated by a small graph on the execution provider. */
  private async search(
    W: Float32Array,
    rank: Float32Array,
    X: Float32Array,
    rows: number,
    cols: number,
    target: number,
  ): Promise<{ s: Float32Array; figures: SearchFigures }> {
    const o = this.o;
    const session = await this.engine.session(
      buildTrimEvalGraph({ W, rank, X, rows, cols, samples: X.length / cols }, o.layerMetric, o.rowMetric),
    );
    try {
      const evaluate = async (s: Float32Array) => {
        const r = await session.run({ s: f32(s, [rows]) });
        return { q: r.q.data as Float64Array, Q: Number((r.Q.data as Float64Array)[0]) };
      };
      const search = await trimSearch(target, rows, evaluate, { iterations: o.iterations, forbidNegLr: o.forbidNegLr });
      const after = (await evaluate(search.s)).Q;
      return { s: search.s, figures: { before: search.before, after, lr: search.lr, iteration: search.iteration } };
    } finally {
      await session.release();
    }
  }

  settled(): SettledPhases[] {
    return [];
  }

  phaseSource(): PhaseSource {
    return 'measured';
  }

  phaseRuns(): PhaseRuns | undefined {
    return undefined;
  }

  async release(): Promise<void> {
    this.acts = [];
  }
}

/**
 * Zeroes the masked weights in the float32 copy (for propagation) and in the stored bytes (for
 * the output: zero is all-zero bits in float16, bfloat16 and float32). Returns each row's
 * number of zeros.
 */
export function applyMask(W: Float32Array, bytes: Uint8Array, mask: Uint8Array, rows: number, cols: number, dtype: string): Float64Array {
  const width = dtype === 'F32' ? 4 : 2;
  const zeros = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const i = o + c;
      if (mask[i]) {
        W[i] = 0;
        bytes.fill(0, i * width, i * width + width);
      }
      if (W[i] === 0) z++;
    }
    zeros[r] = z;
  }
  return zeros;
}
