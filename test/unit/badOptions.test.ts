// Impossible options through the core's validation (options.ts, outputPath.ts): each a TrimError
// E_OPTION / E_OUTPUT whose message names the option. The model-dependent ones (seqlen beyond the
// positions, nsamples × seqlen beyond the text) and the CLI are in test/integration/badInputsCli.test.ts.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { PruneOptions } from '../../src/contract';
import { isTrimError, type TrimErrorCode } from '../../src/core/errors';
import { defaultPruneOptions, parseNM, validatePruneOptions } from '../../src/core/options';
import { checkOutputPath } from '../../src/core/io/outputPath';
import { tmpDir } from './badInputs';

const root = tmpDir('trim-bad-opts-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

function rejects(f: () => unknown, code: TrimErrorCode, message: RegExp): void {
  try {
    f();
  } catch (e) {
    assert.ok(isTrimError(e), `expected a TrimError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return;
  }
  assert.fail(`accepted; expected ${code} ${message}`);
}

const base = (): PruneOptions => ({ ...defaultPruneOptions(), out: path.join(root, 'out') });

const BAD: [string, Partial<PruneOptions>, RegExp][] = [
  ['sparsity 1', { sparsity: 1 }, /^--sparsity: 1 is out of range \[0, 1\)/],
  ['sparsity 1.5', { sparsity: 1.5 }, /^--sparsity: 1\.5 is out of range \[0, 1\): sparsity is a fraction, write 0\.7 for 70%\.$/],
  [
    'sparsity 70 (a percentage)',
    { sparsity: 70 },
    /^--sparsity: 70 is out of range \[0, 1\): sparsity is a fraction, write 0\.7 for 70%\.$/,
  ],
  ['sparsity 50 (a percentage)', { sparsity: 50 }, /write 0\.5 for 50%\.$/],
  ['sparsity -0.1', { sparsity: -0.1 }, /^--sparsity: -0\.1 is out of range/],
  ['sparsity NaN', { sparsity: NaN }, /^--sparsity: NaN is out of range/],
  ['iterations -1', { iterations: -1 }, /^--iterations: must be an integer ≥ 0, got -1/],
  ['iterations 2.5', { iterations: 2.5 }, /^--iterations: must be an integer ≥ 0/],
  ['nsamples 0', { nsamples: 0 }, /^--nsamples: must be an integer ≥ 1, got 0/],
  ['seqlen 1', { seqlen: 1 }, /^--seqlen: must be an integer ≥ 2/],
  ['batch 0', { batch: 0 }, /^--batch: must be an integer ≥ 1/],
  ['max eval windows 0', { maxEvalWindows: 0 }, /^--max-eval-windows: must be an integer ≥ 1/],
  ['owl lambda 0.6', { owlLambda: 0.6 }, /^--owl-lambda: 0\.6 is out of range \[0, 0\.5\]/],
  ['owl M 0', { owlM: 0 }, /^--owl-m: 0 is out of range \(0,/],
  ['alpha epsilon 2', { alphaEpsilon: 2 }, /^--alpha-epsilon: 2 is out of range/],
  ['score', { score: 'sparsegpt' as never }, /^--score: "sparsegpt" is not one of wanda, magnitude/],
  ['allocation', { allocation: 'random' as never }, /^--allocation: "random" is not one of/],
  ['layer metric', { layerMetric: 'kl' as never }, /^--layer-metric: "kl" is not one of/],
  ['row metric', { rowMetric: 'kl' as never }, /^--row-metric: "kl" is not one of/],
  ['execution provider', { ep: 'rocm' as never }, /^--ep: "rocm" is not one of auto, cuda, cpu/],
  ['N:M not of the form', { nm: '2-4' }, /^--nm: "2-4" is not of the form N:M/],
  ['N:M with N ≥ M', { nm: '4:2' }, /^--nm: 4:2 is invalid: need 1 ≤ N < M ≤ 64/],
  ['N:M with N = 0', { nm: '0:4' }, /^--nm: 0:4 is invalid/],
  ['N:M with M > 64', { nm: '2:128' }, /^--nm: 2:128 is invalid/],
  ['N:M with TRIM', { nm: '2:4', trim: true }, /^--nm: N:M structure and TRIM cannot be combined/],
  [
    'N:M with OWL',
    { nm: '2:4', allocation: 'owl' },
    /^--nm: N:M fixes the sparsity at N\/M; it cannot be combined with a layer allocation/,
  ],
  ['N:M with per-block targets', { nm: '2:4', blockSparsity: [0.5, 0.5] }, /^--nm: N:M fixes the sparsity/],
  ['per-block target 1', { blockSparsity: [0.5, 1] }, /^blockSparsity\[1\]: 1 is out of range/],
  ['no output folder', { out: '' }, /^--out: an output folder is required/],
];

describe('bad options: validatePruneOptions', () => {
  it('the defaults (with an output folder) are valid', () => validatePruneOptions(base()));
  for (const [name, patch, message] of BAD) {
    it(name, () => rejects(() => validatePruneOptions({ ...base(), ...patch }), 'E_OPTION', message));
  }
  it('N:M valid forms pass', () => {
    assert.deepEqual(parseNM('2:4'), { n: 2, m: 4 });
    assert.deepEqual(parseNM('4:8'), { n: 4, m: 8 });
    validatePruneOptions({ ...base(), nm: '2:4' });
  });
});

describe('bad options: the output folder', () => {
  const src = path.join(root, 'model');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  const existing = path.join(root, 'existing');
  fs.mkdirSync(existing);

  it('equals the source (also spelled differently)', () => {
    rejects(() => checkOutputPath(src, src, false), 'E_OPTION', /is the source model folder; the source is never written/);
    rejects(() => checkOutputPath(src, `${src}/`, true), 'E_OPTION', /is the source model folder/);
    rejects(() => checkOutputPath(src, path.join(src, 'sub', '..'), true), 'E_OPTION', /is the source model folder/);
  });
  it('lies inside the source', () => {
    rejects(() => checkOutputPath(src, path.join(src, 'pruned'), false), 'E_OPTION', /lies inside the source model folder/);
    rejects(() => checkOutputPath(src, path.join(src, 'sub', 'deeper', 'x'), true), 'E_OPTION', /lies inside the source model folder/);
  });
  it('contains the source', () => {
    rejects(() => checkOutputPath(src, root, true), 'E_OPTION', /contains the source model folder/);
  });
  it('exists: refused without --overwrite, accepted with it', () => {
    rejects(() => checkOutputPath(src, existing, false), 'E_OUTPUT', /already exists\. Choose another folder or pass --overwrite/);
    assert.equal(checkOutputPath(src, existing, true), existing);
  });
  it('a sibling whose name starts like the source is fine', () => {
    assert.equal(checkOutputPath(src, `${src}-pruned`, false), `${src}-pruned`);
  });
});
