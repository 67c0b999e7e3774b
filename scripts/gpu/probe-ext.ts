// A session whose initializers are every block weight (and the embedding table) of a checkpoint,
// read by ORT from its safetensors files (external data), as the fused path's CUDA sessions are.
// Times the session's creation and prints host and GPU memory before and after.
//   npx esbuild scripts/gpu/probe-ext.ts --bundle --platform=node --external:onnxruntime-node --outfile=dist/probe.js
//   node dist/probe.js MODEL [concat|separate] [cuda|cpu]
// concat: each tensor's blocks concatenated in the graph (as the fused graph does); separate: not.
import * as ort from 'onnxruntime-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execSync } from 'node:child_process';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { blockWeightNames } from '../../src/core/ort/graphs/decoder';
import { linearBiases } from '../../src/core/ort/runner';
import { GraphBuilder, T } from '../../src/core/ort/graphs/builder';
import { Engine } from '../../src/core/ort/engine';

const status = (): string => {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const f = (k: string) => (Number(/(\d+)/.exec(s.split('\n').find((l) => l.startsWith(k)) ?? '0')![1]) / 2 ** 20).toFixed(2);
  return `HWM ${f('VmHWM')} RSS ${f('VmRSS')} anon ${f('RssAnon')} file ${f('RssFile')} GiB`;
};
const gpu = (): string => {
  try {
    return execSync('nvidia-smi --query-gpu=memory.used --format=csv,noheader', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'n/a';
  }
};

async function main(): Promise<void> {
  const [dir, mode = 'concat', ep = 'cuda'] = process.argv.slice(2);
  const engine = await Engine.create(ep === 'cpu' ? 'cpu' : 'cuda'); // the provider started before the clock
  const ckpt = Checkpoint.open(dir);
  const cfg = ckpt.config;
  const names = blockWeightNames(cfg, linearBiases(ckpt));
  const g = new GraphBuilder('probe');
  const k = g.input('k', T.INT64, []);
  const sums: string[] = [];
  let bytes = 0;
  const ext = (t: { name: string; dtype: string; shape: number[]; file: string; offset: number; byteLength: number }, lead: boolean) => {
    bytes += t.byteLength;
    const loc = path.relative('/', fs.realpathSync(t.file));
    return g.initExternal(t.name, t.dtype === 'F32' ? T.FLOAT : T.UINT16, lead ? [1, ...t.shape] : t.shape, loc, t.offset, t.byteLength);
  };
  const sumOf = (v: string) =>
    g.op('ReduceSum', [g.op('Cast', [g.op('Gather', [v, g.int64([0], [])], { axis: 0 })], { to: T.FLOAT })], { keepdims: 0 });
  for (const n of names) {
    const parts = Array.from({ length: cfg.layers }, (_, b) => ext(ckpt.tensors.get(ckpt.blockName(b, n))!, true));
    if (mode === 'concat') {
      const st = g.op('Concat', parts, { axis: 0 });
      sums.push(
        g.op(
          'ReduceSum',
          [g.op('Cast', [g.op('Gather', [g.op('Gather', [st, k], { axis: 0 }), g.int64([0], [])], { axis: 0 })], { to: T.FLOAT })],
          { keepdims: 0 },
        ),
      );
    } else {
      for (const p of parts) sums.push(sumOf(g.op('Gather', [p, g.int64([0], [])], { axis: 0 })));
    }
  }
  sums.push(sumOf(ext(ckpt.tensors.get(ckpt.layout.embed)!, false)));
  g.output(g.op('Sum', sums), 'y');
  const model = g.build();
  console.log(`model ${(model.length / 1e6).toFixed(2)} MB, external ${(bytes / 1e9).toFixed(2)} GB; before: ${status()}; gpu ${gpu()}`);
  const t0 = performance.now();
  const s = await engine.session(model, '/');
  const tc = (performance.now() - t0) / 1000;
  console.log(
    `${mode} ${engine.ep}: created in ${tc.toFixed(2)} s (${(bytes / 1e9 / tc).toFixed(2)} GB/s); after: ${status()}; gpu ${gpu()}`,
  );
  const t1 = performance.now();
  const r = await s.run({ k: new ort.Tensor('int64', BigInt64Array.from([1n]), []) });
  console.log(`run ${((performance.now() - t1) / 1000).toFixed(3)} s, y ${(r.y.data as Float32Array)[0]}; ${status()}`);
  await s.release();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
