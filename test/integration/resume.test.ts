// --resume on the demo model through the real CLI: a run killed (SIGKILL) or interrupted (SIGINT)
// at various moments continues from its last finished block, and the result equals an
// uninterrupted run bit for bit (every output file's bytes, the report's row sparsities, metrics
// and perplexity). A checkpoint made with other options or from a changed source is refused
// without being touched; a run without --resume starts over.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type TrimReport } from '../../src/contract';
import { copyDemo, DEMO, hashTree, ROOT, tmpDir } from '../unit/badInputs';
import { ensureBuilt, streamCli, type CliEvent, type StreamedCli } from './cli';

const root = tmpDir('trim-resume-');
const cacheDir = path.join(root, 'cache');
const demoHash = hashTree(DEMO);
let resumesChecked = 0;
let interruptions = 0;
after(() => {
  console.log(`resumes checked bit for bit: ${resumesChecked} (after ${interruptions} interruptions); the source was never modified`);
  fs.rmSync(root, { recursive: true, force: true });
});

type Event = CliEvent;

/** Runs the CLI; `stopAt` sees each JSON event and returns a signal to send (once), or null. */
function run(args: string[], stopAt?: (e: Event) => NodeJS.Signals | null): Promise<StreamedCli> {
  let sent = false;
  return streamCli(args, { TRIM_CACHE_DIR: cacheDir }, (e, _events, child) => {
    const sig = !sent && stopAt ? stopAt(e) : null;
    if (sig) {
      sent = true;
      child.kill(sig);
    }
  }).done;
}

const TRIM = ['--trim', '--iterations', '2', '--nsamples', '8', '--seqlen', '64', '--no-eval', '--ep', 'cpu', '--json'];
const OWL = ['--allocation', 'owl', '--nsamples', '8', '--seqlen', '64', '--max-eval-windows', '2', '--ep', 'cpu', '--json'];

/** The output equals the reference: every file's bytes, and the report's numbers. */
function assertSameResult(out: string, ref: string): void {
  const files = fs
    .readdirSync(ref)
    .filter((f) => f !== 'trim-report.json')
    .sort();
  assert.deepEqual(fs.readdirSync(out).sort(), [...files, 'trim-report.json'].sort());
  for (const f of files)
    assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f))), `${f} differs from the uninterrupted run`);
  const a = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8')) as TrimReport;
  const b = JSON.parse(fs.readFileSync(path.join(ref, 'trim-report.json'), 'utf8')) as TrimReport;
  assert.equal(a.sparsity, b.sparsity);
  assert.deepEqual(a.perplexity.pruned?.perplexity, b.perplexity.pruned?.perplexity);
  assert.deepEqual(a.perplexity.dense?.perplexity, b.perplexity.dense?.perplexity);
  assert.equal(a.blocks.length, b.blocks.length);
  a.blocks.forEach((blk, i) => {
    const rb = b.blocks[i];
    assert.deepEqual(
      [blk.index, blk.target, blk.achieved, blk.outlierRatio],
      [rb.index, rb.target, rb.achieved, rb.outlierRatio],
      `block ${i}`,
    );
    blk.layers.forEach((l, j) => {
      const rl = rb.layers[j];
      assert.deepEqual(l.rowSparsity, rl.rowSparsity, `block ${i} ${l.name}: row sparsities differ`);
      assert.deepEqual(
        [l.name, l.target, l.achieved, l.metricBefore, l.metricAfter, l.lr, l.iteration],
        [rl.name, rl.target, rl.achieved, rl.metricBefore, rl.metricAfter, rl.lr, rl.iteration],
      );
    });
  });
  assert.ok(!fs.existsSync(path.join(out, '.trim-resume')));
  assert.ok(!fs.existsSync(partialDirFor(out)));
}

const errorCode = (r: StreamedCli): string | undefined => (r.events.at(-1) as { error?: { code: string } } | undefined)?.error?.code;
const resumedFrom = (r: StreamedCli): number | null => {
  const m = r.events.map((e) => (e.type === 'log' ? /from block (\d+) of/.exec(String(e.message)) : null)).find(Boolean);
  return m ? Number(m[1]) : null;
};
const atBlockEnd =
  (b: number) =>
  (e: Event): NodeJS.Signals | null =>
    e.type === 'block_end' && e.block === b ? 'SIGKILL' : null;

describe('--resume', () => {
  const refTrim = path.join(root, 'ref-trim');
  const refOwl = path.join(root, 'ref-owl');
  before(async () => {
    ensureBuilt();
    const [a, b] = [await run(['prune', '--out', refTrim, ...TRIM]), await run(['prune', '--out', refOwl, ...OWL])];
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
  });

  it('TRIM: killed after block 2 ends, resumed from block 3: identical', async () => {
    const out = path.join(root, 'k2');
    const first = await run(['prune', '--out', out, ...TRIM], atBlockEnd(2));
    interruptions++;
    assert.equal(first.signal, 'SIGKILL');
    assert.ok(fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), 'the checkpoint survives a kill');
    const second = await run(['prune', '--out', out, '--resume', ...TRIM]);
    assert.equal(second.status, 0, second.stderr);
    assert.ok((resumedFrom(second) ?? 0) >= 3, `resumed from ${resumedFrom(second)}`);
    // The resumed run reports every block: the restored ones, then the new ones.
    assert.deepEqual(
      second.events.filter((e) => e.type === 'block_end').map((e) => e.block),
      [0, 1, 2, 3, 4, 5],
    );
    assertSameResult(out, refTrim);
    resumesChecked++;
  });

  it('TRIM: killed twice (inside block 1, inside block 4), resumed twice: identical', async () => {
    const out = path.join(root, 'twice');
    let layers = 0;
    const r1 = await run(['prune', '--out', out, '--resume', ...TRIM], (e) =>
      e.type === 'layer' && e.block === 1 && ++layers === 3 ? 'SIGKILL' : null,
    );
    interruptions++;
    assert.equal(r1.signal, 'SIGKILL');
    layers = 0;
    const r2 = await run(['prune', '--out', out, '--resume', ...TRIM], (e) =>
      e.type === 'layer' && e.block === 4 && ++layers === 5 ? 'SIGKILL' : null,
    );
    interruptions++;
    assert.equal(r2.signal, 'SIGKILL');
    const from2 = resumedFrom(r2);
    assert.ok(from2 !== null && from2 >= 1 && from2 <= 4, `second run resumed from ${from2}`);
    const r3 = await run(['prune', '--out', out, '--resume', ...TRIM]);
    assert.equal(r3.status, 0, r3.stderr);
    assert.ok((resumedFrom(r3) ?? 0) >= 4);
    assertSameResult(out, refTrim);
    resumesChecked += 2;
  });

  it('killed before the first checkpoint: --resume starts from the first block', async () => {
    const out = path.join(root, 'early');
    const r1 = await run(['prune', '--out', out, ...TRIM], (e) => (e.type === 'start' ? 'SIGKILL' : null));
    interruptions++;
    assert.equal(r1.signal, 'SIGKILL');
    const r2 = await run(['prune', '--out', out, '--resume', ...TRIM]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.ok(r2.events.some((e) => e.type === 'log' && /Nothing to resume/.test(String(e.message))));
    assertSameResult(out, refTrim);
    resumesChecked++;
  });

  it('OWL + evaluation: killed during the pruned evaluation, resumed after the last block: identical', async () => {
    const out = path.join(root, 'owl-eval');
    const r1 = await run(['prune', '--out', out, ...OWL], (e) => (e.type === 'phase' && e.phase === 'eval' ? 'SIGKILL' : null));
    interruptions++;
    assert.equal(r1.signal, 'SIGKILL');
    const r2 = await run(['prune', '--out', out, '--resume', ...OWL]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(resumedFrom(r2), 6);
    assert.ok(!r2.events.some((e) => e.type === 'block_start'), 'no block pruned again');
    assertSameResult(out, refOwl);
    resumesChecked++;
  });

  it('OWL: killed after block 0, resumed with the stored block targets: identical', async () => {
    const out = path.join(root, 'owl-b0');
    const r1 = await run(['prune', '--out', out, ...OWL], atBlockEnd(0));
    interruptions++;
    assert.equal(r1.signal, 'SIGKILL');
    const r2 = await run(['prune', '--out', out, '--resume', ...OWL]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.ok(!r2.events.some((e) => e.type === 'phase' && e.phase === 'allocation'), 'the OWL pass is not run again');
    assertSameResult(out, refOwl);
    resumesChecked++;
  });

  it('Ctrl-C (SIGINT) of a --resume run keeps its checkpoint; the next --resume finishes it identically', async () => {
    const out = path.join(root, 'sigint');
    const r1 = await run(['prune', '--out', out, '--resume', ...TRIM], (e) => (e.type === 'block_end' && e.block === 3 ? 'SIGINT' : null));
    interruptions++;
    assert.equal(r1.status, 2, r1.stderr);
    assert.match(
      r1.stderr,
      /^error: Cancelled; the finished blocks are kept in .*\.k?sigint\.trim-partial\. Run again with --resume to continue\./m,
    );
    assert.ok(fs.existsSync(partialDirFor(out)));
    const r2 = await run(['prune', '--out', out, '--resume', ...TRIM]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.ok((resumedFrom(r2) ?? 0) >= 4);
    assertSameResult(out, refTrim);
    resumesChecked++;
  });

  it('Ctrl-C of a run without --resume removes everything', async () => {
    const parent = path.join(root, 'plain-sigint');
    fs.mkdirSync(parent);
    const out = path.join(parent, 'out');
    const r = await run(['prune', '--out', out, ...TRIM], (e) => (e.type === 'block_start' && e.block === 2 ? 'SIGINT' : null));
    interruptions++;
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error: Cancelled; nothing was written\./m);
    assert.equal(errorCode(r), 'E_CANCELLED');
    assert.deepEqual(fs.readdirSync(parent), []);
  });

  it('refuses a checkpoint made with other options, from a changed source, or damaged; a plain run starts over', async () => {
    const model = path.join(root, 'model-copy');
    copyDemo(model);
    const out = path.join(root, 'refuse');
    const args = ['prune', '--model', model, '--out', out, ...TRIM];
    const r1 = await run(args, atBlockEnd(1));
    interruptions++;
    assert.equal(r1.signal, 'SIGKILL');
    const partial = partialDirFor(out);
    const kept = hashTree(partial);

    const other = await run([...args, '--resume', '--sparsity', '0.6']);
    assert.equal(other.status, 2, other.stderr);
    assert.match(
      other.stderr,
      /^error: --resume: the interrupted run in .* was made with other options or from another source \(sparsity was 0\.7, now 0\.6\)\. Run again with the same options and source, or without --resume to start over\./m,
    );
    assert.equal(errorCode(other), 'E_OPTION');
    assert.deepEqual(hashTree(partial), kept, 'a refused resume touches nothing');

    const stateFile = path.join(partial, '.trim-resume', 'state.json');
    const acts = path.join(partial, '.trim-resume', JSON.parse(fs.readFileSync(stateFile, 'utf8')).acts.file);
    const actsBytes = fs.readFileSync(acts);
    fs.truncateSync(acts, 1000);
    const damaged = await run([...args, '--resume']);
    assert.equal(damaged.status, 2, damaged.stderr);
    assert.match(
      damaged.stderr,
      /^error: --resume: .*\/\.trim-resume\/acts-\d{4}\.bin is damaged \(1000 bytes, not the \d+ bytes of the inputs of block 2\); the checkpoint was left as it is\. Run without --resume to start over\.$/m,
    );
    assert.equal(damaged.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1);
    assert.doesNotMatch(damaged.stderr, /\n\s+at /);
    assert.equal(errorCode(damaged), 'E_OUTPUT');
    fs.writeFileSync(acts, actsBytes);
    assert.deepEqual(hashTree(partial), kept);

    // An edit of config.json's content (same size, same time) is a changed source.
    const cfg = path.join(model, 'config.json');
    const st = fs.statSync(cfg);
    const cfgText = fs.readFileSync(cfg);
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": 2e-06'));
    fs.utimesSync(cfg, st.atime, st.mtime);
    assert.equal(fs.statSync(cfg).size, st.size);
    const changed = await run([...args, '--resume']);
    assert.equal(changed.status, 2, changed.stderr);
    assert.match(changed.stderr, /from another source \(config\.json changed since\)/);
    assert.deepEqual(hashTree(partial), kept);
    fs.writeFileSync(cfg, cfgText);

    // Without --resume the stale checkpoint is discarded and the run starts over.
    const fresh = await run(args);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.equal(resumedFrom(fresh), null);
    assertSameResult(out, refTrim);
  });

  it('the source (demo model) was never modified', () => assert.deepEqual(hashTree(DEMO), demoHash));
});
