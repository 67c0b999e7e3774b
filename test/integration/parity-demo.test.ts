/**
 * The demo model's rows of REFERENCE.md §5 on CPU, full protocol (--nsamples 128 --seqlen 512,
 * calib.txt, eval-brown.txt), against the float32 column (we compute in float32). Tolerances from
 * the reference: dense 0.5%, 70% runs 1% (TRIM 3%), 80% runs 3%; achieved sparsity within 0.002.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, tmp, within } from './cli';

const cache = tmp('trim-cache-');
const outRoot = tmp('trim-parity-');
const rows: [string, string[], number, number, number][] = [
  // name, flags, reference ppl (fp32 column), tolerance, reference sparsity
  ['wanda 70%', ['--sparsity', '0.7'], 221.24, 0.01, 0.699],
  ['wanda + TRIM 70%', ['--sparsity', '0.7', '--trim'], 222.53, 0.03, 0.698],
  ['wanda 80%', ['--sparsity', '0.8'], 656.69, 0.03, 0.798],
  ['wanda + TRIM 80%', ['--sparsity', '0.8', '--trim'], 611.47, 0.03, 0.798],
  ['wanda + OWL 70%', ['--sparsity', '0.7', '--allocation', 'owl'], 204.13, 0.01, 0.698],
  ['magnitude 70%', ['--sparsity', '0.7', '--score', 'magnitude'], 249.73, 0.01, 0.699],
];
const results = new Map<string, number>();

for (const [name, flags, ref, tol, sp] of rows) {
  test(`demo ${name}: perplexity ${ref} within ${tol * 100}%, sparsity ${sp} ± 0.002`, () => {
    const out = path.join(outRoot, name.replace(/\W+/g, '-'));
    const r = cli(['prune', '--out', out, '--nsamples', '128', '--seqlen', '512', '--ep', 'cpu', '--json', ...flags], {
      TRIM_CACHE_DIR: cache,
    });
    assert.equal(r.status, 0, r.stderr);
    const s = r.last as { perplexity: number; dense_perplexity: number; sparsity: number; out: string; seconds: { total: number } };
    assert.ok(within(s.dense_perplexity, 113.76, 0.005), `dense ${s.dense_perplexity}`);
    assert.ok(within(s.perplexity, ref, tol), `perplexity ${s.perplexity} vs ${ref}`);
    assert.ok(Math.abs(s.sparsity - sp) <= 0.002, `sparsity ${s.sparsity} vs ${sp}`);
    assert.ok(fs.existsSync(path.join(out, 'trim-report.json')));
    assert.ok(!fs.existsSync(path.join(outRoot, `.${path.basename(out)}.trim-partial`)));
    results.set(name, s.perplexity);
    console.log(
      `${name}: perplexity ${s.perplexity.toFixed(2)} (ref ${ref}), sparsity ${s.sparsity.toFixed(4)}, ${s.seconds.total.toFixed(0)} s`,
    );
    fs.rmSync(out, { recursive: true, force: true });
  });
}

test('TRIM at 80% beats Wanda at 80% (as in the reference: 611.5 vs 656.7)', () => {
  const t = results.get('wanda + TRIM 80%');
  const w = results.get('wanda 80%');
  assert.ok(t !== undefined && w !== undefined, 'both 80% rows ran');
  assert.ok(t! < w!, `TRIM ${t} vs Wanda ${w}`);
  fs.rmSync(cache, { recursive: true, force: true });
  fs.rmSync(outRoot, { recursive: true, force: true });
});
