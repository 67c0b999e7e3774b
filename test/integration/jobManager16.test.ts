// Issue 16 in the extension's path: the job manager with the REAL dist/worker.js, and the
// extension's option resolution. A FIFO given as config.json or as the calibration text, a config
// whose numbers make NaN, an --out under a file: the run ends 'failed' at once with the typed
// error in one line (no hang, no stack), nothing written. resolveOptionsAsync reads the model's
// config.json off the extension host's thread and refuses a FIFO instead of waiting on it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { resolveOptionsAsync, valuesLayer } from '../../src/extension/configResolve';
import { ROOT, setConfig, tinyModel, tmpDir } from '../unit/badInputs';
import { REAL_WORKER, jobManager } from '../unit/jobHarness';
import { ensureBuilt } from './cli';

const root = tmpDir('trim-jm16-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('issue 16: job manager + real worker', () => {
  before(() => ensureBuilt());
  const { jm } = jobManager(path.join(root, 'store'), REAL_WORKER, { TRIM_CACHE_DIR: path.join(root, 'cache') });
  after(() => jm.dispose());

  const cases: { name: string; build: (d: string) => Partial<PruneOptions>; code: string; message: RegExp }[] = [
    {
      name: 'config.json is a FIFO',
      code: 'E_CONFIG',
      message: /config\.json .*config\.json: is a FIFO \(named pipe\), not a regular file\./,
      build: (d) => {
        fs.rmSync(path.join(d, 'config.json'));
        execFileSync('mkfifo', [path.join(d, 'config.json')]);
        return {};
      },
    },
    {
      name: 'the calibration text is a FIFO',
      code: 'E_TEXT',
      message: /Calibration text .*: is a FIFO/,
      build: (d) => {
        execFileSync('mkfifo', [path.join(d, 'calib.txt')]);
        return { calib: path.join(d, 'calib.txt') };
      },
    },
    {
      name: 'rms_norm_eps -1',
      code: 'E_CONFIG',
      message: /"rms_norm_eps" must be a small positive number/,
      build: (d) => {
        setConfig(d, { rms_norm_eps: -1 });
        return {};
      },
    },
  ];

  let i = 0;
  for (const c of cases) {
    it(`${c.name} → failed at once, ${c.code}, one line`, async () => {
      const dir = path.join(root, `m${i++}`);
      tinyModel(dir);
      const out = path.join(root, `out-${i}`);
      const options: PruneOptions = {
        ...defaultPruneOptions(),
        model: dir,
        nsamples: 2,
        seqlen: 32,
        eval: null,
        ep: 'cpu',
        out,
        ...c.build(dir),
      };
      const t = performance.now();
      const run = jm.submit({ options, outAuto: false });
      const done = await jm.whenFinished(run.id);
      assert.equal(done.status, 'failed');
      assert.equal(done.error?.code, c.code, done.error?.message);
      assert.match(done.error!.message, c.message);
      assert.doesNotMatch(done.error!.message, /\n|E_INTERNAL/);
      assert.ok(performance.now() - t < 60_000);
      assert.ok(!fs.existsSync(options.out) && !fs.existsSync(partialDirFor(options.out)), 'nothing half-written');
    });
  }

  it('resolveOptionsAsync: a FIFO config.json is an issue, not a wait', async () => {
    const dir = path.join(root, 'resolve-fifo');
    tinyModel(dir);
    fs.rmSync(path.join(dir, 'config.json'));
    execFileSync('mkfifo', [path.join(dir, 'config.json')]);
    const r = await resolveOptionsAsync([valuesLayer('command', { model: dir, out: path.join(root, 'resolve-out') }, root)], {
      extensionPath: ROOT,
      workspaceFolder: root,
      outputFolder: null,
      storageDir: path.join(root, 'storage'),
      runId: 'r1',
    });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.issues.map(String).join('\n'), /unreadable config\.json: .*FIFO/);
  });
});
