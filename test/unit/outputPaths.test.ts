/**
 * Issue 16, class 1 (the source reached by another spelling) and class 3 (what --overwrite may
 * replace), as properties over seeded spellings: the core's check (checkOutputPath) and the
 * extension's (resolveOptions) must both answer what the oracle answers (GNU `realpath -m -L` and
 * a table; outputPaths.fixture.ts), and neither writes anything.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { partialDirFor, REPORT_FORMAT } from '../../src/contract';
import { isTrimError } from '../../src/core/errors';
import { checkOutputPath, notATrimOutput } from '../../src/core/io/outputPath';
import { isWithin, overlap, physicalPath } from '../../src/core/io/paths';
import { configFileLayer, outputConfirmation, outsideWorkspace, resolveOptions, valuesLayer } from '../../src/extension/configResolve';
import { tmpDir, treeSnapshot } from './badInputs';
import { expectedAll, makeTree, spellings, type Verdict } from './outputPaths.fixture';

const root = tmpDir('trim-paths-');
after(() => fs.rmSync(root, { recursive: true, force: true }));
const tree = makeTree(path.join(root, 'R'));
const cwd = process.cwd();
const CASES = 600;

function verdictOfCore(spelled: string, overwrite: boolean): Verdict | string {
  try {
    checkOutputPath(tree.M, spelled, overwrite, [tree.calib]);
    return 'ok';
  } catch (e) {
    if (!isTrimError(e)) return `untyped: ${(e as Error).stack}`;
    if (e.code === 'E_OPTION') return 'source';
    if (e.code === 'E_OUTPUT' && /already exists/.test(e.message)) return 'exists';
    if (e.code === 'E_OUTPUT' && /is not a TRIM output/.test(e.message)) return 'not-trim';
    return `${e.code}: ${e.message}`;
  }
}

function verdictOfExtension(spelled: string, overwrite: boolean): Verdict | string {
  const r = resolveOptions([valuesLayer('command', { model: tree.M, out: spelled, overwrite, calib: tree.calib, eval: null }, cwd)], {
    extensionPath: path.resolve(__dirname, '../..'),
    workspaceFolder: cwd,
    outputFolder: null,
    storageDir: root,
    runId: 'x',
  });
  if (r.ok) return 'ok';
  const m = r.issues.map(String);
  if (m.length !== 1 || !m[0].startsWith('command: "out" ')) return m.join(' | ');
  if (/must be outside the model folder/.test(m[0])) return 'source';
  if (/already exists/.test(m[0])) return 'exists';
  if (/is not a TRIM output/.test(m[0])) return 'not-trim';
  return m[0];
}

describe('output path spellings (seeded property test, oracle: realpath -m -L)', () => {
  const before = treeSnapshot(tree.R);
  const cases = spellings(tree, 16, CASES, cwd);
  const wanted = expectedAll(tree, cases, cwd);
  const tally: Record<string, number> = {};

  it(`${CASES} spellings: the core's check answers as the oracle, typed`, () => {
    for (const [i, s] of cases.entries()) {
      const want = wanted[i];
      tally[want] = (tally[want] ?? 0) + 1;
      assert.equal(verdictOfCore(s.spelled, s.overwrite), want, `${s.spelled} (overwrite ${s.overwrite}; ${s.how})`);
    }
    // The space is covered: every verdict occurs many times.
    for (const v of ['source', 'exists', 'not-trim', 'ok']) assert.ok((tally[v] ?? 0) >= 20, `${v}: ${tally[v]}`);
    console.log(`spellings by verdict: ${JSON.stringify(tally)}`);
  });

  it(`the same ${CASES} spellings: the extension's check (resolveOptions) answers the same`, () => {
    for (const [i, s] of cases.entries()) {
      assert.equal(verdictOfExtension(s.spelled, s.overwrite), wanted[i], `${s.spelled} (overwrite ${s.overwrite}; ${s.how})`);
    }
  });

  it('nothing was written: names, sizes, mtimes and bytes of the whole tree are as they were', () => {
    assert.equal(treeSnapshot(tree.R), before);
  });
});

describe('the examples of the issue and their neighbours', () => {
  it('M/..pruned, M/..., M/.. and M/sub/.. are told apart by segments', () => {
    assert.equal(isWithin(path.join(tree.M, '..pruned'), tree.M), true);
    assert.equal(isWithin(path.join(tree.M, '...'), tree.M), true);
    assert.equal(isWithin(path.dirname(tree.M), tree.M), false);
    assert.equal(isWithin(`${tree.M}-x`, tree.M), false);
    assert.equal(overlap(`${tree.M}/..pruned`, tree.M), 'inside');
    assert.equal(overlap(`${tree.M}/sub/..`, tree.M), 'same');
    assert.equal(overlap(`${tree.M}//`, tree.M), 'same');
  });

  it('a symlink to the source on either side', () => {
    const L = path.join(tree.R, 'L');
    assert.equal(physicalPath(L), tree.M);
    assert.equal(overlap(L, tree.M), 'same');
    assert.equal(overlap(tree.M, L), 'same');
    assert.equal(overlap(path.join(tree.R, 'P'), L), 'contains');
    assert.equal(overlap(path.join(L, 'x'), tree.M), 'inside');
  });

  // One folder under two names that no spelling or realpath relates (as on a case-insensitive
  // file system, `M` and `m`): a bind mount, where this user may mount. Only (device, inode) tells.
  it('the source under another name that realpath does not resolve (a bind mount): refused by identity', (t) => {
    const alias = path.join(root, 'alias');
    fs.mkdirSync(alias);
    const m = spawnSync('mount', ['--bind', tree.M, alias], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(`cannot bind-mount here: ${m.stderr.trim()}`);
      return;
    }
    try {
      assert.equal(fs.realpathSync(alias), alias, 'realpath does not see through it');
      assert.throws(() => checkOutputPath(tree.M, alias, true), /is the source model folder/);
      assert.throws(() => checkOutputPath(tree.M, path.join(alias, 'sub', 'x'), true), /lies inside the source model folder/);
      // Containing it through the mount cannot be told from the paths' ancestors; --overwrite's own
      // rule (a TRIM output has no subfolders) refuses it all the same.
      assert.throws(() => checkOutputPath(alias, path.dirname(tree.M), true), /contains the source model folder|is not a TRIM output/);
    } finally {
      spawnSync('umount', [alias]);
    }
  });

  it("the output's working names may not be the source either (a model named .NAME.trim-partial)", () => {
    const parent = path.join(root, 'collide');
    const model = path.join(parent, '.out.trim-partial');
    fs.mkdirSync(model, { recursive: true });
    assert.throws(
      () => checkOutputPath(model, path.join(parent, 'out'), true),
      /working name .*\.out\.trim-partial\) is the source model folder/,
    );
    const old = path.join(parent, '.o2.trim-partial-old', 'model');
    fs.mkdirSync(old, { recursive: true });
    assert.throws(() => checkOutputPath(old, path.join(parent, 'o2'), true), /contains the source model folder/);
  });

  it('partialDirFor: a trailing separator names the same folder', () => {
    assert.equal(partialDirFor('/a/b/'), '/a/.b.trim-partial');
    assert.equal(partialDirFor('/a/b//'), '/a/.b.trim-partial');
    assert.equal(partialDirFor('/a/b'), '/a/.b.trim-partial');
  });

  it('outsideWorkspace: by the file system, through symlinks', () => {
    const ws = path.join(tree.R, 'p');
    assert.equal(outsideWorkspace(path.join(ws, 'other', 'x'), [ws]), false);
    assert.equal(outsideWorkspace(path.join(ws, '..', 'x'), [ws]), true);
    assert.equal(outsideWorkspace(path.join(ws, 'M', 'up', 'x'), [ws]), false);
    assert.equal(outsideWorkspace(path.join(tree.R, 'P', 'x'), [ws]), false);
    fs.symlinkSync(root, path.join(ws, 'escape'));
    assert.equal(outsideWorkspace(path.join(ws, 'escape', 'x'), [ws]), true);
    fs.rmSync(path.join(ws, 'escape'));
    assert.equal(outsideWorkspace('/etc', [ws]), true);
  });
});

describe('what --overwrite may replace (class 3)', () => {
  const d = (name: string): string => path.join(root, 'ow', name);
  fs.mkdirSync(d('empty'), { recursive: true });
  fs.mkdirSync(d('trim'));
  fs.writeFileSync(path.join(d('trim'), 'trim-report.json'), JSON.stringify({ format: REPORT_FORMAT }));
  fs.writeFileSync(path.join(d('trim'), 'model.safetensors'), 'w');
  fs.mkdirSync(d('docs'));
  fs.writeFileSync(path.join(d('docs'), 'a.txt'), 'a');
  fs.mkdirSync(d('fake'));
  fs.writeFileSync(path.join(d('fake'), 'trim-report.json'), '{"format":"something-else"}');
  fs.mkdirSync(path.join(d('nested'), 'inner'), { recursive: true });
  fs.writeFileSync(path.join(d('nested'), 'trim-report.json'), JSON.stringify({ format: REPORT_FORMAT }));
  fs.writeFileSync(d('file'), 'x');

  it('an empty folder and an earlier TRIM output may be replaced', () => {
    assert.equal(notATrimOutput(d('empty')), null);
    assert.equal(notATrimOutput(d('trim')), null);
  });
  it('anything else is refused, saying why', () => {
    assert.match(notATrimOutput(d('docs'))!, /holds no trim-report\.json/);
    assert.match(notATrimOutput(d('fake'))!, /was not written by TRIM/);
    assert.match(notATrimOutput(d('nested'))!, /holds the folder inner/);
    assert.match(notATrimOutput(d('file'))!, /is a file/);
    assert.match(notATrimOutput('/etc')!, /holds no trim-report\.json|holds the folder/);
    const home = process.env.HOME ?? '/root';
    if (fs.existsSync(home) && fs.readdirSync(home).length > 0) assert.notEqual(notATrimOutput(home), null);
    for (const f of ['docs', 'fake', 'nested', 'file']) {
      assert.throws(
        () => checkOutputPath(tree.M, d(f), true),
        (e: unknown) => isTrimError(e) && e.code === 'E_OUTPUT' && /is not a TRIM output/.test(e.message),
      );
    }
  });
});

describe('a workspace file aiming the output outside the workspace asks first (class 3)', () => {
  const ws = path.join(tree.R, 'p');
  const ctx = { extensionPath: path.resolve(__dirname, '../..'), workspaceFolder: ws, outputFolder: null, storageDir: root, runId: 'r1' };
  const fromConfig = (cfg: Record<string, unknown>) => {
    const r = resolveOptions(
      [
        configFileLayer(
          path.join(ws, 'trim.config.json'),
          JSON.stringify({ model: tree.M, calib: tree.calib, evaluate: undefined, ...cfg }),
        ),
      ],
      ctx,
    );
    assert.ok(r.ok, r.ok ? '' : r.issues.map(String).join('\n'));
    return r;
  };
  it('out in trim.config.json outside the workspace (../.., a symlink leading out): a question naming the folder', () => {
    fs.mkdirSync(path.join(root, 'elsewhere'), { recursive: true });
    const q = outputConfirmation(fromConfig({ out: '../../elsewhere', overwrite: true }), [ws], 'trim.config.json', false);
    assert.match(
      q!,
      /^trim\.config\.json \("out"\) writes the pruned model outside the workspace, to .*elsewhere, replacing what is there\. Write there\?$/,
    );
    fs.symlinkSync(path.join(root, 'elsewhere'), path.join(ws, 'out-link'));
    assert.match(outputConfirmation(fromConfig({ out: 'out-link/x' }), [ws], 'trim.config.json', false)!, /outside the workspace/);
    fs.rmSync(path.join(ws, 'out-link'));
  });
  it('out inside the workspace, or given by the user (command, Run again): nothing to confirm', () => {
    assert.equal(outputConfirmation(fromConfig({ out: 'fresh-out' }), [ws], 'trim.config.json', false), null);
    const r = resolveOptions([valuesLayer('command', { model: tree.M, calib: tree.calib, out: path.join(root, 'elsewhere2') }, ws)], ctx);
    assert.ok(r.ok);
    assert.equal(outputConfirmation(r, [ws], 'trim.config.json', false), null);
  });
  it('"out": "~", "/etc" or "../../Documents" with "overwrite": true is refused before any run (not TRIM outputs)', () => {
    const home = path.join(root, 'home');
    fs.mkdirSync(path.join(home, 'Documents'), { recursive: true });
    fs.writeFileSync(path.join(home, 'Documents', 'cv.txt'), 'cv');
    fs.writeFileSync(path.join(home, '.bashrc'), '');
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const wsIn = path.join(home, 'ws', 'project');
      fs.mkdirSync(wsIn, { recursive: true });
      for (const out of ['~', '/etc', '../../Documents']) {
        const r = resolveOptions(
          [
            configFileLayer(
              path.join(wsIn, 'trim.config.json'),
              JSON.stringify({ model: tree.M, calib: tree.calib, out, overwrite: true }),
            ),
          ],
          { ...ctx, workspaceFolder: wsIn },
        );
        assert.ok(!r.ok, out);
        assert.match(
          r.issues.map(String).join('\n'),
          /^trim\.config\.json: "out" is not a TRIM output, so "overwrite" does not replace it/,
          out,
        );
      }
    } finally {
      process.env.HOME = saved;
    }
  });

  it('a workspace trim.outputFolder outside the workspace: asked; a user-level one: not', () => {
    const r = resolveOptions([valuesLayer('command', { model: tree.M, calib: tree.calib }, ws)], {
      ...ctx,
      outputFolder: path.join(root, 'outs'),
    });
    assert.ok(r.ok && r.outAuto);
    assert.match(outputConfirmation(r, [ws], 'trim.config.json', true)!, /^the workspace setting trim\.outputFolder writes/);
    assert.equal(outputConfirmation(r, [ws], 'trim.config.json', false), null);
  });
});
