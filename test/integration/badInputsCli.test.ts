// Bad checkpoints and impossible options through the real CLI (dist/cli.js) and through runPrune:
// exit code 2, one readable 'error: …' line and no stack trace, the typed code in the JSON
// stream, nothing written beside --out, and the source folder byte for byte as it was.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions } from '../../src/contract';
import { isTrimError } from '../../src/core/errors';
import { defaultPruneOptions } from '../../src/core/options';
import { runPrune } from '../../src/core/prune/prune';
import { BAD_CHECKPOINTS, CALIB, copyDemo, DEMO, hashTree, tmpDir } from '../unit/badInputs';
import { cli, type CliResult } from './cli';

const root = tmpDir('trim-bad-cli-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

function assertRefused(r: CliResult, code: string, message: RegExp): void {
  assert.equal(r.status, 2, `exit ${r.status}; stderr:\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1], /^error: /, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+/m, `a stack trace:\n${r.stderr}`);
  assert.deepEqual((r.last as { type?: string }).type, 'error', JSON.stringify(r.last));
  assert.equal((r.last as { error: { code: string } }).error.code, code, (r.last as { error: { message: string } }).error.message);
}

function assertNothingWritten(out: string): void {
  assert.ok(!fs.existsSync(out), `${out} was created`);
  assert.ok(!fs.existsSync(partialDirFor(out)), `${partialDirFor(out)} was left`);
}

const small = ['--nsamples', '2', '--seqlen', '32', '--no-eval', '--ep', 'cpu', '--json'];
const demoSmall = ['--nsamples', '8', '--seqlen', '64', '--no-eval', '--ep', 'cpu', '--json'];
let tried = 0;
after(() => console.log(`bad inputs tried through the CLI: ${tried}`));

describe('bad checkpoints through the CLI', () => {
  let i = 0;
  for (const c of BAD_CHECKPOINTS) {
    it(`${c.name} → exit 2, ${c.code}`, () => {
      const dir = path.join(root, `ckpt-${i++}`);
      fs.mkdirSync(dir);
      const model = c.build(dir);
      const before = hashTree(model);
      const out = path.join(root, `out-${i}`);
      const r = cli(['prune', '--model', model, '--out', out, ...(c.demo ? demoSmall : small)]);
      tried++;
      assertRefused(r, c.code, c.message);
      assertNothingWritten(out);
      assert.deepEqual(hashTree(model), before, 'the source changed');
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
});

describe('bad options through the CLI (demo model)', () => {
  const demoHash = hashTree(DEMO);
  const shortText = path.join(root, 'short.txt');
  fs.writeFileSync(shortText, fs.readFileSync(CALIB, 'utf8').slice(0, 3000));
  const copy = path.join(root, 'demo-copy');
  copyDemo(copy);
  const existing = path.join(root, 'existing-out');
  fs.mkdirSync(existing);
  fs.writeFileSync(path.join(existing, 'keep.txt'), 'mine');

  const cases: [string, string[], string, RegExp, string?][] = [
    ['sparsity 1', ['--sparsity', '1'], 'E_OPTION', /error: --sparsity: 1 is out of range \[0, 1\)/],
    ['sparsity -0.1', ['--sparsity', '-0.1'], 'E_OPTION', /--sparsity: -0\.1 is out of range/],
    ['N:M 4:2', ['--nm', '4:2'], 'E_OPTION', /--nm: 4:2 is invalid/],
    ['N:M "2/4"', ['--nm', '2/4'], 'E_OPTION', /--nm: "2\/4" is not of the form N:M/],
    ['N:M with TRIM', ['--nm', '2:4', '--trim'], 'E_OPTION', /N:M structure and TRIM cannot be combined/],
    ['N:M with OWL', ['--nm', '2:4', '--allocation', 'owl'], 'E_OPTION', /cannot be combined with a layer allocation/],
    ['iterations -1', ['--trim', '--iterations', '-1'], 'E_OPTION', /--iterations: must be an integer ≥ 0, got -1/],
    ['nsamples 0', ['--nsamples', '0'], 'E_OPTION', /--nsamples: must be an integer ≥ 1/],
    [
      'nsamples × seqlen longer than the text',
      ['--nsamples', '64', '--seqlen', '512', '--calib', shortText],
      'E_OPTION',
      /--nsamples 64 × --seqlen 512 needs 32768 calibration tokens but .*short\.txt has \d+/,
    ],
    ['seqlen beyond the model positions', ['--seqlen', '2048'], 'E_OPTION', /--seqlen 2048 exceeds the model's 1024 positions/],
    [
      'calibration text missing',
      ['--calib', path.join(root, 'nope.txt')],
      'E_TEXT',
      /Calibration text .*nope\.txt: cannot be read \(ENOENT\)/,
    ],
    ['evaluation text missing', ['--eval', path.join(root, 'nope.txt')], 'E_TEXT', /Evaluation text .*nope\.txt: cannot be read/],
    ['output folder exists', ['--out', existing], 'E_OUTPUT', /already exists\. Choose another folder or pass --overwrite/, existing],
    ['output folder is the source', ['--model', copy, '--out', copy], 'E_OPTION', /is the source model folder/, copy],
    [
      'output folder inside the source',
      ['--model', copy, '--out', path.join(copy, 'pruned')],
      'E_OPTION',
      /lies inside the source model folder/,
    ],
    [
      'output folder contains the source',
      ['--model', copy, '--out', root, '--overwrite'],
      'E_OPTION',
      /contains the source model folder/,
      root,
    ],
  ];
  for (const [name, args, code, message, preexisting] of cases) {
    it(`${name} → exit 2, ${code}`, () => {
      const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : path.join(root, `opt-out-${name.replace(/\W+/g, '-')}`);
      const pre = preexisting ? hashTree(preexisting) : null;
      const r = cli(['prune', ...demoSmall, ...(args.includes('--out') ? [] : ['--out', out]), ...args]);
      tried++;
      assertRefused(r, code, message);
      if (preexisting) assert.deepEqual(hashTree(preexisting), pre, `${preexisting} changed`);
      else assertNothingWritten(out);
      assert.ok(!fs.existsSync(partialDirFor(out)));
    });
  }

  it('unparseable values are usage errors: exit 2 and a readable line', () => {
    for (const args of [
      ['--sparsity', 'abc'],
      ['--ep', 'rocm'],
      ['--nsamples', '1.5'],
    ]) {
      const out = path.join(root, 'usage-out');
      const r = cli(['prune', '--out', out, ...args]);
      tried++;
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^error: option '--\w+/m);
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+/m);
      assertNothingWritten(out);
    }
  });

  it('--overwrite replaces only an empty folder or an earlier TRIM output, and leaves no temporary folder', () => {
    const out = path.join(root, 'overwrite-me');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'old.txt'), 'old');
    // A folder that is not a TRIM output (issue 16, class 3): refused, untouched.
    const refused = cli(['prune', '--out', out, '--overwrite', ...demoSmall]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /^error: --out .+ exists and is not a TRIM output \(it holds no trim-report\.json\); --overwrite only replaces/m,
    );
    assert.deepEqual(fs.readdirSync(out), ['old.txt']);
    // Empty: replaced.
    fs.rmSync(path.join(out, 'old.txt'));
    assert.equal(cli(['prune', '--out', out, '--overwrite', ...demoSmall]).status, 0);
    // An earlier TRIM output (with a file of the user's in it): replaced whole.
    fs.writeFileSync(path.join(out, 'old.txt'), 'old');
    const r = cli(['prune', '--out', out, '--overwrite', ...demoSmall]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!fs.existsSync(path.join(out, 'old.txt')));
    assert.ok(fs.existsSync(path.join(out, 'model.safetensors')));
    assert.ok(!fs.existsSync(path.join(out, '.trim-resume')), 'the resume checkpoint is not part of the output');
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.includes('trim-partial')),
      [],
    );
  });

  it('the demo model was never modified', () => assert.deepEqual(hashTree(DEMO), demoHash));
});

describe('bad options through runPrune (the core)', () => {
  const opts = (patch: Partial<PruneOptions>): PruneOptions => ({
    ...defaultPruneOptions(),
    nsamples: 8,
    seqlen: 64,
    eval: null,
    ep: 'cpu',
    out: path.join(root, 'core-out'),
    ...patch,
  });
  const cases: [string, Partial<PruneOptions>, string, RegExp][] = [
    ['seqlen beyond the positions', { seqlen: 4096 }, 'E_OPTION', /--seqlen 4096 exceeds the model's 1024 positions/],
    [
      'nsamples × seqlen longer than the text',
      { nsamples: 4000, seqlen: 1024 },
      'E_OPTION',
      /--nsamples 4000 × --seqlen 1024 needs 4096000 calibration tokens/,
    ],
    ['sparsity outside [0, 1)', { sparsity: 1 }, 'E_OPTION', /--sparsity/],
    ['N:M with TRIM', { nm: '2:4', trim: true }, 'E_OPTION', /cannot be combined/],
    ['iterations < 0', { iterations: -3 }, 'E_OPTION', /--iterations/],
    ['output folder exists', { out: root }, 'E_OUTPUT', /already exists/],
    ['output folder is the source', { out: DEMO, overwrite: true }, 'E_OPTION', /is the source model folder/],
    ['output folder inside the source', { out: path.join(DEMO, 'x') }, 'E_OPTION', /lies inside the source/],
  ];
  for (const [name, patch, code, message] of cases) {
    it(name, async () => {
      const o = opts(patch);
      const events: string[] = [];
      await assert.rejects(
        runPrune(o, (e) => events.push(e.type)),
        (e: unknown) => {
          assert.ok(isTrimError(e), String(e));
          assert.equal(e.code, code);
          assert.match(e.message, message);
          return true;
        },
      );
      tried++;
      assert.ok(!fs.existsSync(partialDirFor(path.resolve(o.out))));
      assert.ok(!events.includes('block_start'), 'refused before any block');
    });
  }
});
