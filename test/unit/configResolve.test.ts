import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULTS,
  SETTING_FIELDS,
  OTHER_SETTINGS,
  configFileLayer,
  resolveOptions,
  settingsLayer,
  valuesLayer,
  type ResolveContext,
} from '../../src/extension/configResolve';

const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas/trim.config.schema.json'), 'utf8'));

let ext: string; // a stand-in extension folder with the demo model layout
let ws: string;
before(() => {
  ext = mkdtempSync(path.join(tmpdir(), 'trim-ext-'));
  ws = mkdtempSync(path.join(tmpdir(), 'trim-ws-'));
  const model = path.join(ext, 'media/models/trim-demo-qwen2-small');
  mkdirSync(model, { recursive: true });
  cpSync(path.join(ROOT, 'media/models/trim-demo-qwen2-small/config.json'), path.join(model, 'config.json'));
  writeFileSync(path.join(model, 'model.safetensors'), '');
  writeFileSync(path.join(model, 'tokenizer.json'), '{}');
  mkdirSync(path.join(ext, 'media/data'), { recursive: true });
  writeFileSync(path.join(ext, 'media/data/calib.txt'), 'calibration');
  writeFileSync(path.join(ext, 'media/data/eval-brown.txt'), 'evaluation');
  writeFileSync(path.join(ws, 'my-calib.txt'), 'text');
});
after(() => {
  rmSync(ext, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
});

const ctx = (over: Partial<ResolveContext> = {}): ResolveContext => ({
  extensionPath: ext,
  workspaceFolder: ws,
  outputFolder: null,
  storageDir: path.join(ext, 'storage'),
  runId: 'RUN',
  ...over,
});
const messages = (r: ReturnType<typeof resolveOptions>): string[] => (r.ok ? [] : r.issues.map(String));

describe('config resolution', () => {
  it('defaults alone give full options on the demo model and bundled texts', () => {
    const r = resolveOptions([], ctx());
    assert.ok(r.ok, messages(r).join('\n'));
    const o = r.options;
    assert.equal(o.model, path.join(ext, 'media/models/trim-demo-qwen2-small'));
    assert.equal(o.calib, path.join(ext, 'media/data/calib.txt'));
    assert.equal(o.eval, path.join(ext, 'media/data/eval-brown.txt'));
    assert.equal(o.out, path.join(ws, 'trim-out', 'trim-demo-qwen2-small-wanda-70-RUN'));
    assert.ok(r.outAuto);
    assert.deepEqual(
      {
        sparsity: o.sparsity,
        iterations: o.iterations,
        score: o.score,
        trim: o.trim,
        allocation: o.allocation,
        seqlen: o.seqlen,
        nm: o.nm,
        ep: o.ep,
      },
      { sparsity: 0.7, iterations: 10, score: 'wanda', trim: false, allocation: 'uniform', seqlen: null, nm: null, ep: 'auto' },
    );
    // Every PruneOptions field is present.
    const fields = [
      'model',
      'out',
      'overwrite',
      'sparsity',
      'blockSparsity',
      'score',
      'trim',
      'iterations',
      'allocation',
      'owlLambda',
      'owlM',
      'alphaEpsilon',
      'nm',
      'layerMetric',
      'rowMetric',
      'forbidNegLr',
      'inputRecalc',
      'nsamples',
      'seqlen',
      'calib',
      'eval',
      'maxEvalWindows',
      'ep',
      'batch',
      'gpuMemory',
      'blocksPerRun',
      'precision',
      'baseline',
      'saveMasks',
    ];
    assert.deepEqual(Object.keys(o).sort(), fields.sort());
    assert.equal(r.sources.sparsity, 'default');
  });

  it('precedence: defaults ← settings ← trim.config.json ← overrides', () => {
    const cfg = path.join(ws, 'sub', 'trim.config.json');
    const r = resolveOptions(
      [
        settingsLayer({ sparsity: 0.5, iterations: 4, allocation: 'owl', calibrationFile: 'my-calib.txt', evaluate: false }, ws),
        configFileLayer(cfg, JSON.stringify({ $schema: './x.json', sparsity: 0.6, owlLambda: 0.1 })),
        valuesLayer('Run again', { sparsity: 0.8 }, ws),
      ],
      ctx(),
    );
    assert.ok(r.ok, messages(r).join('\n'));
    assert.equal(r.options.sparsity, 0.8);
    assert.equal(r.sources.sparsity, 'Run again');
    assert.equal(r.options.owlLambda, 0.1);
    assert.equal(r.sources.owlLambda, 'trim.config.json');
    assert.equal(r.options.iterations, 4);
    assert.equal(r.options.allocation, 'owl');
    assert.equal(r.sources.iterations, 'settings');
    assert.equal(r.options.calib, path.join(ws, 'my-calib.txt'), 'setting paths are relative to the workspace');
    assert.equal(r.options.eval, null, 'trim.evaluate false skips perplexity');
    assert.equal(r.options.out, path.join(ws, 'trim-out', 'trim-demo-qwen2-small-wanda-owl-80-RUN'));
  });

  it('paths in trim.config.json are relative to its folder; out given means not derived', () => {
    mkdirSync(path.join(ws, 'cfgdir'), { recursive: true });
    writeFileSync(path.join(ws, 'cfgdir', 'c.txt'), 'x');
    const r = resolveOptions(
      [configFileLayer(path.join(ws, 'cfgdir', 'trim.config.json'), JSON.stringify({ calib: 'c.txt', out: '../pruned', eval: null }))],
      ctx(),
    );
    assert.ok(r.ok, messages(r).join('\n'));
    assert.equal(r.options.calib, path.join(ws, 'cfgdir', 'c.txt'));
    assert.equal(r.options.out, path.join(ws, 'pruned'));
    assert.equal(r.outAuto, false);
    assert.equal(r.options.eval, null);
  });

  it('trim.outputFolder and ${workspaceFolder}; no workspace falls back to storage', () => {
    const a = resolveOptions([], ctx({ outputFolder: '${workspaceFolder}/models/pruned' }));
    assert.ok(a.ok);
    assert.equal(path.dirname(a.options.out), path.join(ws, 'models/pruned'));
    const b = resolveOptions([], ctx({ workspaceFolder: null }));
    assert.ok(b.ok);
    assert.equal(path.dirname(b.options.out), path.join(ext, 'storage', 'out'));
  });

  it('schema errors name the field, the source and the value, all at once', () => {
    const r = resolveOptions(
      [
        settingsLayer({ sparsity: 1.5, executionProvider: 'tpu' }, ws),
        configFileLayer(
          '/w/trim.config.json',
          JSON.stringify({ iterations: 2.5, allocation: 'owls', nm: '2-4', blockSparsity: [0.5, 1], colour: 'red' }),
        ),
      ],
      ctx(),
    );
    const m = messages(r);
    assert.ok(
      m.some((x) => x === 'settings: "trim.sparsity" is a fraction below 1: write 0.7 for 70% (got 1.5)'),
      m.join('\n'),
    );
    assert.ok(
      m.some((x) => x === 'settings: "trim.executionProvider" must be one of "auto", "cuda", "cpu" (got "tpu"; did you mean "cpu"?)'),
      m.join('\n'),
    );
    const count = Object.keys(schema.properties).filter((k) => k !== '$schema').length;
    assert.ok(
      m.includes(`trim.config.json: "colour" is not an option (hover a key, or type \`"\` for completion, to see the ${count} options)`),
      m.join('\n'),
    );
    assert.ok(m.includes('trim.config.json: "blockSparsity[1]" is a fraction below 1: write 0.7 for 70% (got 1)'), m.join('\n'));
    assert.equal(m.length, 7, m.join('\n'));
    assert.ok(m.includes('trim.config.json: "iterations" must be integer (got 2.5)'), m.join('\n'));
    assert.ok(
      m.includes('trim.config.json: "allocation" must be one of "uniform", "owl", "alpha" (got "owls"; did you mean "owl"?)'),
      m.join('\n'),
    );
    assert.ok(m.includes('trim.config.json: "nm" must look like "2:4" (got "2-4")'), m.join('\n'));
    assert.equal(m.length, 7);
  });

  it('reports broken JSON and non-object files', () => {
    assert.match(
      messages(resolveOptions([configFileLayer('/w/trim.config.json', '{"sparsity": ')], ctx()))[0],
      /^trim\.config\.json: is not valid JSON/,
    );
    assert.deepEqual(messages(resolveOptions([configFileLayer('/w/trim.config.json', '[1]')], ctx())), [
      'trim.config.json: must hold one JSON object of options',
    ]);
  });

  it('checks relations and files against the model', () => {
    const m = messages(
      resolveOptions(
        [
          configFileLayer(
            path.join(ws, 'trim.config.json'),
            JSON.stringify({
              nm: '4:4',
              trim: true,
              allocation: 'owl',
              blockSparsity: [0.5, 0.5],
              seqlen: 4096,
              calib: 'missing.txt',
            }),
          ),
        ],
        ctx(),
      ),
    );
    assert.ok(m.includes('trim.config.json: "nm" needs 1 ≤ N < M ≤ 64, e.g. "2:4" or "4:8" (got "4:4")'), m.join('\n'));
    assert.ok(
      m.includes('trim.config.json: "nm" applies to the plain score path only: set "trim" to false, or "nm" to null'),
      m.join('\n'),
    );
    assert.ok(m.includes('trim.config.json: "nm" fixes every layer at N/M: it cannot be combined with allocation "owl"'), m.join('\n'));
    assert.ok(
      m.includes('trim.config.json: "nm" fixes every layer at N/M: it cannot be combined with per-block targets ("blockSparsity")'),
      m.join('\n'),
    );
    assert.ok(m.includes('trim.config.json: "blockSparsity" must have one entry per block: the model has 6 blocks (got 2)'), m.join('\n'));
    assert.ok(m.includes('trim.config.json: "seqlen" must not exceed the model\'s 1024 positions (got 4096)'), m.join('\n'));
    assert.ok(m.includes(`trim.config.json: "calib" is not a file: ${path.join(ws, 'missing.txt')}`), m.join('\n'));
  });

  it('refuses a model folder that is not a checkpoint, and an existing out without overwrite', () => {
    const notModel = path.join(ext, 'not-a-model');
    mkdirSync(notModel, { recursive: true });
    const m = messages(resolveOptions([valuesLayer('command', { model: notModel }, ws)], ctx()));
    assert.equal(m.length, 1);
    assert.match(m[0], /^command: "model" has no config\.json: choose a Hugging Face checkpoint folder/);
    mkdirSync(path.join(ws, 'exists'), { recursive: true });
    const e = messages(resolveOptions([valuesLayer('command', { out: 'exists' }, ws)], ctx()));
    assert.match(e[0], /^command: "out" already exists: set "overwrite" to true/);
    assert.ok(resolveOptions([valuesLayer('command', { out: 'exists', overwrite: true }, ws)], ctx()).ok);
    const inside = messages(
      resolveOptions([valuesLayer('command', { out: path.join(ext, 'media/models/trim-demo-qwen2-small/pruned') }, ws)], ctx()),
    );
    assert.match(inside[0], /"out" must be outside the model folder/);
  });

  it('empty settings mean "not set"; nm "" clears a structure', () => {
    const r = resolveOptions([settingsLayer({ calibrationFile: '', evaluationFile: '', nm: '', outputFolder: '' }, ws)], ctx());
    assert.ok(r.ok, messages(r).join('\n'));
    assert.equal(r.options.calib, path.join(ext, 'media/data/calib.txt'));
    assert.equal(r.options.nm, null);
  });
});

describe('manifest and schema agree', () => {
  const props = pkg.contributes.configuration.properties as Record<string, Record<string, unknown>>;
  it('every trim.* setting is an option of the schema or a known extra, and vice versa for the mapped ones', () => {
    for (const key of Object.keys(props)) {
      const k = key.replace(/^trim\./, '');
      assert.ok(k in SETTING_FIELDS || (OTHER_SETTINGS as readonly string[]).includes(k), `setting ${key} is not handled`);
    }
    for (const k of Object.keys(SETTING_FIELDS)) assert.ok(`trim.${k}` in props, `trim.${k} is not contributed`);
  });
  it("settings carry the schema's enum, bounds and default", () => {
    for (const [k, field] of Object.entries(SETTING_FIELDS)) {
      const p = props[`trim.${k}`];
      const sp = schema.properties[field];
      if (['calib', 'eval', 'nm'].includes(field)) continue; // strings where "" means unset
      for (const kw of ['enum', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'type']) {
        // A fraction's upper bound is the schema's `if: {minimum: 1}, then: <fails with errorMessage>`.
        const v = kw === 'exclusiveMaximum' && sp.if?.then === undefined && sp.then?.errorMessage ? sp.if.minimum : sp[kw];
        assert.deepEqual(p[kw], v, `trim.${k}.${kw}`);
      }
      assert.deepEqual(p.default, (DEFAULTS as Record<string, unknown>)[field], `trim.${k}.default`);
    }
  });
  it('the schema describes every option and jsonValidation points at it', () => {
    for (const [k, p] of Object.entries(schema.properties as Record<string, { description?: string }>))
      assert.ok(p.description, `${k} has no description`);
    assert.deepEqual(pkg.contributes.jsonValidation, [{ fileMatch: 'trim.config.json', url: './schemas/trim.config.schema.json' }]);
  });
});
