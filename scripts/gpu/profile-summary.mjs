#!/usr/bin/env node
// Sums an ONNX Runtime profile (TRIM_ORT_PROFILE=PREFIX, see src/core/ort/engine.ts) by phase of the
// fused graph and by operator. Node names are "<graph>/<Op>_<n>"; the graph's name says the phase.
// Control nodes (Loop, If) are inclusive of their bodies, so they are listed apart: their time
// minus their bodies' kernels is the control machinery. Run it with CUDA_LAUNCH_BLOCKING=1 for
// GPU time per node (else CUDA nodes show their launch time only).
//   node scripts/gpu/profile-summary.mjs PROFILE.json...   (several files: one per session, summed)
import * as fs from 'node:fs';

const events = process.argv.slice(2).flatMap((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const phaseOf = (graph) => {
  const g = graph.replace(/_\d+$/, '');
  return (
    {
      stats: 'statistics',
      propagate: 'propagation',
      sweep: 'TRIM search',
      lr_run: 'TRIM search',
      step: 'TRIM search',
      lr_skip: 'TRIM search',
      block: 'per block (scores, ranks, masks, search start/end)',
      trim_fused: 'run (embedding, stacking)',
    }[g] ?? g
  );
};
const byPhase = new Map();
const byOp = new Map();
const control = new Map();
let runs = 0;
let runUs = 0;
const add = (m, k, us) => {
  const e = m.get(k) ?? { us: 0, n: 0 };
  e.us += us;
  e.n++;
  m.set(k, e);
};
for (const e of events) {
  if (e.cat === 'Session' && e.name === 'model_run') {
    runs++;
    runUs += e.dur;
  }
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const name = e.name.slice(0, -'_kernel_time'.length);
  const op = e.args?.op_name ?? name.split('/').pop().replace(/_\d+$/, '');
  const graph = name.includes('/') ? name.split('/')[0] : 'unnamed';
  if (op === 'Loop' || op === 'If' || op === 'Scan') add(control, `${op} in ${phaseOf(graph)}`, e.dur);
  else {
    add(byPhase, phaseOf(graph), e.dur);
    add(byOp, `${op} (${e.args?.provider?.replace('ExecutionProvider', '') ?? '?'})`, e.dur);
  }
}
const table = (title, m, top = 100) => {
  const rows = [...m.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top);
  console.log(`\n| ${title} | seconds | nodes run |\n|---|---|---|`);
  for (const [k, v] of rows) console.log(`| ${k} | ${(v.us / 1e6).toFixed(3)} | ${v.n} |`);
};
console.log(`session runs: ${runs}, ${(runUs / 1e6).toFixed(3)} s in all`);
const leaf = [...byPhase.values()].reduce((a, v) => a + v.us, 0);
console.log(
  `non-control nodes: ${(leaf / 1e6).toFixed(3)} s; the rest of the runs (control machinery, copies of inputs and outputs): ${((runUs - leaf) / 1e6).toFixed(3)} s`,
);
table('phase (non-control nodes)', byPhase);
table('control node (inclusive)', control);
table('operator', byOp, 25);
