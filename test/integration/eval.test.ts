/** Perplexity on CPU against REFERENCE.md §5 (eval-brown.txt, seqlen 512, all 310 windows). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { cli, FIXTURE, hasShared, ROOT, within } from './cli';

const text = path.join(ROOT, 'media', 'data', 'eval-brown.txt');

test('demo model: perplexity 113.76 within 0.5%', () => {
  const r = cli([
    'eval',
    '--model',
    path.join(ROOT, 'media/models/trim-demo-qwen2-small'),
    '--text',
    text,
    '--seqlen',
    '512',
    '--ep',
    'cpu',
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.last.windows, 310);
  assert.equal(r.last.tokens, 159023);
  assert.equal(r.last.ep, 'cpu');
  assert.ok(within(r.last.perplexity as number, 113.76, 0.005), `perplexity ${r.last.perplexity}`);
  console.log(`demo perplexity ${r.last.perplexity} in ${r.last.seconds} s`);
});

test(
  'fixture (28M, 3 shards): perplexity 122.04 within 0.5%',
  { skip: !hasShared && 'needs ../shared/fixtures/trim-fixture-qwen2 (CI has it)' },
  () => {
    const r = cli(['eval', '--model', FIXTURE, '--text', text, '--seqlen', '512', '--ep', 'cpu', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.last.windows, 310);
    assert.ok(within(r.last.perplexity as number, 122.04, 0.005), `perplexity ${r.last.perplexity}`);
    console.log(`fixture perplexity ${r.last.perplexity} in ${r.last.seconds} s`);
  },
);

test('a bad model folder is a typed error on stderr, not a stack trace', () => {
  const r = cli(['eval', '--model', '/nonexistent/model', '--text', text, '--json']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^error: \/nonexistent\/model: no such folder/m);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  assert.equal((r.last.error as { code: string }).code, 'E_MODEL_NOT_FOUND');
});
