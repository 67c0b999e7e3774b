/**
 * The graphs of the model's pieces that the runner (ort/runner.ts) opens a session on, one
 * family at a time: the embeddings, one decoder block (blockForward; with `stats`, for each of the
 * four activations that feed the block's linears, the sum of squares per channel over all tokens
 * (Wanda's statistics) and each window's last-token vector (TRIM's X)), and the head (final norm,
 * LM head, per-token negative log-likelihood). Activations are float32, 2-D [windows·seqlen,
 * hidden] between pieces.
 *
 * A block graph takes its weights as inputs named by their local tensor names (e.g.
 * 'mlp.up_proj.weight'), so one session serves every block.
 */
import type { ModelConfig } from '../../model/config';
import { INPUT_GROUPS, LAYER_SLIDING, positionTableRows } from '../../model/familyLayout';
import { GraphBuilder, T } from './builder';
import { layerNorm, normWeight, rmsNorm, softcap } from './blockOps';
import { blockForward, groupWidth, layerVariation } from './decoder';

export interface BlockGraphOptions {
  seqlen: number;
  /** Emit Wanda sums of squares and last-token inputs. */
  stats: boolean;
  /** Emit the block's output hidden states. */
  output: boolean;
  /** Local names of the bias tensors present (e.g. 'self_attn.q_proj.bias'). */
  biases: Set<string>;
}

export function buildBlockGraph(cfg: ModelConfig, o: BlockGraphOptions): Uint8Array {
  const g = new GraphBuilder(`block_${cfg.family}`);
  const S = o.seqlen;
  const x = g.input('x', T.FLOAT, ['N', cfg.hidden]);
  const inputs = new Map<string, string>();
  const w = (name: string, dims: number[]): string => {
    let v = inputs.get(name);
    if (!v) inputs.set(name, (v = g.input(name, T.FLOAT, dims)));
    return v;
  };
  const layer = layerVariation(cfg, S)?.perBlock ? g.input(LAYER_SLIDING, T.FLOAT, []) : undefined;
  const { y, captured } = blockForward(g, g, cfg, S, o.biases, x, w, { layer });
  if (o.output) g.output(y, 'y');
  if (o.stats) {
    for (const grp of INPUT_GROUPS) {
      const t = captured.get(grp)!;
      g.output(g.op('ReduceSumSquare', [t], { axes: [0], keepdims: 0 }), `sumsq_${grp}`);
      const dims = groupWidth(cfg, grp);
      const t3 = g.op('Reshape', [t, g.int64([-1, S, dims])]);
      const last = g.op('Slice', [t3, g.int64([S - 1]), g.int64([S]), g.int64([1])]);
      g.output(g.op('Reshape', [last, g.int64([-1, dims])]), `last_${grp}`);
    }
  }
  return g.build();
}

/** ids [N] int64 → hidden [N, H] (OPT adds learned positions, offset 2; Gemma scales by sqrt(hidden)). */
export function buildEmbedGraph(cfg: ModelConfig, seqlen: number): Uint8Array {
  const g = new GraphBuilder(`embed_${cfg.family}`);
  const ids = g.input('ids', T.INT64, ['N']);
  const E = g.input('embed', T.FLOAT, [cfg.vocab, cfg.hidden]);
  let h = embedScale(g, cfg, g.op('Gather', [E, ids], { axis: 0 }));
  const rows = positionRows(cfg, seqlen);
  if (rows) {
    const P = g.input('positions', T.FLOAT, [positionTableRows(cfg), cfg.hidden]);
    const pos = g.int64(rows);
    const pe = g.op('Gather', [P, pos], { axis: 0 }); // [S, H]
    const h3 = g.op('Reshape', [h, g.int64([-1, seqlen, cfg.hidden])]);
    h = g.op('Reshape', [g.op('Add', [h3, pe]), g.int64([-1, cfg.hidden])]);
  }
  g.output(h, 'h');
  return g.build();
}

/** Rows of the learned position table that positions 0 … seqlen − 1 read (OPT: p + 2), or null without one. */
export function positionRows(cfg: ModelConfig, seqlen: number): number[] | null {
  const off = cfg.features?.positionOffset;
  return off == null ? null : Array.from({ length: seqlen }, (_, i) => i + off);
}

/** Embeddings × the family's scale (Gemma: sqrt(hidden_size)), float32 [N, H]. */
export function embedScale(g: GraphBuilder, cfg: ModelConfig, x: string): string {
  const s = cfg.features?.embedScale;
  return s == null ? x : g.op('Mul', [x, g.float([s], [])]);
}

/**
 * hidden [N, H], targets [N] → per-token negative log-likelihood [N] (final norm, LM head,
 * log-softmax). With `logits` the logits [N, V] are returned too (for cross-checks).
 */
export function buildHeadGraph(cfg: ModelConfig, logits = false): Uint8Array {
  const g = new GraphBuilder(`head_${cfg.family}`);
  const H = cfg.hidden;
  const x = g.input('x', T.FLOAT, ['N', H]);
  const targets = g.input('targets', T.INT64, ['N']);
  const W = g.input('lm_head', T.FLOAT, [cfg.vocab, H]);
  const h =
    cfg.features?.finalNorm === 'layer'
      ? layerNorm(g, x, g.input('norm.weight', T.FLOAT, [H]), g.input('norm.bias', T.FLOAT, [H]), cfg.normEps)
      : rmsNorm(g, x, normWeight(g, cfg, g.input('norm.weight', T.FLOAT, [H])), cfg.normEps);
  const lg = softcap(g, g.op('Gemm', [h, W], { transB: 1 }), cfg.features?.finalSoftcap ?? null, (c) => g.float([c], []));
  const lp = g.op('LogSoftmax', [lg], { axis: -1 });
  const picked = g.op('GatherElements', [lp, g.op('Unsqueeze', [targets, g.int64([1])])], { axis: 1 });
  g.output(g.op('Neg', [g.op('Reshape', [picked, g.int64([-1])])]), 'nll');
  if (logits) g.output(lg, 'logits');
  return g.build();
}
