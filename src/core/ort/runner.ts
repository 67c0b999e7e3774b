/**
 * Runs the model's pieces on ONNX Runtime, block-major: the activations of every window stay in
 * host memory between blocks, and only one block's weights are read at a time.
 */
import * as ort from 'onnxruntime-node';
import type { Checkpoint } from '../model/checkpoint';
import { INPUT_GROUPS, LAYER_SLIDING, positionTableRows, type InputGroup } from '../model/familyLayout';
import type { Engine, Session } from './engine';
import { f32, i64 } from './engine';
import { blockWeightNames, layerVariation } from './graphs/decoder';
import { buildBlockGraph, buildEmbedGraph, buildHeadGraph } from './graphs/pieceGraphs';

export interface BlockStats {
  /** Sum over tokens of x[c]^2, per input group. */
  sumsq: Map<InputGroup, Float64Array>;
  /** Last-token input vectors, [windows, channels] row-major, per input group. */
  last: Map<InputGroup, Float32Array>;
}

/** Weights of the head: final norm and LM head (the embeddings when tied). */
export interface HeadWeights {
  normWeight: Float32Array;
  normBias: Float32Array | null;
  lmHead: Float32Array;
}

/** Reads the head's weights, reusing an already read embedding table when the LM head is tied to it. */
export function readHeadWeights(ckpt: Checkpoint, embed?: Float32Array): HeadWeights {
  const lay = ckpt.layout;
  const tied = ckpt.lmHeadName() === lay.embed;
  return {
    normWeight: ckpt.readF32(lay.finalNormWeight),
    normBias: lay.finalNormBias ? ckpt.readF32(lay.finalNormBias) : null,
    lmHead: tied && embed ? embed : ckpt.readF32(ckpt.lmHeadName()),
  };
}

/** Local names of the linear biases a block has (e.g. 'self_attn.q_proj.bias'), by the family's linear names. */
export function linearBiases(ckpt: Checkpoint): Set<string> {
  return new Set(ckpt.layout.linears.map((l) => `${l}.bias`).filter((n) => ckpt.tensors.has(ckpt.blockName(0, n))));
}

/** Activations of all windows: one Float32Array [windows·seqlen, hidden] per batch. */
export type Activations = Float32Array[];

export class Runner {
  private blockSessions = new Map<string, Session>();
  private embedSession: Session | null = null;
  private headSessions = new Map<boolean, Session>();
  readonly biases: Set<string>;
  readonly weightNames: string[];

  constructor(
    readonly ckpt: Checkpoint,
    readonly engine: Engine,
    readonly seqlen: number,
    readonly batch: number,
  ) {
    this.biases = linearBiases(ckpt);
    this.weightNames = blockWeightNames(ckpt.config, this.biases);
  }

  /** Windows per batch sized so one block run stays within `budgetBytes` of temporaries. */
  static autoBatch(ckpt: Checkpoint, seqlen: number, budgetBytes = 384 * 2 ** 20): number {
    const c = ckpt.config;
    const perWindow = 4 * (2 * c.heads * seqlen * seqlen + 4 * seqlen * c.intermediate + 12 * seqlen * c.hidden);
    return Math.max(1, Math.min(32, Math.floor(budgetBytes / perWindow)));
  }

  private async blockSession(stats: boolean, output: boolean): Promise<Session> {
    const key = `${stats}-${output}`;
    let s = this.blockSessions.get(key);
    if (!s) {
      s = await this.engine.session(buildBlockGraph(this.ckpt.config, { seqlen: this.seqlen, stats, output, biases: this.biases }));
      this.blockSessions.set(key, s);
    }
    return s;
  }

  /** Embeds windows of token ids ([windows·seqlen]) batch by batch. */
  async embed(ids: Int32Array, embedTable: Float32Array, positions: Float32Array | null): Promise<Activations> {
    const c = this.ckpt.config;
    if (!this.embedSession) this.embedSession = await this.engine.session(buildEmbedGraph(c, this.seqlen));
    const per = this.batch * this.seqlen;
    const out: Activations = [];
    const E = f32(embedTable, [c.vocab, c.hidden]);
    const P = positions ? f32(positions, [positionTableRows(c), c.hidden]) : null;
    for (let start = 0; start < ids.length; start += per) {
      const slice = ids.subarray(start, Math.min(ids.length, start + per));
      const feeds: Record<string, ort.Tensor> = {
        ids: i64(
          BigInt64Array.from(slice, (v) => BigInt(v)),
          [slice.length],
        ),
        embed: E,
      };
      if (P) feeds.positions = P;
      const r = await this.embedSession.run(feeds);
      out.push(r.h.data as Float32Array);
    }
    return out;
  }

  private weightFeeds(weights: Map<string, Float32Array>): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.weightNames) {
      const data = weights.get(name);
      if (!data) throw new Error(`block weight ${name} not loaded`);
      feeds[name] = f32(data, this.dimsOf(name, data.length));
    }
    if (layerVariation(this.ckpt.config, this.seqlen)?.perBlock) {
      const sliding = weights.get(LAYER_SLIDING);
      if (!sliding) throw new Error(`block weights lack ${LAYER_SLIDING} (read them with Checkpoint.readBlock)`);
      feeds[LAYER_SLIDING] = f32(sliding, []);
    }
    return feeds;
  }

  private dimsOf(name: string, n: number): number[] {
    const t = this.ckpt.tensors.get(this.ckpt.blockName(0, name))!;
    if (t.shape.reduce((a, b) => a * b, 1) !== n) throw new Error(`size mismatch for ${name}`);
    return t.shape;
  }

  /**
   * Runs one block over every batch. With `stats`, accumulates Wanda sums of squares and the
   * last-token inputs; with `propagate`, returns the block outputs (the next block's inputs).
   */
  async runBlock(
    weights: Map<string, Float32Array>,
    acts: Activations,
    opts: { stats: boolean; propagate: boolean },
    onBatch?: (i: number) => void,
  ): Promise<{ out: Activations | null; stats: BlockStats | null }> {
    const session = await this.blockSession(opts.stats, opts.propagate);
    const wf = this.weightFeeds(weights);
    const H = this.ckpt.config.hidden;
    const out: Activations | null = opts.propagate ? [] : null;
    let stats: BlockStats | null = null;
    const lastParts = new Map<InputGroup, Float32Array[]>();
    for (let b = 0; b < acts.length; b++) {
      const x = acts[b];
      let r: Awaited<ReturnType<typeof session.run>>;
      try {
        r = await session.run({ ...wf, x: f32(x, [x.length / H, H]) });
      } catch (e) {
        throw this.engine.runError(
          e,
          'a block pass',
          `Lower --batch (now ${acts.length > 0 ? x.length / H / this.seqlen : 0} windows per run), or free memory on the card (other processes).`,
        );
      }
      if (out) out.push(r.y.data as Float32Array);
      if (opts.stats) {
        if (!stats) stats = { sumsq: new Map(), last: new Map() };
        for (const grp of INPUT_GROUPS) {
          const s = r[`sumsq_${grp}`].data as Float32Array;
          let acc = stats.sumsq.get(grp);
          if (!acc) stats.sumsq.set(grp, (acc = new Float64Array(s.length)));
          for (let i = 0; i < s.length; i++) acc[i] += s[i];
          if (!lastParts.has(grp)) lastParts.set(grp, []);
          lastParts.get(grp)!.push(r[`last_${grp}`].data as Float32Array);
        }
      }
      onBatch?.(b);
    }
    if (stats) for (const [grp, parts] of lastParts) stats.last.set(grp, concat(parts));
    return { out, stats };
  }

  /**
   * Per-token negative log-likelihood of each batch's next tokens (final norm, LM head,
   * log-softmax); with `logits`, the logits [N, V] too (cross-checks).
   */
  async head(
    x: Float32Array,
    targets: BigInt64Array,
    w: HeadWeights,
    logits = false,
  ): Promise<{ nll: Float32Array; logits: Float32Array | null }> {
    const c = this.ckpt.config;
    let session = this.headSessions.get(logits);
    if (!session) this.headSessions.set(logits, (session = await this.engine.session(buildHeadGraph(c, logits))));
    const feeds: Record<string, ort.Tensor> = {
      x: f32(x, [x.length / c.hidden, c.hidden]),
      targets: i64(targets, [targets.length]),
      lm_head: f32(w.lmHead, [c.vocab, c.hidden]),
      'norm.weight': f32(w.normWeight, [c.hidden]),
    };
    if (w.normBias) feeds['norm.bias'] = f32(w.normBias, [c.hidden]);
    const r = await session.run(feeds);
    return { nll: r.nll.data as Float32Array, logits: logits ? (r.logits.data as Float32Array) : null };
  }

  async release(): Promise<void> {
    for (const s of this.blockSessions.values()) await s.release();
    this.blockSessions.clear();
    for (const s of this.headSessions.values()) await s.release();
    this.headSessions.clear();
    await this.embedSession?.release();
    this.embedSession = null;
  }
}

/** One array of several (the batches of Activations); a single part is returned as it is. */
export function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export type { InputGroup };
