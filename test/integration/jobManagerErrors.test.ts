// What the extension shows for a user error: the job manager runs the REAL dist/worker.js on bad
// inputs; the run ends 'failed' with the TrimError's code and message (the text of the error
// notification, `TRIM: <label> failed: <message>`, and of the run's entry in the Runs view and
// the panel), with no stack trace, nothing left half-written and the source untouched.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor, type PruneOptions, type TrimEvent } from '../../src/contract';
import { defaultPruneOptions } from '../../src/core/options';
import { copyDemo, hashTree, pokeF16, setConfig, tinyModel, tmpDir } from '../unit/badInputs';
import { REAL_WORKER, jobManager } from '../unit/jobHarness';
import { ensureBuilt } from './cli';

const root = tmpDir('trim-jm-errors-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('job manager + real worker: user errors end the run as failed with the typed error', () => {
  before(() => ensureBuilt());
  const { jm, store } = jobManager(path.join(root, 'store'), REAL_WORKER, { TRIM_CACHE_DIR: path.join(root, 'cache') });
  after(() => jm.dispose());

  const cases: { name: string; build: (d: string) => Partial<PruneOptions>; code: string; message: RegExp }[] = [
    {
      name: 'a model folder with a corrupt (truncated) shard',
      code: 'E_SAFETENSORS',
      message:
        /model\.safetensors: tensor "model\.layers\.\d\.[\w.]+" ends at byte \d+ of a data section of \d+ bytes \(truncated file\?\)\. The file is damaged or not a safetensors file; re-download or re-export it\./,
      build: (d) => {
        copyDemo(d);
        fs.truncateSync(path.join(d, 'model.safetensors'), 10_000_000);
        return { model: d };
      },
    },
    {
      name: 'NaN weights in block 1 (noticed mid-run)',
      code: 'E_NONFINITE',
      message: /tensor "model\.layers\.1\.mlp\.down_proj\.weight" \(block 1\) holds 1 NaN and 0 infinite values/,
      build: (d) => {
        tinyModel(d);
        pokeF16(path.join(d, 'model.safetensors'), 'model.layers.1.mlp.down_proj.weight', 40, 0x7e00);
        return { model: d, nsamples: 2, seqlen: 32 };
      },
    },
    {
      name: 'an unsupported architecture',
      code: 'E_UNSUPPORTED_ARCH',
      message: /architecture "GPT2LMHeadModel" is not supported/,
      build: (d) => {
        tinyModel(d);
        setConfig(d, { architectures: ['GPT2LMHeadModel'] });
        return { model: d };
      },
    },
    {
      name: 'seqlen beyond the model positions',
      code: 'E_OPTION',
      message: /--seqlen 4096 exceeds the model's 256 positions/,
      build: (d) => {
        tinyModel(d);
        return { model: d, seqlen: 4096 };
      },
    },
    {
      name: 'a missing tokenizer.json',
      code: 'E_TOKENIZER',
      message: /no tokenizer\.json/,
      build: (d) => {
        tinyModel(d);
        fs.rmSync(path.join(d, 'tokenizer.json'));
        return { model: d };
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name} → failed, ${c.code}`, async () => {
      const dir = path.join(root, c.code);
      fs.mkdirSync(dir);
      const patch = c.build(dir);
      const before = hashTree(dir);
      const out = path.join(root, `out-${c.code}`);
      const options: PruneOptions = { ...defaultPruneOptions(), nsamples: 8, seqlen: 64, eval: null, ep: 'cpu', out, ...patch };
      const events: TrimEvent[] = [];
      const onEvent = (_id: string, e: TrimEvent): void => {
        events.push(e);
      };
      jm.on('event', onEvent);
      const run = jm.submit({ options, outAuto: false });
      const done = await jm.whenFinished(run.id);
      jm.off('event', onEvent);

      // The run's entry (persisted record): failed, with the typed code and the readable message.
      assert.equal(done.status, 'failed');
      assert.equal(done.error?.code, c.code, done.error?.message);
      assert.match(done.error!.message, c.message);
      assert.doesNotMatch(done.error!.message, /\n\s+at |Error:|E_INTERNAL/, 'no stack trace, no internal error');
      assert.deepEqual(store.get(run.id)?.error, done.error);
      // The live snapshot the panel shows for a failed run carries the same error.
      assert.deepEqual(jm.snapshot(run.id)?.error, done.error);
      // The worker's error event is the TrimError as it was thrown.
      const err = events.find((e): e is Extract<TrimEvent, { type: 'error' }> => e.type === 'error');
      assert.deepEqual(err?.error, { code: c.code, message: done.error!.message });
      // The notification's text (extension.ts): readable, one line of what is wrong and where.
      const notification = `TRIM: ${done.label} failed: ${done.error?.message ?? 'unknown error'}`;
      assert.ok(!notification.includes('\n'), notification);
      assert.ok(!fs.existsSync(out) && !fs.existsSync(partialDirFor(out)), 'nothing half-written');
      assert.deepEqual(hashTree(dir), before, 'the source changed');
    });
  }
});
