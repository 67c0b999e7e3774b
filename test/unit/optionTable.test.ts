// The option drift test: schemas/trim.config.schema.json is the one table of the options; every
// consumer must agree with it. For every option, values on and around its bounds (min, max, just
// inside, just outside, wrong types, null) are put to each consumer, and each verdict must equal
// the schema's own, computed here by Ajv (an outside JSON Schema validator, not the project's code):
//   the core (validatePruneOptions), the CLI's flags (parsed by commander), the package.json
//   settings (their JSON schemas, as VS Code validates them), the panel's form (parseDraft), the
//   host's check of the panel's messages (parseFromWebview) and the extension's layer check.
// Then names, defaults, choices and descriptions: the CLI's flags and defaults, defaultPruneOptions,
// the contract's `as const` lists, the settings (as scripts/settings-from-schema.mjs writes them).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import { Command, CommanderError } from 'commander';
import { OPTION_CHOICES, type PruneOptions } from '../../src/contract';
import { addPruneOptions, cliHelp, NO_FLAG, pruneOptionsFrom } from '../../src/cliOptions';
import { isTrimError } from '../../src/core/errors';
import { autoGpuMemory } from '../../src/core/gpu/budget';
import { checkOption, defaultPruneOptions, ENGINE_DEFAULTS, flagOf, validatePruneOptions } from '../../src/core/options';
import { SETTING_FIELDS, valuesLayer } from '../../src/extension/configResolve';
import { parseFromWebview, RUN_OVERRIDE_KEYS } from '../../src/webviewProtocol';
import { parseDraft, type Draft } from '../../webview/panel/draft';

const ROOT = path.join(__dirname, '..', '..');
type Prop = Record<string, unknown> & { type: string | string[]; enum?: unknown[]; default?: unknown };
const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'trim.config.schema.json'), 'utf8')) as {
  properties: Record<string, Prop>;
};
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, Prop> } };
};
const SETTINGS = pkg.contributes.configuration.properties;
const OPTIONS = Object.keys(schema.properties).filter((k) => k !== '$schema');
/** Options whose values are files and folders: checked against the file system, not the table. */
const PATHS = ['model', 'out', 'calib', 'eval'];

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: false });
const validate = ajv.compile(schema);
/** The table's verdict on one option's value. */
const table = (key: string, v: unknown): boolean => validate({ [key]: v }) as boolean;
const types = (p: Prop): string[] => ([] as string[]).concat(p.type);

/** Values on and around an option's bounds, and of the wrong types. */
function probes(key: string): unknown[] {
  const p = schema.properties[key];
  const t = types(p);
  const wrong = ['abc', null, key === 'trim' || t.includes('boolean') ? 1 : true];
  if (t.includes('number') || t.includes('integer')) {
    const int = t.includes('integer');
    const step = int ? 1 : 0.001;
    const n = (k: string): number | undefined => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
    // A fraction's "below 1" is an if/then: its bound is the if's minimum.
    const below = (p.if as { minimum?: number } | undefined)?.minimum;
    const lo = n('minimum') ?? n('exclusiveMinimum') ?? -1e6;
    const hi = n('maximum') ?? n('exclusiveMaximum') ?? below ?? 1e9;
    const round = (x: number): number => Number(x.toFixed(6));
    return [
      lo,
      hi,
      round(lo - step),
      round(hi + step),
      round(lo + step),
      round(hi - step),
      round((lo + hi) / 2),
      ...(int ? [lo + 0.5] : []),
      ...wrong,
    ];
  }
  if (p.enum) return [...p.enum, 'bogus', ...wrong];
  if (t.includes('boolean')) return [true, false, 'yes', 1, null];
  if (key === 'nm') return ['2:4', '4:8', '2-4', '0:4', '02:4', '2:', '', 7, null];
  if (key === 'blockSparsity') return [[0.5], [0, 0.999], [1], [-0.001], [70], [], ['a'], 0.5, null];
  return wrong;
}

/** The core's verdict: validatePruneOptions accepts the defaults with this value, or throws E_OPTION. */
function core(key: string, v: unknown): boolean {
  try {
    validatePruneOptions({ ...defaultPruneOptions(), out: '/tmp/trim-option-table-out', [key]: v } as PruneOptions);
    return true;
  } catch (e) {
    if (isTrimError(e) && e.code === 'E_OPTION') return false;
    throw e;
  }
}

/** A `trim prune` command with the flags of the table, that throws instead of exiting. */
function pruneCommand(): Command {
  const cmd = new Command('prune').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  return addPruneOptions(cmd, defaultPruneOptions());
}

/** The CLI's verdict and value: the flags parsed, the options they give, or null when refused. */
function cli(args: string[]): PruneOptions | null {
  const cmd = pruneCommand();
  try {
    cmd.parse(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError || (isTrimError(e) && e.code === 'E_OPTION')) return null;
    throw e;
  }
  return pruneOptionsFrom(cmd.opts(), defaultPruneOptions(), defaultPruneOptions().model);
}

const BASE_DRAFT: Draft = {
  runId: 'r',
  trim: 'on',
  iterations: '10',
  score: 'wanda',
  sparsity: '70',
  blockSparsity: '',
  allocation: 'uniform',
  owlLambda: '0.08',
  owlM: '5',
  alphaEpsilon: '0.3',
  nsamples: '128',
  seqlen: '',
  maxEvalWindows: '',
  precision: 'auto',
};
/** The panel's verdict: its draft with the value typed in (fractions as percentages), checked. */
function panel(key: keyof Draft, v: unknown): { ok: boolean; value?: unknown } {
  const pct = key === 'sparsity' || key === 'blockSparsity';
  const text = (x: unknown): string => (x === null ? '' : typeof x === 'number' && pct ? String(Number((x * 100).toFixed(6))) : String(x));
  const typed = key === 'trim' && typeof v === 'boolean' ? (v ? 'on' : 'off') : Array.isArray(v) ? v.map(text).join(', ') : text(v);
  const r = parseDraft({ ...BASE_DRAFT, [key]: typed }, Array.isArray(v) ? v.length : 2);
  return 'overrides' in r ? { ok: true, value: (r.overrides as Record<string, unknown>)[key] } : { ok: false };
}

const DRAFT_KEYS = Object.keys(BASE_DRAFT).filter((k) => k !== 'runId') as (keyof Draft)[];

describe("option table: every consumer gives the schema's verdict on every option's boundary values", () => {
  it('the core (validatePruneOptions, checkOption)', () => {
    let n = 0;
    for (const key of OPTIONS.filter((k) => !PATHS.includes(k))) {
      for (const v of probes(key)) {
        // N:M's relation (N < M ≤ 64) is beyond a pattern: the core refuses more (below).
        assert.equal(core(key, v), table(key, v), `core vs schema: ${key} = ${JSON.stringify(v)}`);
        n++;
      }
    }
    assert.ok(n > 150, `${n} values`);
  });

  it("the CLI: each option's flag parses what the schema accepts into that value, and refuses the rest", () => {
    let n = 0;
    for (const key of OPTIONS.filter((k) => !PATHS.includes(k) && !(NO_FLAG as readonly string[]).includes(k))) {
      const t = types(schema.properties[key]);
      if (t.includes('boolean')) {
        assert.equal(cli([flagOf(key)])?.[key as keyof PruneOptions], true, `${flagOf(key)} turns ${key} on`);
        assert.equal(cli([])?.[key as keyof PruneOptions], false, `${key} is off without ${flagOf(key)}`);
        n++;
        continue;
      }
      // A command line spells values as text; null is "left out" (and `auto` for --gpu-memory).
      for (const v of probes(key).filter(
        (x) => x !== null && !(typeof x === 'string' && x !== 'abc' && x !== 'bogus' && !t.includes('string')),
      )) {
        const o = cli([`${flagOf(key)}=${String(v)}`]);
        const ok = table(key, v);
        assert.equal(o !== null, ok, `CLI vs schema: ${flagOf(key)}=${String(v)}`);
        if (ok) assert.equal(o![key as keyof PruneOptions], v, `${flagOf(key)}=${String(v)} gives ${key} = ${String(v)}`);
        n++;
      }
    }
    assert.equal(cli(['--gpu-memory=auto'])?.gpuMemory, null);
    assert.ok(n > 100, `${n} values`);
  });

  it('the settings: each trim.* setting that holds an option validates its values as the schema does', () => {
    let n = 0;
    for (const [setting, field] of Object.entries(SETTING_FIELDS)) {
      const s = SETTINGS[`trim.${setting}`];
      assert.ok(s, `trim.${setting} is contributed`);
      const check = ajv.compile(
        Object.fromEntries(
          Object.entries(s).filter(
            ([k]) =>
              ![
                'order',
                'markdownDescription',
                'markdownEnumDescriptions',
                'markdownDeprecationMessage',
                'patternErrorMessage',
                'scope',
              ].includes(k),
          ),
        ),
      );
      for (const v of probes(field)) {
        // An empty string stands for "not set" in the settings that encode their option (nm, the files).
        if (v === '' || v === null || (s.type === 'string' && PATHS.includes(field))) continue;
        // A setting holds a value, never null, unless its option is nullable.
        assert.equal(check(v), table(field, v), `trim.${setting} vs schema: ${JSON.stringify(v)}`);
        n++;
      }
      if (s.type === 'string' && s.default === '') assert.ok(check(''), `trim.${setting}: empty is "not set"`);
    }
    assert.ok(n > 80, `${n} values`);
  });

  it("the panel's form: every field accepts what the schema accepts (as typed: percentages, empty for null) and refuses the rest", () => {
    let n = 0;
    for (const key of DRAFT_KEYS) {
      for (const v of probes(key)) {
        // The form types text: a number and its text are one value, null is an empty field.
        if (typeof v === 'string' && /^-?\d/.test(v)) continue;
        if (key === 'blockSparsity' && (v === null || (Array.isArray(v) && v.length === 0))) continue; // empty field = no per-block targets
        const r = panel(key, v);
        assert.equal(r.ok, table(key, v), `panel vs schema: ${key} = ${JSON.stringify(v)}`);
        if (r.ok && typeof v === 'number') assert.ok(Math.abs((r.value as number) - v) < 1e-12, `${key}: ${String(r.value)} for ${v}`);
        n++;
      }
    }
    assert.ok(n > 80, `${n} values`);
  });

  it('the host: a "Run again" message is taken only with values the schema accepts', () => {
    let n = 0;
    for (const key of RUN_OVERRIDE_KEYS) {
      for (const v of probes(key)) {
        const m = parseFromWebview({ type: 'runAgain', runId: 'r', overrides: { [key]: v } });
        assert.equal(m !== null, table(key, v), `host vs schema: ${key} = ${JSON.stringify(v)}`);
        n++;
      }
    }
    assert.ok(n > 80, `${n} values`);
  });

  it("the extension's layers (settings, trim.config.json, Run again) check with the same schema", () => {
    for (const key of OPTIONS.filter((k) => !PATHS.includes(k))) {
      for (const v of probes(key))
        assert.equal(valuesLayer('test', { [key]: v }, null).issues.length === 0, table(key, v), `${key} = ${JSON.stringify(v)}`);
    }
  });

  it('N:M beyond its pattern (1 ≤ N < M ≤ 64): the core, the CLI and the host refuse alike', () => {
    for (const nm of ['4:2', '2:2', '2:128', '1:65']) {
      assert.equal(core('nm', nm), false, nm);
      assert.equal(cli([`--nm=${nm}`]), null, nm);
    }
    assert.equal(core('nm', '63:64'), true);
  });
});

describe('option table: names, defaults, choices and descriptions', () => {
  it("every option has a flag named after it, with its description as help; the defaults of the flags are the core's", () => {
    const flags = new Map(pruneCommand().options.map((o) => [o.long, o]));
    for (const key of OPTIONS) {
      if ((NO_FLAG as readonly string[]).includes(key)) {
        assert.ok(!flags.has(flagOf(key)), key);
        continue;
      }
      const f = flags.get(flagOf(key));
      assert.ok(f, `${flagOf(key)} for ${key}`);
      assert.ok(f.description.length > 10 && f.description === cliHelp(key), `${flagOf(key)} help`);
      const p = schema.properties[key];
      if (p.enum) assert.deepEqual(f.argChoices, p.enum, `${flagOf(key)} choices`);
    }
    // Nothing but the options, --resume and --no-eval.
    assert.deepEqual(
      [...flags.keys()].filter((f) => !OPTIONS.map(flagOf).includes(f!)),
      ['--resume', '--no-eval'],
    );
    const o = cli([])!;
    const d = defaultPruneOptions();
    assert.deepEqual({ ...o, out: '' }, { ...d, out: '' });
  });

  it("defaultPruneOptions is the schema's defaults (the embedded model and texts for the paths; baseline off outside the extension)", () => {
    const d = defaultPruneOptions() as unknown as Record<string, unknown>;
    for (const key of OPTIONS) {
      const p = schema.properties[key];
      if (PATHS.includes(key)) {
        assert.equal(typeof d[key], 'string', key);
        continue;
      }
      assert.ok('default' in p, `${key} has a default in the schema`);
      const expected = key in ENGINE_DEFAULTS ? (ENGINE_DEFAULTS as Record<string, unknown>)[key] : p.default;
      assert.deepEqual(d[key], expected, key);
      assert.ok(table(key, d[key]), `${key}'s default is valid`);
    }
    assert.deepEqual(Object.keys(ENGINE_DEFAULTS), ['baseline']);
    assert.deepEqual(Object.keys(d).sort(), [...OPTIONS, 'resume'].sort());
  });

  it("the contract's `as const` lists are the schema's enums, and every enum has one", () => {
    const enums = OPTIONS.filter((k) => schema.properties[k].enum);
    assert.deepEqual(Object.keys(OPTION_CHOICES).sort(), enums.sort());
    for (const k of enums) assert.deepEqual(OPTION_CHOICES[k as keyof typeof OPTION_CHOICES], schema.properties[k].enum, k);
  });

  it("package.json's settings are what scripts/settings-from-schema.mjs writes from the schema (names, types, defaults, bounds, enums, descriptions)", async () => {
    const { settingsFrom, RENAMED, ENCODED } = await import('../../scripts/settings-from-schema.mjs');
    assert.deepEqual(settingsFrom(SETTINGS, schema.properties), SETTINGS, 'run node scripts/settings-from-schema.mjs');
    // The script's view of which setting is which option is the extension's (SETTING_FIELDS).
    for (const [setting, field] of Object.entries(SETTING_FIELDS))
      assert.equal(RENAMED[setting] ?? ENCODED[setting] ?? setting, field, setting);
    for (const [setting, field] of Object.entries(SETTING_FIELDS)) {
      if (ENCODED[setting]) continue;
      const s = SETTINGS[`trim.${setting}`];
      const p = schema.properties[field];
      assert.deepEqual(s.type, p.type, `trim.${setting} type`);
      assert.deepEqual(s.default, p.default, `trim.${setting} default`);
      assert.deepEqual(s.enum, p.enum, `trim.${setting} enum`);
      assert.deepEqual(s.markdownEnumDescriptions, p.markdownEnumDescriptions, `trim.${setting} markdownEnumDescriptions`);
      assert.equal(s.markdownDescription, p.markdownDescription ?? p.description, `trim.${setting} description`);
    }
  });

  it('one default per option: 10 iterations, written only in the schema', () => {
    assert.equal(schema.properties.iterations.default, 10);
    assert.equal(defaultPruneOptions().iterations, 10);
    assert.equal(SETTINGS['trim.iterations'].default, 10);
    // No source file states it again (an option's default beside its name: `iterations: 10`, `'iterations', int, 10`).
    const files = (dir: string): string[] =>
      readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile() && e.name.endsWith('.ts'))
        .map((e) => path.join(e.parentPath, e.name));
    const sources = [...files('src'), ...files('webview')];
    assert.ok(sources.length > 40, `${sources.length} files`);
    for (const f of sources) assert.doesNotMatch(readFileSync(f, 'utf8'), /iterations\b[^\n]{0,12}\b10\b/, path.relative(ROOT, f));
  });

  it('--gpu-memory auto never sizes below what the options allow', () => {
    for (const freeMiB of [0, 512, 1024, 2048, 2500, 80000]) {
      const { gib } = autoGpuMemory({ name: 'card', freeMiB, totalMiB: 81920, driver: '1' } as never);
      assert.doesNotThrow(() => checkOption('gpuMemory', gib), `${freeMiB} MiB free → ${gib} GiB`);
    }
    assert.equal(table('gpuMemory', 1), core('gpuMemory', 1));
    assert.equal(table('gpuMemory', 0.999), false);
    assert.equal(core('gpuMemory', 0.999), false);
  });
});
