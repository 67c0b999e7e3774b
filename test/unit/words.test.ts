// The words around a run (issue 20, item 5): "did you mean" for misspelled option names,
// fractions that say what to write, a description for every enum value (schema and settings), the
// settings link filtered to this extension, the TRIM switch's setting title and its old key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { closestName } from '../../src/core/suggest';
import { configFileLayer, settingsLayer, SETTING_FIELDS, unknownOption } from '../../src/extension/configResolve';

const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'trim.config.schema.json'), 'utf8'));
const settings = pkg.contributes.configuration.properties as Record<string, Record<string, unknown>>;
const OPTIONS = Object.keys(schema.properties).filter((k) => k !== '$schema');

describe('did you mean', () => {
  it('finds the option a slip was meant to be', () => {
    const cases: [string, string | null][] = [
      ['iteration', 'iterations'],
      ['sparsty', 'sparsity'],
      ['Sparsity', 'sparsity'],
      ['max_eval_windows', 'maxEvalWindows'],
      ['max-eval-windows', 'maxEvalWindows'],
      ['layer-metric', 'layerMetric'],
      ['nsample', 'nsamples'],
      ['owl_lambda', 'owlLambda'],
      ['blocksparsity', 'blockSparsity'],
      ['colour', null],
      ['learningRate', null],
      ['x', null],
    ];
    for (const [typed, meant] of cases) assert.equal(closestName(typed, OPTIONS), meant, typed);
  });

  it('an unknown key in trim.config.json names the closest option, not all of them', () => {
    const issues = configFileLayer(
      '/w/trim.config.json',
      JSON.stringify({ iteration: 5, executionProvider: 'cpu', colour: 'red' }),
    ).issues.map(String);
    assert.deepEqual(issues, [
      'trim.config.json: "iteration" is not an option; did you mean "iterations"?',
      'trim.config.json: "executionProvider" is not an option; did you mean "ep"?',
      `trim.config.json: "colour" is not an option (hover a key, or type \`"\` for completion, to see the ${OPTIONS.length} options)`,
    ]);
    assert.ok(!unknownOption('colour').includes('model, out'));
  });

  it('the schema (what VS Code shows in Problems) catches slips of every option name, and no option itself', () => {
    const r = spawnSync(process.execPath, ['scripts/schema-suggestions.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const patterns = Object.entries(schema.patternProperties as Record<string, { errorMessage: string }>).map(([p, v]) => ({
      re: new RegExp(p, 'u'),
      message: v.errorMessage,
    }));
    assert.equal(patterns.length, OPTIONS.length);
    const says = (key: string): string[] => patterns.filter((p) => p.re.test(key)).map((p) => p.message);
    for (const k of ['$schema', ...OPTIONS]) assert.deepEqual(says(k), [], k);
    const slips: [string, string][] = [
      ['iteration', 'iterations'],
      ['sparsty', 'sparsity'],
      ['Sparsity', 'sparsity'],
      ['max_eval_windows', 'maxEvalWindows'],
      ['layer-metric', 'layerMetric'],
      ['nsample', 'nsamples'],
      ['modle', 'model'],
      ['blocksparsity', 'blockSparsity'],
      ['seqLen', 'seqlen'],
    ];
    for (const [typed, meant] of slips)
      assert.ok(says(typed).includes(`This is not an option; did you mean "${meant}"?`), `${typed}: ${says(typed).join(' | ')}`);
    assert.deepEqual(says('colour'), []);
  });

  it('a misspelled enum value names the closest value', () => {
    const issues = configFileLayer('/w/trim.config.json', JSON.stringify({ layerMetric: 'cosim-flat' })).issues.map(String);
    assert.equal(issues.length, 1);
    assert.match(issues[0], /\(got "cosim-flat"; did you mean "cosim_flat"\?\)$/);
  });
});

describe('fractions say what to write', () => {
  it('the schema flags a sparsity of 1 or more with words that say 0.7 for 70%', () => {
    for (const s of [schema.properties.sparsity, schema.properties.blockSparsity.items]) {
      assert.equal(s.if.minimum, 1);
      assert.match(s.then.errorMessage, /is a fraction below 1: write 0\.7 for 70%/);
      assert.equal(s.minimum, 0);
    }
    const issues = configFileLayer('/w/trim.config.json', JSON.stringify({ sparsity: 70, blockSparsity: [0.5, 80] })).issues.map(String);
    assert.deepEqual(issues, [
      'trim.config.json: "sparsity" is a fraction below 1: write 0.7 for 70% (got 70)',
      'trim.config.json: "blockSparsity[1]" is a fraction below 1: write 0.8 for 80% (got 80)',
    ]);
    // A fraction in range passes; 0.999 too.
    assert.deepEqual(configFileLayer('/w/trim.config.json', JSON.stringify({ sparsity: 0.999, blockSparsity: [0, 0.5] })).issues, []);
    assert.match(String(settings['trim.sparsity'].markdownDescription), /write `0\.7`, not `70`/);
  });
});

describe('enum descriptions', () => {
  const enums = (props: Record<string, Record<string, unknown>>): [string, Record<string, unknown>][] =>
    Object.entries(props).filter(([, p]) => Array.isArray(p.enum));

  it('every enum of the schema and of the settings describes every value', () => {
    const all = [...enums(schema.properties), ...enums(settings)];
    assert.ok(all.length >= 10, String(all.length));
    for (const [k, p] of all) {
      const d = p.markdownEnumDescriptions as string[] | undefined;
      assert.ok(Array.isArray(d), `${k} has no markdownEnumDescriptions`);
      assert.equal(d.length, (p.enum as unknown[]).length, k);
      for (const [i, t] of d.entries()) assert.ok(typeof t === 'string' && t.length > 10, `${k}[${i}]`);
    }
  });

  it('a setting describes its values in the same words as the schema', () => {
    for (const [key, field] of Object.entries(SETTING_FIELDS)) {
      const s = settings[`trim.${key}`];
      if (!Array.isArray(s?.enum)) continue;
      assert.deepEqual(s.markdownEnumDescriptions, schema.properties[field].markdownEnumDescriptions, key);
    }
  });

  it('layer metrics say what they measure', () => {
    const d = schema.properties.layerMetric.markdownEnumDescriptions as string[];
    const at = (m: string): string => d[schema.properties.layerMetric.enum.indexOf(m)];
    assert.match(at('cosim_flat'), /Cosine similarity.*flat/);
    assert.match(at('cosim_dim'), /per output channel/);
    assert.match(at('cosim_sample'), /per calibration sample/);
    assert.match(at('snr'), /Signal-to-noise ratio/);
  });
});

describe('settings', () => {
  it("the welcome view links to this extension's settings", () => {
    const contents = pkg.contributes.viewsWelcome.map((v: { contents: string }) => v.contents).join('\n');
    const link = /\[TRIM settings\]\(command:workbench\.action\.openSettings\?([^)]+)\)/.exec(contents);
    assert.ok(link, contents);
    assert.deepEqual(JSON.parse(decodeURIComponent(link[1])), [`@ext:${pkg.publisher}.${pkg.name}`]);
  });

  it('the TRIM switch is trim.searchRowSparsity ("Search Row Sparsity"); trim.trim still works', () => {
    assert.equal(settings['trim.searchRowSparsity'].type, 'boolean');
    assert.match(String(settings['trim.searchRowSparsity'].markdownDescription), /^\*\*TRIM\*\*/);
    assert.match(String(settings['trim.trim'].markdownDeprecationMessage), /#trim\.searchRowSparsity#/);
    const value = (s: Record<string, unknown>): unknown => settingsLayer(s, null).layer?.values.trim;
    assert.equal(value({ trim: true }), true);
    assert.equal(value({ searchRowSparsity: true }), true);
    assert.equal(value({ trim: true, searchRowSparsity: false }), false);
    assert.equal(value({ searchRowSparsity: true, trim: false }), true);
  });
});
