/** Two jobs aimed at one --out: the second is refused and leaves the first job's work alone. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor } from '../../src/contract';
import { ensureBuilt, ROOT, tmp } from './cli';

test('a second job on the same --out is refused while the first runs; the first completes', async () => {
  ensureBuilt();
  const dir = tmp('trim-lock-');
  const out = path.join(dir, 'out');
  const args = [
    path.join(ROOT, 'dist', 'cli.js'),
    'prune',
    '--out',
    out,
    '--overwrite',
    '--nsamples',
    '8',
    '--seqlen',
    '64',
    '--no-eval',
    '--ep',
    'cpu',
    '--trim',
    '--json',
  ];
  const first = spawn(process.execPath, args, { stdio: 'ignore' }); // unread pipes would fill and block it
  const done = new Promise<number | null>((r) => first.on('close', r));
  const t0 = Date.now();
  while (!fs.existsSync(partialDirFor(out))) {
    assert.ok(Date.now() - t0 < 60000, 'the first job created its partial folder');
    await new Promise((r) => setTimeout(r, 50));
  }
  const second = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(second.status, 2);
  assert.match(second.stderr, /another TRIM job \(process \d+\) is writing/);
  assert.equal(await done, 0, 'the first job completed');
  assert.ok(fs.existsSync(path.join(out, 'trim-report.json')));
  assert.ok(!fs.existsSync(partialDirFor(out)));
  assert.deepEqual(fs.readdirSync(dir), ['out'], 'no lock, journal or partial folder left beside the output');
  fs.rmSync(dir, { recursive: true, force: true });
});
