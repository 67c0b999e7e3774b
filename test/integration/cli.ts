/** Runs the built CLI (dist/cli.js) and returns its JSON lines (all at the end, or each as it comes). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { PruneOptions, TrimReport } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { runPrune } from '../../src/core/prune/prune';

export const ROOT = path.resolve(__dirname, '../..');
export const SHARED = path.resolve(ROOT, '../shared');
export const hasShared = fs.existsSync(path.join(SHARED, 'fixtures', 'trim-fixture-qwen2'));
export const FIXTURE = path.join(SHARED, 'fixtures', 'trim-fixture-qwen2');

let built = false;
export function ensureBuilt(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  built = true;
}

export interface CliResult {
  status: number | null;
  lines: Record<string, unknown>[];
  stderr: string;
  last: Record<string, unknown>;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  ensureBuilt();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 256 * 2 ** 20,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, lines, stderr: r.stderr, last: lines[lines.length - 1] ?? {} };
}

/** A JSON line of the CLI's output (an event of --json). */
export type CliEvent = Record<string, unknown> & { type: string };

export interface StreamedCli {
  status: number | null;
  signal: NodeJS.Signals | null;
  events: CliEvent[];
  stderr: string;
}

/**
 * Starts the built CLI with `env` added to this process's; `onEvent` sees each JSON line as it
 * comes (with the events so far, itself included, and the CLI's process, to signal it). `done`
 * resolves when the CLI has exited and closed its output.
 */
export function streamCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  onEvent: (e: CliEvent, events: CliEvent[], child: ChildProcess) => void = () => {},
): { child: ChildProcess; done: Promise<StreamedCli> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: CliEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const e = JSON.parse(line) as CliEvent;
    events.push(e);
    onEvent(e, events, child);
  });
  const done = new Promise<StreamedCli>((resolve) => child.on('close', (status, signal) => resolve({ status, signal, events, stderr })));
  return { child, done };
}

export function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function within(value: number, ref: number, tol: number): boolean {
  return Math.abs(value - ref) / ref <= tol;
}

/** Runs a pruning job in this process with `vars` set in the environment (restored after), and reads its report. */
export async function pruneUnderEnv(o: PruneOptions, vars: Record<string, string>): Promise<{ dir: string; report: TrimReport }> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    await runPrune(o, () => {});
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return { dir: o.out, report: JSON.parse(fs.readFileSync(path.join(o.out, 'trim-report.json'), 'utf8')) as TrimReport };
}

/** The first `chars` characters of the demo's calibration text, as `dir`/calib.txt; returns its path. */
export function shortCalib(dir: string, chars: number): string {
  const calib = path.join(dir, 'calib.txt');
  fs.writeFileSync(calib, fs.readFileSync(path.join(ROOT, 'media', 'data', 'calib.txt'), 'utf8').slice(0, chars));
  return calib;
}

/**
 * `model` pruned fused or block by block (TRIM_FUSED=1/0) into a folder of `dir` named for the
 * run, on the CPU with no evaluation, over an existing folder: `options` over the defaults, `env`
 * set while it runs (pruneUnderEnv).
 */
export function pruneFusedOrNot(
  dir: string,
  model: string,
  fused: boolean,
  options: Partial<PruneOptions>,
  env: Record<string, string> = {},
): Promise<{ dir: string; report: TrimReport }> {
  const name = [path.basename(model), fused ? 'fused' : 'blocks', options.trim ? 'trim' : 'wanda', options.blocksPerRun ?? 1];
  const o: PruneOptions = {
    ...defaultPruneOptions(),
    model,
    out: path.join(dir, `${name.join('-')}-${Object.values(env).join('-')}`),
    overwrite: true,
    eval: null,
    ep: 'cpu',
    ...options,
  };
  return pruneUnderEnv(o, { TRIM_FUSED: fused ? '1' : '0', ...env });
}
