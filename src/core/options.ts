/**
 * Defaults and validation of a pruning job's options; every message names the option. Both read
 * schemas/trim.config.schema.json, the one table of the options (names, types, defaults, bounds,
 * choices, descriptions): the editor validates trim.config.json with it, the extension resolves
 * settings with it, the CLI builds its flags from it (src/cliOptions.ts) and the panel its form.
 */
import * as path from 'node:path';
import { numberBounds, OPTION_CHOICES, type NumberBounds, type OptionSchema, type PruneOptions } from '../contract';
import { defaults } from './defaults';
import { TrimError } from './errors';
import schema from '../../schemas/trim.config.schema.json';

/** Every option's entry in the schema, by name (without `$schema`). */
export const OPTION_SCHEMA: Record<string, OptionSchema> = Object.fromEntries(
  Object.entries(schema.properties as Record<string, OptionSchema>).filter(([k]) => k !== '$schema'),
);

/**
 * Where the engine's default is not the schema's: the extension prunes a TRIM run's baseline
 * unless told not to (the schema's default, true), the engine and the CLI only when asked
 * (`--baseline`); a job that absent-mindedly ran twice as long would be a worse default there.
 */
export const ENGINE_DEFAULTS: Partial<PruneOptions> = { baseline: false };

/** The defaults of a job: the schema's, the embedded model and texts, no output folder yet. */
export function defaultPruneOptions(): PruneOptions {
  const o: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(OPTION_SCHEMA)) {
    if (k === 'model') o.model = defaults.model();
    else if (k === 'out') o.out = '';
    else if (k === 'calib') o.calib = defaults.calib();
    else if (k === 'eval') o.eval = defaults.evalText();
    else if ('default' in p) o[k] = structuredClone(p.default);
    if (k === 'overwrite') o.resume = false;
  }
  return { ...o, ...ENGINE_DEFAULTS } as unknown as PruneOptions;
}

/** The default output folder: `<model>-trim-<sparsity>` beside the model. */
export function defaultOut(o: Pick<PruneOptions, 'model' | 'sparsity' | 'trim'>, cwd = process.cwd()): string {
  const base = path.basename(path.resolve(o.model));
  return path.join(cwd, `${base}-${o.trim ? 'trim' : 'pruned'}-${Math.round(o.sparsity * 100)}`);
}

/** What to write for a fraction given as a percentage: "write 0.7 for 70%". */
export function fractionHint(v: number): string {
  return Number.isFinite(v) && v >= 2 && v <= 100 ? `write ${+(v / 100).toFixed(4)} for ${v}%` : 'write 0.7 for 70%';
}

function opt(name: string, what: string): TrimError {
  return new TrimError('E_OPTION', `${name}: ${what}`);
}

export function parseNM(nm: string): { n: number; m: number } {
  const m = /^(\d+):(\d+)$/.exec(nm);
  if (!m) throw opt('--nm', `"${nm}" is not of the form N:M (e.g. 2:4).`);
  const n = Number(m[1]);
  const mm = Number(m[2]);
  if (n < 1 || mm < 2 || n >= mm || mm > 64) throw opt('--nm', `${nm} is invalid: need 1 ≤ N < M ≤ 64 (e.g. 2:4, 4:8).`);
  // The form the schema states (no leading zeros); the bound 64 is this function's.
  if (!new RegExp(OPTION_SCHEMA.nm.pattern ?? '').test(nm)) throw opt('--nm', `"${nm}" is not of the form N:M (e.g. 2:4).`);
  return { n, m: mm };
}

/** The bounds of every numeric option, from the schema (see numberBounds in src/contract.ts). */
export const OPTION_BOUNDS: Record<string, NumberBounds> = Object.fromEntries(
  Object.entries(OPTION_SCHEMA).flatMap(([key, p]) => {
    const b = numberBounds(p);
    return b ? [[key, b]] : [];
  }),
);

/** The CLI flag of an option (`owlLambda` → `--owl-lambda`). */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function checkBounds(name: string, v: unknown, b: NumberBounds): void {
  if (b.integer) {
    const lo = b.minimum ?? (b.exclusiveMinimum !== undefined ? b.exclusiveMinimum + 1 : -Infinity);
    if (!Number.isInteger(v) || (v as number) < lo) throw opt(name, `must be an integer ≥ ${lo}, got ${v}.`);
    if (b.maximum !== undefined && (v as number) > b.maximum) throw opt(name, `must be at most ${b.maximum}, got ${v}.`);
    return;
  }
  const lo = b.exclusiveMinimum ?? b.minimum ?? -Infinity;
  const hi = b.exclusiveMaximum ?? b.maximum ?? Infinity;
  const loOpen = b.exclusiveMinimum !== undefined;
  const hiOpen = b.exclusiveMaximum !== undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || (hiOpen ? v >= hi : v > hi)) {
    throw opt(name, `${v} is out of range ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}.`);
  }
}

/** A fraction given as a percentage gets the number to write (the words of the schema's if/then). */
function checkFraction(name: string, v: unknown, what: string, b: NumberBounds): void {
  if (typeof v === 'number' && b.exclusiveMaximum === 1 && v >= 1)
    throw opt(name, `${v} is out of range [0, 1): ${what} is a fraction, ${fractionHint(v)}.`);
  checkBounds(name, v, b);
}

/**
 * Checks one option's value against its schema entry (type, bounds, choices); throws E_OPTION
 * naming `name` (its CLI flag unless given). Absent (undefined) values pass: they take the default.
 */
export function checkOption(key: string, v: unknown, name = flagOf(key)): void {
  const p = OPTION_SCHEMA[key];
  if (!p || v === undefined) return;
  const types = ([] as unknown[]).concat(p.type);
  if (v === null) {
    if (!types.includes('null')) throw opt(name, 'must be given (null is not a value of it).');
    return;
  }
  const b = OPTION_BOUNDS[key];
  if (b) {
    if (key === 'sparsity') checkFraction(name, v, 'sparsity', b);
    else checkBounds(name, v, b);
    return;
  }
  const choices = (OPTION_CHOICES as Record<string, readonly string[]>)[key];
  if (choices) {
    if (!choices.includes(v as string)) throw opt(name, `"${v}" is not one of ${choices.join(', ')}.`);
    return;
  }
  if (types.includes('boolean') && typeof v !== 'boolean') throw opt(name, `must be true or false, got ${v}.`);
  if (types.includes('string') && typeof v !== 'string') throw opt(name, `must be a string, got ${v}.`);
  if (key === 'nm') parseNM(v as string);
  if (key === 'blockSparsity') {
    const item = numberBounds(p.items ?? {});
    if (!Array.isArray(v) || v.length === 0 || !item) throw opt('blockSparsity', 'must be a list of fractions, one per block.');
    v.forEach((x, i) => checkFraction(`blockSparsity[${i}]`, x, 'a block sparsity', item));
  }
}

export function validatePruneOptions(o: PruneOptions): void {
  const values = o as unknown as Record<string, unknown>;
  // Sparsity first: its message carries the number to write for a percentage.
  checkOption('sparsity', o.sparsity);
  for (const key of Object.keys(OPTION_SCHEMA)) {
    if (key === 'sparsity' || key === 'model' || key === 'out' || key === 'calib' || key === 'eval') continue;
    checkOption(key, values[key]);
  }
  if (o.nm !== null) {
    if (o.trim) throw opt('--nm', 'N:M structure and TRIM cannot be combined (TRIM gives rows different sparsities); drop one of them.');
    if (o.allocation !== 'uniform' || o.blockSparsity)
      throw opt('--nm', 'N:M fixes the sparsity at N/M; it cannot be combined with a layer allocation or per-block targets.');
  }
  if (!o.out) throw opt('--out', 'an output folder is required.');
}
