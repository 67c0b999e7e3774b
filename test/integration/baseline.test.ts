/**
 * `--baseline` (issue 19): a TRIM run carries the same job with TRIM off. Compared against a
 * plain run made separately by the CLI with the same options (outside the code under test's
 * baseline path): same perplexity, sparsity and per-layer achieved sparsity; the second TRIM run
 * reuses the cached baseline; a run cancelled during its baseline leaves nothing behind; a worker
 * killed during its baseline leaves only the job's partial folder (which the extension removes);
 * --baseline without --trim is refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { TrimReport } from '../../src/contract';
import { cli, ROOT, tmp } from './cli';

const COMMON = ['--nsamples', '8', '--seqlen', '64', '--max-eval-windows', '4', '--ep', 'cpu', '--json'];

describe('prune --trim --baseline', () => {
  const root = tmp('trim-baseline-');
  const env = { TRIM_CACHE_DIR: path.join(root, 'cache') };
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const read = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'trim-report.json'), 'utf8')) as TrimReport;

  it('reports the plain run of the same protocol beside TRIM, then reuses it', { timeout: 300_000 }, () => {
    const plain = cli(['prune', ...COMMON, '--out', path.join(root, 'plain')], env);
    assert.equal(plain.status, 0, plain.stderr);
    const a = cli(['prune', '--trim', '--iterations', '1', '--baseline', ...COMMON, '--out', path.join(root, 'trim-a')], env);
    assert.equal(a.status, 0, a.stderr);
    const p = read(path.join(root, 'plain'));
    const r = read(path.join(root, 'trim-a'));
    assert.ok(r.baseline, 'no baseline in the report');
    assert.equal(r.baseline.cached, false);
    assert.equal(r.baseline.perplexity!.perplexity, p.perplexity.pruned!.perplexity);
    assert.equal(r.baseline.sparsity, p.sparsity);
    assert.deepEqual(
      r.baseline.blocks.map((b) => b.layers.map((l) => l.achieved)),
      p.blocks.map((b) => b.layers.map((l) => l.achieved)),
    );
    assert.equal(a.last.baseline_perplexity, p.perplexity.pruned!.perplexity);
    assert.equal(r.perplexity.dense!.perplexity, p.perplexity.dense!.perplexity);
    // Only the cache files remain in the cache folder (the baseline's checkpoint is gone).
    assert.deepEqual(
      fs.readdirSync(env.TRIM_CACHE_DIR).filter((f) => !f.endsWith('.json')),
      [],
    );
    const b = cli(['prune', '--trim', '--iterations', '2', '--baseline', ...COMMON, '--out', path.join(root, 'trim-b')], env);
    assert.equal(b.status, 0, b.stderr);
    const rb = read(path.join(root, 'trim-b'));
    assert.equal(rb.baseline!.cached, true);
    assert.equal(rb.baseline!.perplexity!.perplexity, p.perplexity.pruned!.perplexity);
    // Without --baseline the report has none (older readers see what they always saw).
    assert.equal(read(path.join(root, 'plain')).baseline, undefined);
  });

  it('leaves no baseline folder when cancelled during the baseline', { timeout: 120_000 }, async () => {
    const cache = path.join(root, 'cache-cancel');
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'dist', 'cli.js'), 'prune', '--trim', '--baseline', ...COMMON, '--out', path.join(root, 'cancelled')],
      {
        cwd: ROOT,
        env: { ...process.env, TRIM_CACHE_DIR: cache },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    await new Promise<void>((ok) =>
      child.stdout.on('data', (d) => {
        out += String(d);
        if (out.includes('Baseline:') && out.includes('"block_start"') === false && out.includes('"progress"')) ok();
      }),
    );
    child.kill('SIGINT');
    assert.ok(!out.includes('"type":"start"'), 'cancelled after the baseline, not during it');
    const code = await new Promise<number | null>((ok) => child.on('exit', ok));
    assert.equal(code, 2);
    // Nothing of the baseline nor of the job is left beside --out, nor in the cache but its files.
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.includes('cancelled')),
      [],
    );
    assert.ok(
      (fs.existsSync(cache) ? fs.readdirSync(cache) : []).every((f) => f.endsWith('.json')),
      `left in the cache: ${fs.existsSync(cache) ? fs.readdirSync(cache) : ''}`,
    );
  });

  it("keeps the baseline of a killed job inside the job's partial folder", { timeout: 120_000 }, async () => {
    const cache = path.join(root, 'cache-kill');
    const out = path.join(root, 'killed');
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'prune', '--trim', '--baseline', ...COMMON, '--out', out], {
      cwd: ROOT,
      env: { ...process.env, TRIM_CACHE_DIR: cache },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    await new Promise<void>((ok) =>
      child.stdout.on('data', (d) => {
        seen += String(d);
        if (seen.includes('Baseline:') && seen.includes('"progress"')) ok();
      }),
    );
    child.kill('SIGKILL');
    assert.ok(!seen.includes('"type":"start"'), 'killed after the baseline, not during it');
    await new Promise((ok) => child.on('exit', ok));
    // What the job manager removes after killing a worker whose lock names its job (cleanAfterDeath):
    // the output's lock and partialDirFor(out), which holds the baseline. Nothing else remains.
    assert.deepEqual(
      fs
        .readdirSync(root)
        .filter((f) => f.includes('killed'))
        .sort(),
      ['.killed.trim-lock', '.killed.trim-partial'],
    );
    assert.ok(
      (fs.existsSync(cache) ? fs.readdirSync(cache) : []).every((f) => f.endsWith('.json')),
      `left in the cache: ${fs.existsSync(cache) ? fs.readdirSync(cache) : ''}`,
    );
  });

  it('refuses --baseline without --trim', () => {
    const r = cli(['prune', '--baseline', ...COMMON, '--out', path.join(root, 'x')], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error: --baseline: .*--trim/m);
  });
});
