/**
 * Benchmark (skipped unless TRIM_ALPHA_BENCH=1): time to compute AlphaPruning's α for a
 * Qwen2.5-7B-shaped model (28 blocks; q/o 3584×3584, k/v 512×3584, gate/up 18944×3584,
 * down 3584×18944). A whole 7B checkpoint is 15 GB and each 3584-wide eigenproblem takes minutes
 * in ml-matrix on one core, so this times one linear of every distinct shape — Gram on the
 * execution provider, eigenvalues, fit — on random weights (std 0.02) and extrapolates to the
 * model: α time = 28 × Σ over the 7 linears. Figures go to BENCHMARKS.md ("AlphaPruning α").
 *
 *   TRIM_ALPHA_BENCH=1 [TRIM_ALPHA_BENCH_EP=cpu|cuda] node --import tsx --test test/integration/alpha-bench.test.ts
 */
import { test } from 'node:test';
import * as os from 'node:os';
import { alphaPeak, GramRunner, symmetricEigenvalues } from '../../src/core/prune/alpha';
import { Engine } from '../../src/core/ort/engine';
import { rng } from '../../src/core/model/synth';

const on = process.env.TRIM_ALPHA_BENCH === '1';

test(
  'α time for a Qwen2.5-7B-shaped model (one linear per shape, extrapolated)',
  { skip: !on && 'set TRIM_ALPHA_BENCH=1 to run (minutes)' },
  async () => {
    const H = 3584;
    const I = 18944;
    const KV = 512;
    const blocks = 28;
    const linears: [string, number, number][] = [
      ['q_proj', H, H],
      ['k_proj', KV, H],
      ['v_proj', KV, H],
      ['o_proj', H, H],
      ['gate_proj', I, H],
      ['up_proj', I, H],
      ['down_proj', H, I],
    ];
    const engine = await Engine.create((process.env.TRIM_ALPHA_BENCH_EP as 'cpu' | 'cuda' | undefined) ?? 'auto');
    const gram = new GramRunner(engine);
    const r = rng(1);
    const W = new Float32Array(I * H);
    for (let i = 0; i < W.length; i++) W[i] = 0.02 * r.normal();
    const gramSec = new Map<string, number>();
    const eigSec = new Map<number, number>();
    const fitSec = new Map<number, number>();
    const alphas = new Map<number, number>();
    try {
      for (const [name, rows, cols] of linears) {
        const key = `${rows}x${cols}`;
        if (gramSec.has(key)) continue;
        const view = W.subarray(0, rows * cols);
        await gram.gram(view, rows, cols); // session creation and warm-up
        const t0 = performance.now();
        const { G, n } = await gram.gram(view, rows, cols);
        gramSec.set(key, (performance.now() - t0) / 1000);
        if (!eigSec.has(n)) {
          const t1 = performance.now();
          const ev = symmetricEigenvalues(G, n);
          eigSec.set(n, (performance.now() - t1) / 1000);
          const t2 = performance.now();
          alphas.set(n, alphaPeak(ev).alpha);
          fitSec.set(n, (performance.now() - t2) / 1000);
        }
        console.log(
          `${name} [${rows}, ${cols}]: Gram ${gramSec.get(key)!.toFixed(3)} s, eigenvalues (n=${n}) ${eigSec.get(n)!.toFixed(1)} s, fit ${fitSec.get(n)!.toFixed(3)} s, α ${alphas.get(n)!.toFixed(3)}`,
        );
      }
    } finally {
      await gram.release();
    }
    let perBlock = 0;
    for (const [, rows, cols] of linears) {
      const n = Math.min(rows, cols);
      perBlock += gramSec.get(`${rows}x${cols}`)! + eigSec.get(n)! + fitSec.get(n)!;
    }
    console.log(`host ${os.cpus()[0]?.model} × ${os.cpus().length}, EP ${engine.ep}`);
    console.log(
      `per block ${perBlock.toFixed(1)} s; Qwen2.5-7B (${blocks} blocks) ≈ ${(perBlock * blocks).toFixed(0)} s = ${((perBlock * blocks) / 3600).toFixed(2)} h on one core, once per checkpoint (cached)`,
    );
  },
);
