/**
 * Times the parts of the fused pruning graph one at a time, at a real model's shapes, on the
 * provider given (default cuda): row ranks (a TopK per row, or two whole-matrix sorts), one
 * chunk's block pass (materialised attention or GroupQueryAttention), one linear's TRIM search,
 * keep-bit packing (three ways) and host↔device copies. Inputs are drawn inside the graphs (RandomUniform) and outputs are
 * scalars, so only the copy part crosses the bus. Prints one table.
 *
 *   npx esbuild scripts/gpu/parts.ts --bundle --platform=node --external:onnxruntime-node --outfile=dist/parts.js
 *   node dist/parts.js [--preset qwen2.5-7b] [--ep cuda] [--windows 8] [--only ranks,block,search,copy,pack]
 */
import * as ort from 'onnxruntime-node';
import { parseArgs } from 'node:util';
import { GraphBuilder, T } from '../../src/core/ort/graphs/builder';
import { blockForward } from '../../src/core/ort/graphs/decoder';
import { packBitsOps, type PackKind } from '../../src/core/prune/fused/packBits';
import { flatRanksOps, rowRanksOps } from '../../src/core/prune/scores';
import { trimSearchOps } from '../../src/core/prune/trimSearch';
import { PRESETS } from '../../src/core/model/synth';
import type { ModelConfig } from '../../src/core/model/config';

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'qwen2.5-7b' },
    ep: { type: 'string', default: 'cuda' },
    windows: { type: 'string', default: '8' },
    seqlen: { type: 'string', default: '2048' },
    only: { type: 'string', default: 'ranks,block,search,copy' },
    reps: { type: 'string', default: '3' },
  },
});
process.env.NVIDIA_TF32_OVERRIDE ??= '0';
const only = new Set(a.only!.split(','));
const p = PRESETS[a.preset!];
if (!p) throw new Error(`unknown preset ${a.preset}`);
const cfg: ModelConfig = {
  architecture: 'synth',
  family: p.family,
  hidden: p.hidden,
  intermediate: p.intermediate,
  layers: p.layers,
  heads: p.heads,
  kvHeads: p.kvHeads,
  headDim: p.hidden / p.heads,
  vocab: p.vocab,
  maxPositions: p.maxPositions,
  normEps: 1e-6,
  tieEmbeddings: p.tie,
  dtype: p.dtype,
  rope: p.family === 'opt' ? null : { theta: p.ropeTheta ?? 10000, scaling: { type: 'default' } },
};
const S = Number(a.seqlen);
const B = Number(a.windows);
const rows: string[][] = [];
const opts: ort.InferenceSession.SessionOptions = {
  executionProviders: a.ep === 'cuda' ? [{ name: 'cuda', deviceId: 0 } as ort.InferenceSession.ExecutionProviderConfig] : ['cpu'],
  logSeverityLevel: 3,
};

function rand(g: GraphBuilder, dims: number[], lo: number, hi: number, seed: number): string {
  return g.op('RandomUniform', [], { shape: dims, low: { float: lo }, high: { float: hi }, seed: { float: seed }, dtype: T.FLOAT });
}

async function time(name: string, model: Uint8Array, feeds: Record<string, ort.Tensor> = {}, note = ''): Promise<void> {
  try {
    const t0 = performance.now();
    const s = await ort.InferenceSession.create(model, opts);
    const create = performance.now() - t0;
    let r = await s.run(feeds);
    const ms: number[] = [];
    for (let i = 0; i < Number(a.reps); i++) {
      const t = performance.now();
      r = await s.run(feeds);
      ms.push(performance.now() - t);
    }
    ms.sort((x, y) => x - y);
    const out = Object.entries(r)
      .map(([k, v]) => `${k}=${Number((v.data as Float32Array)[0]).toPrecision(6)}`)
      .join(' ');
    rows.push([name, create.toFixed(0), ms[0].toFixed(1), ms[ms.length >> 1].toFixed(1), note || out]);
    await s.release();
  } catch (e) {
    rows.push([
      name,
      '-',
      '-',
      '-',
      `FAILED: ${String((e as Error).message)
        .split('\n')[0]
        .slice(0, 140)}`,
    ]);
  }
  console.log(rows[rows.length - 1].join(' | '));
}

function scalar(g: GraphBuilder, v: string, name = 'y'): void {
  g.output(g.op('ReduceSum', [g.op('Cast', [v], { to: T.FLOAT })], { keepdims: 0 }), name);
}

const shapes: [string, number, number][] = [
  ['q_proj', cfg.heads * cfg.headDim, cfg.hidden],
  ['k_proj', cfg.kvHeads * cfg.headDim, cfg.hidden],
  ['o_proj', cfg.hidden, cfg.heads * cfg.headDim],
  ['gate_proj', cfg.intermediate, cfg.hidden],
  ['down_proj', cfg.hidden, cfg.intermediate],
];

async function main(): Promise<void> {
  console.log(`parts: ${a.preset} on ${a.ep}, ${B} windows × ${S} per chunk`);
  if (only.has('ranks')) {
    // Equality of the two rankings on a matrix with many ties.
    {
      const g = new GraphBuilder('eq');
      const sc = g.op('Floor', [rand(g, [700, 3001], 0, 8, 3)]);
      const d = g.op('Abs', [g.op('Sub', [rowRanksOps(g, g, sc, 3001), flatRanksOps(g, g, sc, 700, 3001)])]);
      g.output(g.op('ReduceMax', [d], { keepdims: 0 }), 'maxdiff');
      await time('ranks equal (700×3001, ties)', g.build());
    }
    // Both rankings against the definition (ascending score, ties by lower column), computed here.
    for (const [R, C] of [
      [300, 3000],
      [300, 5000],
    ]) {
      const sc = Float32Array.from({ length: R * C }, (_, i) => ((i * 2654435761) >>> 0) % 13);
      const want = new Float32Array(R * C);
      for (let r = 0; r < R; r++) {
        const idx = Array.from({ length: C }, (_, c) => c).sort((x, y) => sc[r * C + x] - sc[r * C + y] || x - y);
        idx.forEach((c, k) => (want[r * C + c] = k));
      }
      for (const kind of ['row', 'flat'] as const) {
        const g = new GraphBuilder('exact');
        const x = g.input('s', T.FLOAT, [R, C]);
        g.output(kind === 'row' ? rowRanksOps(g, g, x, C) : flatRanksOps(g, g, x, R, C), 'rank');
        const s = await ort.InferenceSession.create(g.build(), opts);
        const got = (await s.run({ s: new ort.Tensor('float32', sc, [R, C]) })).rank.data as Float32Array;
        let bad = 0;
        for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) bad++;
        rows.push([
          `ranks ${kind} exact (${R}×${C}, 13 values)`,
          '-',
          '-',
          '-',
          `${bad} of ${got.length} ranks differ from the definition`,
        ]);
        console.log(rows[rows.length - 1].join(' | '));
        await s.release();
      }
    }
    for (const [n, r, c] of shapes) {
      for (const kind of ['row', 'flat'] as const) {
        const g = new GraphBuilder('ranks');
        const sc = rand(g, [r, c], 0, 1, 1);
        scalar(g, kind === 'row' ? rowRanksOps(g, g, sc, c) : flatRanksOps(g, g, sc, r, c));
        await time(`ranks ${kind} ${n} ${r}×${c}`, g.build());
      }
    }
  }
  if (only.has('block')) {
    const wFor = (g: GraphBuilder): ((n: string, dims: number[]) => string) => {
      const m = new Map<string, string>();
      let seed = 10;
      return (n, dims) => {
        let v = m.get(n);
        if (!v) {
          const f = n.endsWith('layernorm.weight')
            ? g.op('Add', [rand(g, dims, -0.1, 0.1, seed++), g.float([1], [])])
            : rand(g, dims, -0.02, 0.02, seed++);
          m.set(n, (v = g.op('Cast', [f], { to: T.FLOAT16 })));
        }
        return v;
      };
    };
    const biases = new Set(p.qkvBias ? ['self_attn.q_proj.bias', 'self_attn.k_proj.bias', 'self_attn.v_proj.bias'] : []);
    for (const att of ['matmul', 'gqa'] as const) {
      for (const out of [true, false]) {
        const g = new GraphBuilder('block');
        const x = g.op('Cast', [rand(g, [B * S, cfg.hidden], -1, 1, 2)], { to: T.FLOAT16 });
        const f = blockForward(g, g, cfg, S, biases, x, wFor(g), { half: true, withOutput: out, attention: att });
        scalar(g, out ? f.y : f.captured.get('down_in')!);
        await time(`block fp16 ${att} ${out ? 'full' : 'to down_in'}`, g.build());
      }
    }
    {
      // The two attentions on the same input: relative difference of the block outputs.
      const g = new GraphBuilder('cmp');
      const x = g.op('Cast', [rand(g, [1 * S, cfg.hidden], -1, 1, 2)], { to: T.FLOAT16 });
      const w = wFor(g);
      const y1 = g.op('Cast', [blockForward(g, g, cfg, S, biases, x, w, { half: true, attention: 'matmul' }).captured.get('o_in')!], {
        to: T.FLOAT,
      });
      const y2 = g.op('Cast', [blockForward(g, g, cfg, S, biases, x, w, { half: true, attention: 'gqa' }).captured.get('o_in')!], {
        to: T.FLOAT,
      });
      g.output(g.op('ReduceMax', [g.op('Abs', [g.op('Sub', [y1, y2])])], { keepdims: 0 }), 'maxdiff');
      g.output(g.op('ReduceMax', [g.op('Abs', [y1])], { keepdims: 0 }), 'maxabs');
      await time('attention matmul vs gqa (1 window)', g.build());
    }
  }
  if (only.has('search')) {
    for (const [n, r, c] of [shapes[3], shapes[4]]) {
      const g = new GraphBuilder('search');
      const W = rand(g, [r, c], -0.02, 0.02, 5);
      const X = rand(g, [128, c], -1, 1, 6);
      const rank = flatRanksOps(g, g, g.op('Abs', [W]), r, c);
      const t = trimSearchOps(
        g,
        { W, rank, X, rows: r, cols: c, T: g.double([0.7], []) },
        { iterations: 10, forbidNegLr: false, layerMetric: 'cosim_flat', rowMetric: 'cosim' },
      );
      scalar(g, t.s);
      g.output(t.info, 'info', T.DOUBLE);
      await time(`ranks flat + trim search ${n} ${r}×${c}`, g.build());
    }
  }
  if (only.has('pack')) {
    const kinds: PackKind[] = ['reduce-int', 'reduce-float', 'split-sum'];
    {
      // Every way against the int32 one, on one matrix.
      const g = new GraphBuilder('packeq');
      const keep = g.op('Less', [rand(g, [64, 4096], 0, 1, 7), g.float([0.3], [])]);
      const ref = g.op('Cast', [packBitsOps(g, keep, 64, 4096, 'reduce-int')], { to: T.FLOAT });
      kinds.slice(1).forEach((k, i) =>
        g.output(
          g.op('ReduceMax', [g.op('Abs', [g.op('Sub', [ref, g.op('Cast', [packBitsOps(g, keep, 64, 4096, k)], { to: T.FLOAT })])])], {
            keepdims: 0,
          }),
          `maxdiff_${i}`,
        ),
      );
      await time(`pack: ${kinds.slice(1).join(', ')} vs reduce-int`, g.build());
    }
    for (const [n, r, c] of [shapes[3], shapes[4]]) {
      {
        const g = new GraphBuilder('keep');
        scalar(g, g.op('Less', [rand(g, [r, c], 0, 1, 8), g.float([0.3], [])]));
        await time(`keep only (baseline) ${n}`, g.build());
      }
      for (const k of kinds) {
        const g = new GraphBuilder('pack');
        scalar(g, packBitsOps(g, g.op('Less', [rand(g, [r, c], 0, 1, 8), g.float([0.3], [])]), r, c, k));
        await time(`pack ${k} ${n} ${r}×${c}`, g.build());
      }
    }
  }
  if (only.has('copy')) {
    const n = 2 ** 29; // 1 GiB of uint16
    const data = new Uint16Array(n);
    for (let i = 0; i < n; i += 4096) data[i] = i & 0xffff;
    {
      const g = new GraphBuilder('in');
      const x = g.input('x', T.UINT16, [n]);
      g.output(g.op('ReduceMax', [g.op('Cast', [x], { to: T.FLOAT })], { keepdims: 0 }), 'm');
      await time('copy 1 GiB in', g.build(), { x: new ort.Tensor('uint16', data, [n]) });
    }
    {
      const g = new GraphBuilder('inout');
      const x = g.input('x', T.UINT16, [n]);
      g.output(
        g.op('Cast', [g.op('Add', [g.op('Cast', [x], { to: T.INT32 }), g.initRaw('one', T.INT32, [], new Uint8Array([1, 0, 0, 0]))])], {
          to: T.UINT16,
        }),
        'y',
        T.UINT16,
      );
      await time('copy 1 GiB in + 1 GiB out', g.build(), { x: new ort.Tensor('uint16', data, [n]) }, 'see row above');
    }
  }
  console.log('\npart | create ms | best ms | median ms | outputs');
  console.log('---|---|---|---|---');
  for (const r of rows) console.log(r.join(' | '));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
