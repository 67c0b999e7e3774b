/**
 * Runs the fused pruning graph (prune/fused/fusedGraph.ts): runs of consecutive blocks, each one
 * `session.run` whose inputs are the run's stored weights and the activations (or, for the first
 * run, the token ids and the embedding table) and whose outputs are the pruned weights, per-row
 * zero counts, TRIM's search figures and the activations for the next run (read by
 * fusedResult.ts). Where the session holds the weights, ONNX Runtime reads them from the shards
 * itself (sessionWeights.ts).
 *
 * The plan sizes two things to the device's memory: windows per chunk (one Loop iteration's
 * temporaries) and blocks per run (each block's weights stay on the device for the whole run).
 */
import * as ort from 'onnxruntime-node';
import type { PruneOptions } from '../../../contract';
import type { Checkpoint } from '../../model/checkpoint';
import type { StoredDtype } from '../../model/dtype';
import type { Engine, Session } from '../../ort/engine';
import { TrimError } from '../../errors';
import { blockWeightNames } from '../../ort/graphs/decoder';
import { linearBiases } from '../../ort/runner';
import { buildFusedGraph } from './fusedGraph';
import { fusedLayerFeed, fusedLayers, fusedWeight, type FusedSpec } from './fusedSpec';
import type { TensorInfo } from '../../model/safetensors';
import { MaskPool } from './maskPool';
import { FusedPhases, type FusedRunPhases } from './fusedPhases';
import { type FusedKernels, type FusedPlan, fusedKernels } from './fusedPlan';
export { canFuse, fusedKernels, planFused, type FusedPlan } from './fusedPlan';
import { storedTensors } from '../../model/storedRead';
import { runBlocks, type FusedRunResult } from './fusedResult';
import { SessionWeights, sessionWeightsError } from './sessionWeights';

export class FusedPruner {
  private sessions = new Map<string, Session>();
  readonly weightNames: string[];
  readonly biases: Set<string>;
  private readonly dtypes = new Map<string, StoredDtype>();
  /** Attention, ranks, output and packing of the graph (fusedKernels; keep bits only where every row packs into bytes). */
  private readonly kernels: FusedKernels;
  private pool: MaskPool | null = null;
  private prefetched: { first: number; count: number; weights: Promise<ort.Tensor[]> } | null = null;
  /** Where ONNX Runtime reads the weights from when the session holds them (sessionWeights.ts). */
  private readonly held: SessionWeights | null = null;
  /** Phase times of the runs (fusedPhases.ts): which sessions are profiled, each run's split. */
  readonly phases: FusedPhases;

  constructor(
    readonly ckpt: Checkpoint,
    readonly engine: Engine,
    readonly seqlen: number,
    readonly plan: FusedPlan,
    readonly o: PruneOptions,
  ) {
    this.biases = linearBiases(ckpt);
    this.weightNames = blockWeightNames(ckpt.config, this.biases);
    for (const n of this.weightNames) this.dtypes.set(n, this.info(0, n).dtype as StoredDtype);
    const k = fusedKernels(engine.ep, o.precision === 'float16' ? 'float16' : 'float32');
    this.kernels = { ...k, masks: k.masks && ckpt.linearShapes().every(([, c]) => c % 8 === 0) };
    this.phases = new FusedPhases(engine.ep);
    if (this.kernels.weights === 'initializers') {
      // Unless the shards lie on several Windows drives, where the host feeds the weights instead.
      this.held = SessionWeights.open(ckpt);
      if (!this.held) this.kernels.weights = 'inputs';
    }
  }

  private get external(): boolean {
    return this.kernels.weights === 'initializers';
  }

  private key(first: number, blocks: number, embed: boolean, output: boolean): string {
    // A session that holds its weights serves one run of blocks; one fed them serves every run of the same size.
    return `${this.external ? first : 'any'}-${blocks}-${embed}-${output}`;
  }

  private info(block: number, local: string): TensorInfo {
    const t = this.ckpt.tensors.get(this.ckpt.blockName(block, local));
    if (!t) throw new TrimError('E_MISSING_TENSOR', `${this.ckpt.dir}: tensor "${this.ckpt.blockName(block, local)}" is missing.`);
    return t;
  }

  private async session(first: number, blocks: number, embed: boolean, output: boolean): Promise<Session> {
    const key = this.key(first, blocks, embed, output);
    let s = this.sessions.get(key);
    if (s) return s;
    const lay = this.ckpt.layout;
    const shapes = this.ckpt.linearShapes();
    const o = this.o;
    const spec: FusedSpec = {
      cfg: this.ckpt.config,
      seqlen: this.seqlen,
      chunkWindows: this.plan.chunkWindows,
      chunks: this.plan.chunks,
      blocks,
      biases: this.biases,
      weightNames: this.weightNames,
      dtypes: this.dtypes,
      linears: lay.linears.map((name, i) => ({ name, group: lay.linearInput[i], rows: shapes[i][0], cols: shapes[i][1] })),
      embed: embed
        ? {
            dtype: this.ckpt.tensors.get(lay.embed)!.dtype as StoredDtype,
            positions: lay.positions ? (this.ckpt.tensors.get(lay.positions)!.dtype as StoredDtype) : null,
          }
        : null,
      output,
      score: o.score,
      precision: o.precision === 'float16' ? 'float16' : 'float32',
      attention: this.kernels.attention,
      ranks: this.kernels.ranks,
      masks: this.kernels.masks,
      pack: this.kernels.pack,
      external: this.external
        ? {
            weight: (k, local) => this.held!.ref(this.info(first + k, local)),
            embed: embed ? this.held!.ref(this.ckpt.tensors.get(lay.embed)!) : null,
            positions: embed && lay.positions ? this.held!.ref(this.ckpt.tensors.get(lay.positions)!) : null,
          }
        : null,
      trim: o.trim ? { iterations: o.iterations, forbidNegLr: o.forbidNegLr, layerMetric: o.layerMetric, rowMetric: o.rowMetric } : null,
    };
    const model = buildFusedGraph(spec);
    const profile = this.phases.profile();
    try {
      s = await this.engine.session(model, this.external ? this.held!.root : undefined, profile?.prefix);
      if (profile) this.phases.track(s, profile);
    } catch (e) {
      profile?.dispose();
      if (!this.external) throw e;
      throw sessionWeightsError(e, this.ckpt.dir, blocks > 1 ? `blocks ${first}–${first + blocks - 1}` : `block ${first}`);
    }
    this.sessions.set(key, s);
    return s;
  }

  /**
   * Creates the session of the run [first, first + blocks) now (run() uses it); with the weights
   * in the session, this is when they are read and sent to the device.
   */
  async prepare(first: number, blocks: number, embed: boolean, output: boolean): Promise<void> {
    await this.session(first, blocks, embed, output);
  }

  /** Starts reading the weights of the run [first, first + count) now (run() picks them up); nothing to do when the session holds them. */
  prefetch(first: number, count: number): void {
    if (this.external) return;
    const weights = storedTensors(
      this.runNames(count).map(({ n, k }) => this.info(first + k, n)),
      true,
    );
    weights.catch(() => {}); // awaited, and reported, by run()
    this.prefetched = { first, count, weights };
  }

  private runNames(count: number): { n: string; k: number }[] {
    return this.weightNames.flatMap((n) => Array.from({ length: count }, (_, k) => ({ n, k })));
  }

  /**
   * Prunes blocks [first, first + count) in one run. `input` is either the previous run's
   * activations or, for block 0, the calibration token ids.
   */
  async run(
    first: number,
    count: number,
    targets: number[],
    input: { h: Float32Array } | { ids: Int32Array },
    output: boolean,
  ): Promise<FusedRunResult> {
    const cfg = this.ckpt.config;
    const embed = 'ids' in input;
    const tS = performance.now();
    const session = await this.session(first, count, embed, output);
    let sessionSeconds = (performance.now() - tS) / 1000;
    const tR = performance.now();
    const feeds: Record<string, ort.Tensor> = {};
    const names = this.runNames(count);
    const pre = this.prefetched;
    this.prefetched = null;
    if (!this.external) {
      const blockW = await (pre && pre.first === first && pre.count === count
        ? pre.weights
        : storedTensors(
            names.map(({ n, k }) => this.info(first + k, n)),
            true,
          ));
      names.forEach(({ n, k }, i) => (feeds[fusedWeight(n, k)] = blockW[i]));
    }
    if ('ids' in input) {
      feeds.ids = new ort.Tensor(
        'int64',
        BigInt64Array.from(input.ids, (v) => BigInt(v)),
        [input.ids.length],
      );
      const lay = this.ckpt.layout;
      if (!this.external) {
        const globals = await storedTensors(
          [this.ckpt.tensors.get(lay.embed)!, ...(lay.positions ? [this.ckpt.tensors.get(lay.positions)!] : [])],
          false,
        );
        feeds.embed = globals[0];
        if (lay.positions) feeds.positions = globals[1];
      }
    } else {
      feeds.h = new ort.Tensor('float32', input.h, [this.plan.chunks, this.plan.chunkWindows * this.seqlen, cfg.hidden]);
    }
    feeds.targets = new ort.Tensor('float64', Float64Array.from(targets.slice(first, first + count)), [count]);
    const layers = fusedLayerFeed(cfg, this.seqlen, first, count);
    if (layers) feeds[fusedLayers] = new ort.Tensor('float32', layers, [count]);
    const readSeconds = (performance.now() - tR) / 1000;
    const t0 = performance.now();
    let r: ort.InferenceSession.ReturnType;
    try {
      r = await session.run(feeds);
    } catch (e) {
      // Out of device memory mid-run: a typed error that says what to lower (no stack trace).
      const p = this.plan;
      throw this.engine.runError(
        e,
        count > 1 ? `the run of blocks ${first}–${first + count - 1}` : `the run of block ${first}`,
        `This run was sized for ${(p.budget / 2 ** 30).toFixed(1)} GiB (${p.blocksPerRun} block(s) per run, ${p.chunkWindows} windows per chunk): lower --gpu-memory, or --blocks-per-run and --batch, or free memory on the card (other processes).`,
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    const run = this.phases.ran(session, seconds, count);
    if (this.external) {
      // Its weights are on the device: free them before the next run's session reads its own.
      const tF = performance.now();
      this.sessions.delete(this.key(first, count, embed, output));
      await this.endSession(session);
      sessionSeconds += (performance.now() - tF) / 1000;
    }
    let bytesIn = 0;
    let bytesOut = 0;
    for (const t of Object.values(feeds)) bytesIn += (t.data as Uint8Array).byteLength;
    for (const t of Object.values(r)) bytesOut += (t.data as Uint8Array).byteLength;
    const { blocks, applySeconds } = await runBlocks(
      {
        ckpt: this.ckpt,
        weightNames: this.weightNames,
        masks: this.kernels.masks,
        external: this.external,
        trim: this.o.trim,
        info: (block, local) => this.info(block, local),
        maskPool: () => this.maskPool(),
      },
      r,
      feeds,
      first,
      count,
      embed,
    );
    return {
      blocks,
      h: output ? (r.hout.data as Float32Array) : null,
      seconds,
      readSeconds,
      sessionSeconds,
      applySeconds,
      bytesIn,
      bytesOut,
      run,
    };
  }

  /** Ends a session: its profile, if still running, is written, read and removed. */
  private async endSession(s: Session): Promise<void> {
    this.phases.end(s);
    await s.release();
  }

  /** Phase times of the run numbered `run` (FusedRunResult.run): FusedPhases.of(). */
  phasesOf(run: number): FusedRunPhases | null {
    return this.phases.of(run);
  }

  private maskPool(): MaskPool {
    return (this.pool ??= new MaskPool());
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await this.endSession(s);
    this.sessions.clear();
    this.phases.dispose();
    await this.pool?.close();
    this.pool = null;
  }
}
