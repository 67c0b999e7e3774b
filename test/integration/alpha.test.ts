/**
 * `prune --allocation alpha` end to end through the built CLI on the 3-shard fixture, with small
 * CI settings: α per block and per layer in the report, targets spread by α around the target,
 * the log line, the cache reused by a second run, and the clear error when ε pushes a block to 1.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrimReport } from '../../src/contract';

const ROOT = path.resolve(__dirname, '../..');
const SHARED = path.resolve(ROOT, '../shared');
const FIXTURE = path.join(SHARED, 'fixtures', 'trim-fixture-qwen2');
const hasShared = fs.existsSync(FIXTURE);
const skip = !hasShared && `needs ${FIXTURE} (the shared fixtures; CI has them)`;

function run(args: string[], cache: string): { status: number | null; lines: Record<string, unknown>[]; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TRIM_CACHE_DIR: cache },
    maxBuffer: 256 * 2 ** 20,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, lines, stderr: r.stderr };
}

test(
  'fixture: --allocation alpha at 70% reports α per block and layer; a second run reuses the cached α; ε 0.3 is a clear error',
  { skip },
  () => {
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alpha-it-'));
    const cache = path.join(tmp, 'cache');
    const common = [
      'prune',
      '--model',
      FIXTURE,
      '--allocation',
      'alpha',
      '--sparsity',
      '0.7',
      '--nsamples',
      '16',
      '--seqlen',
      '128',
      '--max-eval-windows',
      '8',
      '--calib',
      path.join(SHARED, 'data', 'calib.txt'),
      '--eval',
      path.join(SHARED, 'data', 'eval-brown.txt'),
      '--ep',
      'cpu',
      '--json',
      '--overwrite',
    ];
    try {
      const out = path.join(tmp, 'out');
      const r = run([...common, '--alpha-epsilon', '0.2', '--out', out], cache);
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8')) as TrimReport;
      assert.equal(report.blocks.length, 8);
      for (const blk of report.blocks) {
        assert.ok(typeof blk.alpha === 'number' && blk.alpha > 1, `block ${blk.index} α ${blk.alpha}`);
        assert.equal(blk.layers.length, 7);
        for (const l of blk.layers) assert.ok(typeof l.alpha === 'number' && l.alpha > 1, `${blk.index}.${l.name} α ${l.alpha}`);
        const mean = blk.layers.reduce((a, l) => a + (l.alpha as number), 0) / blk.layers.length;
        assert.ok(Math.abs(mean - (blk.alpha as number)) < 1e-12);
      }
      // Targets follow α (larger α → more sparsity), span 1±ε up to the common scale, and average to 0.7.
      const byAlpha = report.blocks.slice().sort((x, y) => (x.alpha as number) - (y.alpha as number));
      for (let i = 1; i < byAlpha.length; i++) assert.ok(byAlpha[i].target >= byAlpha[i - 1].target);
      const lo = byAlpha[0].target;
      const hi = byAlpha[byAlpha.length - 1].target;
      assert.ok(Math.abs(hi / lo - 1.2 / 0.8) < 1e-9, `target ratio ${hi / lo}`);
      const mean = report.blocks.reduce((a, x) => a + x.target, 0) / report.blocks.length;
      assert.ok(Math.abs(mean - 0.7) < 1e-9, `mean target ${mean}`);
      assert.ok(Math.abs(report.sparsity - 0.7) < 0.005, `achieved ${report.sparsity}`);
      assert.ok(report.seconds.allocation > 0);
      const log = r.lines.find((e) => e.type === 'log' && String(e.message).startsWith('AlphaPruning'));
      assert.ok(log, 'an AlphaPruning log line with the block targets');
      assert.match(String(log.message), /block targets: (\d\.\d{3} ?){8}$/);
      const summary = r.lines[r.lines.length - 1] as { type: string; perplexity: number };
      assert.equal(summary.type, 'summary');
      console.log(
        `fixture alpha 70% (ε 0.2, CI settings): ppl ${summary.perplexity.toFixed(2)}, allocation ${report.seconds.allocation.toFixed(1)} s, block α ${report.blocks.map((x) => (x.alpha as number).toFixed(3)).join(' ')}`,
      );

      // Same checkpoint, another ε: every block's α comes from the cache.
      const r2 = run([...common, '--alpha-epsilon', '0.1', '--out', path.join(tmp, 'out2')], cache);
      assert.equal(r2.status, 0, r2.stderr);
      const log2 = r2.lines.find((e) => e.type === 'log' && String(e.message).startsWith('AlphaPruning'));
      assert.match(String(log2?.message), /α of 8\/8 blocks from the cache/);
      const report2 = JSON.parse(fs.readFileSync(path.join(tmp, 'out2', 'trim-report.json'), 'utf8')) as TrimReport;
      assert.deepEqual(
        report2.blocks.map((x) => x.alpha),
        report.blocks.map((x) => x.alpha),
      );

      // ε 0.3 would give the block with the largest α a sparsity of 1.0026 on this fixture: a typed error, nothing written.
      const r3 = run([...common, '--alpha-epsilon', '0.3', '--out', path.join(tmp, 'out3')], cache);
      assert.equal(r3.status, 2, r3.stderr);
      const err = r3.lines.find((e) => e.type === 'error') as { error: { code: string; message: string } } | undefined;
      assert.equal(err?.error.code, 'E_OPTION');
      assert.match(err!.error.message, /outside \[0, 1\).*lower --alpha-epsilon or --sparsity/);
      assert.ok(!fs.existsSync(path.join(tmp, 'out3')));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);
