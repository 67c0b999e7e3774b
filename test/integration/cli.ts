/** Runs the built CLI (dist/cli.js) and returns its JSON lines. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PruneOptions, TrimReport } from '../../src/contract';
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
