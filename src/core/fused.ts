/**
 * Runs the fused pruning graph (graphs/fused.ts): runs of consecutive blocks, each one
 * `session.run` whose inputs are the run's stored weights and the activations (or, for the first
 * run, the token ids and the embedding table) and whose outputs are the pruned weights, per-row
 * zero counts, TRIM's search figures and the activations for the next run.
 *
 * The plan sizes two things to the device's memory: windows per chunk (one Loop iteration's
 * temporaries) and blocks per run (each block's weights stay on the device for the whole run).
 */
import * as ort from 'onnxruntime-node';
import type { PruneOptions } from '../contract';
import type { Checkpoint } from './checkpoint';
import { toFloat32, type StoredDtype } from './dtype';
import { checkFinite } from './checkpoint';
import type { Engine, Session } from './engine';
import { TrimError } from './errors';
import { blockWeightNames } from './graphs/decoder';
import { linearBiases } from './runner';
import { buildFusedGraph, fusedLayerFeed, fusedLayers, fusedOut, fusedWeight, type ExternalRef, type FusedSpec } from './graphs/fused';
import type { TensorInfo } from './safetensors';
import { readTensorBytes } from './safetensors';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MaskPool } from './maskPool';
import { phasesEnabled, SessionProfile, type RunPhases } from './phaseProfile';

/**
 * A block whose outputs hold NaN or ±Inf (finite weights, so the configuration's numbers or
 * overflowing activations): the rest of the model would be pruned on garbage. Both paths throw it.
 */
export function nonFiniteActivations(ckpt: Checkpoint, block: number): TrimError {
  return new TrimError('E_NONFINITE', `block ${block} of ${ckpt.dir} produced NaN or infinite activations from finite weights and inputs: config.json's numbers (rms_norm_eps, rope_theta, rope_scaling) do not fit these weights, or the activations overflow float32.`);
}

export interface FusedPlan {
  chunkWindows: number;
  chunks: number;
  blocksPerRun: number;
  /** Estimated device bytes of one run (what the plan was sized against). */
  estimate: number;
  budget: number;
}

/** Options the fused graph implements; the rest (N:M, input_recalc) take the block-by-block path. */
export function canFuse(o: PruneOptions): boolean {
  return !o.nm && !o.inputRecalc && process.env.TRIM_FUSED !== '0';
}

const GiB = 2 ** 30;

/**
 * Device bytes, roughly: activations three times (input, Loop output, Loop's concatenation),
 * per block its stored and float32 and pruned weights, the largest linear's sort temporaries,
 * and one chunk's block temporaries (materialised attention scores, the MLP's intermediates).
 */
export function planFused(ckpt: Checkpoint, seqlen: number, nsamples: number, budgetGiB: number, chunkWindows: number | null, blocksPerRun: number | null): FusedPlan {
  const c = ckpt.config;
  const shapes = ckpt.linearShapes();
  const blockParams = shapes.reduce((a, [r, k]) => a + r * k, 0);
  const maxLinear = Math.max(...shapes.map(([r, k]) => r * k));
  const stored = c.dtype === 'float32' ? 4 : 2;
  const act = nsamples * seqlen * c.hidden * 4;
  const perWindow = 4 * (3 * c.heads * seqlen * seqlen + 5 * seqlen * c.intermediate + 14 * seqlen * c.hidden);
  const perBlock = blockParams * (2 * stored + 8);
  const budget = budgetGiB * GiB;
  const divisors = Array.from({ length: nsamples }, (_, i) => i + 1).filter((d) => nsamples % d === 0);
  const B = chunkWindows !== null
    ? Math.max(...divisors.filter((d) => d <= chunkWindows))
    : Math.max(1, ...divisors.filter((d) => d <= 32 && d * perWindow <= 0.25 * budget));
  const fixed = 3 * act + 28 * maxLinear + B * perWindow;
  const K = blocksPerRun ?? Math.max(1, Math.min(c.layers, Math.floor((0.9 * budget - fixed) / perBlock)));
  return { chunkWindows: B, chunks: nsamples / B, blocksPerRun: K, estimate: fixed + K * perBlock, budget };
}

/**
 * Which attention and which ranking the graph uses. On CUDA: GroupQueryAttention in float16
 * (flash attention), and ranks from two whole-matrix sorts (ORT's CUDA TopK sorts row by row).
 * On the CPU the per-row TopK and the materialised attention. Keep bits are packed by split-sum:
 * H200, 7B gate_proj 18944×3584 (scripts/gpu/parts.ts --only pack): reduce-int 20.8 ms (ORT's
 * generic int32 reduction), reduce-float 1.9 ms, split-sum 1.0 ms. TRIM_ATTENTION / TRIM_RANKS /
 * TRIM_OUTPUT / TRIM_PACK override, for measurements.
 *
 * Weights: on CUDA, initializers that ORT reads from the checkpoint's files while the session is
 * created, one tensor at a time (H200, Qwen2.5-7B shape: 14.1 GB in 3.3 s, peak host memory
 * 1.7 GiB; scripts/gpu/probe-ext.ts), instead of inputs that the host must hold in full for the
 * whole run (18 GiB at 7B with every block in one run). On the CPU, inputs (one block per run).
 * TRIM_WEIGHTS=inputs|initializers overrides.
 */
export function fusedKernels(ep: 'cpu' | 'cuda', precision: 'float32' | 'float16'): FusedKernels {
  const att = process.env.TRIM_ATTENTION;
  const rk = process.env.TRIM_RANKS;
  const pk = process.env.TRIM_PACK;
  const attention = att === 'matmul' || att === 'gqa' ? att : ep === 'cuda' && precision === 'float16' ? 'gqa' : 'matmul';
  if (attention === 'gqa' && precision !== 'float16') throw new TrimError('E_OPTION', 'TRIM_ATTENTION=gqa needs --precision float16.');
  const out = process.env.TRIM_OUTPUT;
  const wt = process.env.TRIM_WEIGHTS;
  return {
    weights: wt === 'inputs' || wt === 'initializers' ? wt : ep === 'cuda' ? 'initializers' : 'inputs',
    attention,
    ranks: rk === 'row' || rk === 'flat' ? rk : ep === 'cuda' ? 'flat' : 'row',
    masks: out === 'masks' || out === 'weights' ? out === 'masks' : ep === 'cuda',
    pack: pk === 'reduce-int' || pk === 'reduce-float' || pk === 'split-sum' ? pk : 'split-sum',
  };
}

type FusedKernels = Pick<FusedSpec, 'attention' | 'ranks' | 'masks' | 'pack'> & {
  /** Weights fed by the host on every run, or initializers of a session per run read from the checkpoint. */
  weights: 'inputs' | 'initializers';
};

export interface FusedRunResult {
  /**
   * Per block of the run: per linear, its pruned stored bytes, zeros per row, search figures.
   * `pruned()` resolves at once where the bytes are in memory already; with the weights in the
   * session it reads the stored tensor and zeroes it from the keep bits then (a few at a time).
   */
  blocks: {
    linears: { name: string; pruned: () => Promise<Uint8Array>; zeros: Float32Array; trim: Float64Array | null }[];
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

export class FusedPruner {
  private sessions = new Map<string, Session>();
  readonly weightNames: string[];
  readonly biases: Set<string>;
  private readonly dtypes = new Map<string, StoredDtype>();
  /** Attention, ranks, output and packing of the graph (fusedKernels; keep bits only where every row packs into bytes). */
  private readonly kernels: FusedKernels;
  private pool: MaskPool | null = null;
  private prefetched: { first: number; count: number; weights: Promise<ort.Tensor[]> } | null = null;
  /** The filesystem root that external-data locations are relative to (weights in the session). */
  private root = '';
  private readonly realFiles = new Map<string, string>();
  /** Per-node profiles of the sessions (phase times), and which runs each session served, in order. */
  private readonly profiles = new Map<Session, { profile: SessionProfile; runs: number[] }>();
  private runCount = 0;
  /** Phase times of each run (by run() call), once its session's profile has been read. */
  private readonly phases: (RunPhases | null)[] = [];

  constructor(readonly ckpt: Checkpoint, readonly engine: Engine, readonly seqlen: number, readonly plan: FusedPlan, readonly o: PruneOptions) {
    this.biases = linearBiases(ckpt);
    this.weightNames = blockWeightNames(ckpt.config, this.biases);
    for (const n of this.weightNames) this.dtypes.set(n, this.info(0, n).dtype as StoredDtype);
    const k = fusedKernels(engine.ep, o.precision === 'float16' ? 'float16' : 'float32');
    this.kernels = { ...k, masks: k.masks && ckpt.linearShapes().every(([, c]) => c % 8 === 0) };
    if (this.kernels.weights === 'initializers') {
      // ORT resolves each location below one folder and refuses one that leaves it after
      // following links (a hub cache's shards link into its blobs folder): the root holds all,
      // unless the shards lie on several Windows drives, where the host feeds the weights instead.
      const roots = new Set(ckpt.shardFiles.map((f) => path.parse(this.real(path.join(ckpt.dir, f))).root));
      if (roots.size === 1) this.root = [...roots][0];
      else this.kernels.weights = 'inputs';
    }
  }

  private real(file: string): string {
    let r = this.realFiles.get(file);
    if (r === undefined) this.realFiles.set(file, (r = fs.realpathSync(file)));
    return r;
  }

  private ref(t: TensorInfo): ExternalRef {
    return { location: path.relative(this.root, this.real(t.file)), offset: t.offset, length: t.byteLength, shape: t.shape };
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
      cfg: this.ckpt.config, seqlen: this.seqlen, chunkWindows: this.plan.chunkWindows, chunks: this.plan.chunks, blocks,
      biases: this.biases, weightNames: this.weightNames, dtypes: this.dtypes,
      linears: lay.linears.map((name, i) => ({ name, group: lay.linearInput[i], rows: shapes[i][0], cols: shapes[i][1] })),
      embed: embed ? {
        dtype: this.ckpt.tensors.get(lay.embed)!.dtype as StoredDtype,
        positions: lay.positions ? this.ckpt.tensors.get(lay.positions)!.dtype as StoredDtype : null,
      } : null,
      output, score: o.score, precision: o.precision === 'float16' ? 'float16' : 'float32',
      attention: this.kernels.attention, ranks: this.kernels.ranks, masks: this.kernels.masks, pack: this.kernels.pack,
      external: this.external ? {
        weight: (k, local) => this.ref(this.info(first + k, local)),
        embed: embed ? this.ref(this.ckpt.tensors.get(lay.embed)!) : null,
        positions: embed && lay.positions ? this.ref(this.ckpt.tensors.get(lay.positions)!) : null,
      } : null,
      trim: o.trim ? { iterations: o.iterations, forbidNegLr: o.forbidNegLr, layerMetric: o.layerMetric, rowMetric: o.rowMetric } : null,
    };
    const model = buildFusedGraph(spec);
    const profile = phasesEnabled() ? new SessionProfile() : null;
    try {
      s = await this.engine.session(model, this.external ? this.root : undefined, profile?.prefix);
      if (profile) this.profiles.set(s, { profile, runs: [] });
    } catch (e) {
      profile?.dispose();
      if (!this.external) throw e;
      const msg = String((e as Error).message ?? e).split('\n')[0].slice(0, 300);
      const which = blocks > 1 ? `blocks ${first}–${first + blocks - 1}` : `block ${first}`;
      if (/out of memory|failed to allocate/i.test(msg)) {
        throw new TrimError('E_EP', `The GPU has too little free memory for the weights of ${which} (${msg}). Lower --gpu-memory (or --blocks-per-run) to what the card has free.`);
      }
      if (/external|deserialize tensor/i.test(msg)) {
        // ORT read the weights itself: a file changed or cut short since its header was checked.
        throw new TrimError('E_SAFETENSORS', `${this.ckpt.dir}: the weights of ${which} could not be read (${msg}). Was the checkpoint changed while pruning? Check the files, or re-download them.`);
      }
      throw e;
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
    const weights = storedTensors(this.runNames(count).map(({ n, k }) => this.info(first + k, n)), true);
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
  async run(first: number, count: number, targets: number[], input: { h: Float32Array } | { ids: Int32Array }, output: boolean): Promise<FusedRunResult> {
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
      const blockW = await (pre && pre.first === first && pre.count === count ? pre.weights : storedTensors(names.map(({ n, k }) => this.info(first + k, n)), true));
      names.forEach(({ n, k }, i) => (feeds[fusedWeight(n, k)] = blockW[i]));
    }
    if ('ids' in input) {
      feeds.ids = new ort.Tensor('int64', BigInt64Array.from(input.ids, (v) => BigInt(v)), [input.ids.length]);
      const lay = this.ckpt.layout;
      if (!this.external) {
        const globals = await storedTensors([this.ckpt.tensors.get(lay.embed)!, ...(lay.positions ? [this.ckpt.tensors.get(lay.positions)!] : [])], false);
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
      throw this.engine.runError(e, count > 1 ? `the run of blocks ${first}–${first + count - 1}` : `the run of block ${first}`,
        `This run was sized for ${(p.budget / 2 ** 30).toFixed(1)} GiB (${p.blocksPerRun} block(s) per run, ${p.chunkWindows} windows per chunk): lower --gpu-memory, or --blocks-per-run and --batch, or free memory on the card (other processes).`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const run = this.runCount++;
    this.phases[run] = null;
    this.profiles.get(session)?.runs.push(run);
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
    if (embed && (r['embed.nonfinite'].data as Float32Array)[0] > 0) {
      this.ckpt.readF32(this.ckpt.layout.embed); // throws E_NONFINITE, naming the first bad value
    }
    const bad = r[fusedOut.nonfinite].data as Float32Array;
    const nW = this.weightNames.length;
    // Masks mode, weights fed: every block's weights go to a worker with their keep bits and come
    // back pruned. Weights in the session: each is read and zeroed when pruned() asks for it.
    const tA = performance.now();
    const prunedBytes = new Map<string, Uint8Array>();
    if (this.kernels.masks && !this.external) {
      const pool = this.maskPool();
      await Promise.all(this.ckpt.layout.linears.flatMap((name) => {
        const keep = r[fusedOut.keep(name)].data as Uint8Array;
        const per = keep.length / count;
        return Array.from({ length: count }, async (_, k) => {
          const key = fusedWeight(`${name}.weight`, k);
          const t = feeds[key];
          const buf = await pool.apply((t.data as Uint8Array).buffer as ArrayBuffer, keep.subarray(k * per, (k + 1) * per), t.type === 'float32' ? 4 : 2);
          prunedBytes.set(key, new Uint8Array(buf));
        });
      }));
    }
    const applySeconds = this.kernels.masks && !this.external ? (performance.now() - tA) / 1000 : 0;
    const blocks: FusedRunResult['blocks'] = [];
    const actsFinite = r[fusedOut.actsFinite].data as Float32Array;
    for (let k = 0; k < count; k++) {
      const i = bad.subarray(k * nW, (k + 1) * nW).findIndex((v) => v > 0);
      if (i >= 0) {
        // The device counted; the host names the first bad value (and throws E_NONFINITE).
        const t = this.info(first + k, this.weightNames[i]);
        checkFinite(toFloat32(readTensorBytes(t), t.dtype as StoredDtype), t, first + k);
        throw new TrimError('E_NONFINITE', `${t.file}: tensor "${t.name}" (block ${first + k}) holds NaN or infinite values.`);
      }
      if (actsFinite[k] !== 0) throw nonFiniteActivations(this.ckpt, first + k);
      blocks.push({
        linears: this.ckpt.layout.linears.map((name) => {
          const z = r[fusedOut.zeros(name)].data as Float32Array;
          const rows = z.length / count;
          let pruned: () => Promise<Uint8Array>;
          const bytes = prunedBytes.get(fusedWeight(`${name}.weight`, k));
          if (bytes) pruned = () => Promise.resolve(bytes);
          else if (this.kernels.masks) {
            const keep = r[fusedOut.keep(name)].data as Uint8Array;
            const per = keep.length / count;
            const t = this.info(first + k, `${name}.weight`);
            pruned = async () => {
              const [stored] = await readStored([t]);
              return new Uint8Array(await this.maskPool().apply(stored.buffer as ArrayBuffer, keep.subarray(k * per, (k + 1) * per), t.dtype === 'F32' ? 4 : 2));
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
            trim: this.o.trim ? (r[fusedOut.trim(name)].data as Float64Array).subarray(k * 5, k * 5 + 5) : null,
          };
        }),
      });
    }
    return { blocks, h: output ? (r.hout.data as Float32Array) : null, seconds, readSeconds, sessionSeconds, applySeconds, bytesIn, bytesOut, run };
  }

  /** Ends a session: its profile (when phases are timed) is written, read and removed. */
  private async endSession(s: Session): Promise<void> {
    const p = this.profiles.get(s);
    if (p || process.env.TRIM_ORT_PROFILE) s.endProfiling();
    await s.release();
    if (!p) return;
    this.profiles.delete(s);
    let runs: RunPhases[] = [];
    try {
      runs = p.profile.read();
    } catch {
      // Phase times are a report, not a result: an unreadable profile leaves the runs unattributed.
    }
    // One model_run per run() of this session, in order; anything else leaves them unattributed.
    if (runs.length === p.runs.length) p.runs.forEach((run, i) => (this.phases[run] = runs[i]));
  }

  /**
   * Phase times of the run numbered `run` (FusedRunResult.run): known when its session has ended
   * (at once where a session serves one run, else at release()); null when not timed.
   */
  phasesOf(run: number): RunPhases | null {
    return this.phases[run] ?? null;
  }

  private maskPool(): MaskPool {
    return (this.pool ??= new MaskPool());
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await this.endSession(s);
    this.sessions.clear();
    for (const p of this.profiles.values()) p.profile.dispose();
    this.profiles.clear();
    await this.pool?.close();
    this.pool = null;
  }
}

/**
 * Stored bytes of each tensor as an ORT tensor of the graph's input type (16-bit weights as
 * uint16 bits), shaped [1, ...shape] when `lead` (one block of a run).
 */
async function storedTensors(list: TensorInfo[], lead: boolean): Promise<ort.Tensor[]> {
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
async function readStored(list: TensorInfo[]): Promise<Uint8Array[]> {
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
        jobs.push((async () => {
          const fd = fdOf(t.file);
          let done = 0;
          while (done < len) {
            const n = await readAt(fd, buf, o + done, len - done, t.offset + o + done);
            if (n === 0) throw new TrimError('E_SAFETENSORS', `${t.file}: unexpected end of file while reading "${t.name}"; was the checkpoint changed while pruning?`);
            done += n;
          }
        })());
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
