#!/usr/bin/env node
// Benchmark: runs `dist/cli.js prune --json` with the given options and prints one table per run:
// model, execution provider, windows × seqlen, seconds per phase, peak host RSS (VmHWM of the
// process, polled from /proc) and peak GPU memory (nvidia-smi, where there is one).
//   npm run bench -- --model DIR [--trim] [--sparsity 0.7] [--nsamples 128] [--seqlen 512] [--ep cpu] ...
// Several runs: separate their option lists with `--then`.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const cli = path.join(root, 'dist', 'cli.js');
if (!fs.existsSync(cli)) execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const runs = [[]];
for (const a of process.argv.slice(2)) {
  if (a === '--then') runs.push([]);
  else runs[runs.length - 1].push(a);
}

function gpuMemMiB(pid) {
  try {
    const out = execFileSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const line of out.split('\n')) {
      const [p, m] = line.split(',').map((s) => s.trim());
      if (Number(p) === pid) return Number(m);
    }
  } catch {
    /* no GPU tools */
  }
  return null;
}

// The CLI may run the job in a child of itself (the CUDA libraries on its LD_LIBRARY_PATH): both are measured.
function withChildren(pid) {
  try {
    return [pid, ...fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

function hwmKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function bench(args) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-bench-'));
  const argv = [cli, 'prune', '--json', '--out', path.join(out, 'pruned'), ...args];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let rss = 0;
  let gpu = null;
  const hasSmi = (() => {
    try {
      execFileSync('nvidia-smi', ['-L'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const poll = setInterval(() => {
    const pids = withChildren(child.pid);
    for (const p of pids) rss = Math.max(rss, hwmKiB(p) ?? 0);
    if (hasSmi) {
      const gs = pids.map(gpuMemMiB).filter((g) => g !== null);
      if (gs.length)
        gpu = Math.max(
          gpu ?? 0,
          gs.reduce((a, b) => a + b, 0),
        );
    }
  }, 200);
  let buf = '';
  let start = null;
  let summary = null;
  const runLogs = [];
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line);
      if (e.type === 'start') start = e;
      if (e.type === 'summary') summary = e;
      if (e.type === 'log' && /^Blocks \d/.test(e.message)) runLogs.push(e.message);
      if (e.type === 'error') console.error(`error: ${e.error.message}`);
    }
  });
  const code = await new Promise((r) => child.on('close', r));
  clearInterval(poll);
  let report = null;
  try {
    report = JSON.parse(fs.readFileSync(path.join(out, 'pruned', 'trim-report.json'), 'utf8'));
  } catch {
    /* failed run */
  }
  fs.rmSync(out, { recursive: true, force: true });
  if (code !== 0 || !summary || !start) {
    console.error(`run failed (exit ${code}): ${args.join(' ')}`);
    return false;
  }
  const o = report?.options ?? start.options;
  const s = summary.seconds;
  const rows = [
    [
      'model',
      `${path.basename(start.model.path)} (${start.model.architecture}, ${(start.model.parameters / 1e6).toFixed(1)}M, ${start.model.dtype})`,
    ],
    ['machine', `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`],
    ['execution provider', `${summary.ep}${summary.device ? ` (${summary.device})` : ''}`],
    ['precision, GPU memory planned', `${o.precision ?? 'float32'}${o.gpuMemory != null ? `, ${o.gpuMemory} GiB` : ''}`],
    ['windows × seqlen', `${o.nsamples} × ${o.seqlen ?? '(default)'}${o.batch ? ` (${o.batch} per batch)` : ''}`],
    [
      'method',
      `${o.score}${o.allocation !== 'uniform' ? ' + ' + o.allocation : ''}${o.trim ? ' + TRIM' : ''} ${(o.sparsity * 100).toFixed(0)}%`,
    ],
    ...['load', 'calibration', 'allocation', 'embed', 'statistics', 'trim', 'prune', 'propagate', 'write', 'dense_eval', 'eval'].map(
      (k) => [`  ${k} (s)`, s[k].toFixed(2)],
    ),
    [
      '  prune span (s): load→pruned weights',
      (s.load + s.calibration + s.allocation + s.embed + s.statistics + s.prune + s.propagate).toFixed(2),
    ],
    ['  total (s)', s.total.toFixed(2)],
    ['peak host RSS', `${(rss / 2 ** 20).toFixed(2)} GiB`],
    ['peak GPU memory', gpu === null ? 'n/a' : `${(gpu / 1024).toFixed(2)} GiB`],
    [
      'perplexity dense → pruned',
      summary.perplexity === null ? 'not evaluated' : `${summary.dense_perplexity?.toFixed(2)} → ${summary.perplexity.toFixed(2)}`,
    ],
    ['sparsity', summary.sparsity.toFixed(4)],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n| ${'phase'.padEnd(w)} | value |\n|${'-'.repeat(w + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  if (runLogs.length) {
    console.log(`\nDevice runs (${runLogs.length}):`);
    for (const l of runLogs.length > 8 ? [...runLogs.slice(0, 4), '…', ...runLogs.slice(-3)] : runLogs) console.log(`  ${l}`);
  }
  return true;
}

let ok = true;
for (const r of runs) ok = (await bench(r)) && ok;
process.exit(ok ? 0 : 1);
