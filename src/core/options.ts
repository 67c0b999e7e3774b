/** Defaults and validation of a pruning job's options; every message names the option. */
import * as path from 'node:path';
import { LAYER_METRICS, ROW_METRICS, type PruneOptions } from '../contract';
import { defaults } from './defaults';
import { TrimError } from './errors';
import schema from '../../schemas/trim.config.schema.json';

export function defaultPruneOptions(): PruneOptions {
  return {
    model: defaults.model(),
    out: '',
    overwrite: false,
    resume: false,
    sparsity: 0.7,
    blockSparsity: null,
    score: 'wanda',
    trim: false,
    iterations: 10,
    allocation: 'uniform',
    owlLambda: 0.08,
    owlM: 5,
    alphaEpsilon: 0.3,
    nm: null,
    layerMetric: 'cosim_flat',
    rowMetric: 'cosim',
    forbidNegLr: false,
    inputRecalc: false,
    nsamples: 128,
    seqlen: null,
    calib: defaults.calib(),
    eval: defaults.evalText(),
    maxEvalWindows: null,
    ep: 'auto',
    batch: null,
    gpuMemory: null,
    blocksPerRun: null,
    precision: 'auto',
    baseline: false,
    saveMasks: false,
  };
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
  return { n, m: mm };
}

/** A numeric option's bounds as the schema states them. */
interface NumberBounds {
  integer: boolean;
  nullable: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

/**
 * The bounds of every numeric option, from schemas/trim.config.schema.json: the one place they are
 * written (the editor validates trim.config.json with it; the CLI, the worker and the extension
 * validate through this function).
 */
export const OPTION_BOUNDS: Record<string, NumberBounds> = Object.fromEntries(
  Object.entries(schema.properties as Record<string, Record<string, unknown>>).flatMap(([key, p]) => {
    const types = ([] as unknown[]).concat(p.type);
    if (!types.includes('number') && !types.includes('integer')) return [];
    const pick = (k: string): number | undefined => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
    // A fraction states "below 1" as `if: {minimum: 1}, then: {errorMessage}` (the words VS Code shows): an exclusive maximum.
    const below = (p.if as { minimum?: unknown } | undefined)?.minimum;
    return [[key, {
      integer: types.includes('integer'), nullable: types.includes('null'),
      minimum: pick('minimum'), maximum: pick('maximum'), exclusiveMinimum: pick('exclusiveMinimum'),
      exclusiveMaximum: pick('exclusiveMaximum') ?? (typeof below === 'number' && p.then ? below : undefined),
    }]];
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

export function validatePruneOptions(o: PruneOptions): void {
  // Fractions first: the schema states "below 1" through an if/then that carries the words to
  // write ("write 0.7 for 70%"), which VS Code shows; here the same words.
  const fraction = (name: string, v: unknown, what: string): void => {
    if (typeof v === 'number' && v >= 1) throw opt(name, `${v} is out of range [0, 1): ${what} is a fraction, ${fractionHint(v)}.`);
    checkBounds(name, v, { integer: false, nullable: false, minimum: 0, exclusiveMaximum: 1 });
  };
  fraction('--sparsity', o.sparsity, 'sparsity');
  const values = o as unknown as Record<string, unknown>;
  for (const [key, b] of Object.entries(OPTION_BOUNDS)) {
    const v = values[key];
    if (key === 'sparsity' || v === undefined || (v === null && b.nullable)) continue;
    checkBounds(flagOf(key), v, b);
  }
  if (!['wanda', 'magnitude'].includes(o.score)) throw opt('--score', `"${o.score}" is not one of wanda, magnitude.`);
  if (!['uniform', 'owl', 'alpha'].includes(o.allocation)) throw opt('--allocation', `"${o.allocation}" is not one of uniform, owl, alpha.`);
  if (!(LAYER_METRICS as readonly string[]).includes(o.layerMetric)) throw opt('--layer-metric', `"${o.layerMetric}" is not one of ${LAYER_METRICS.join(', ')}.`);
  if (!(ROW_METRICS as readonly string[]).includes(o.rowMetric)) throw opt('--row-metric', `"${o.rowMetric}" is not one of ${ROW_METRICS.join(', ')}.`);
  if (!['auto', 'cuda', 'cpu'].includes(o.ep)) throw opt('--ep', `"${o.ep}" is not one of auto, cuda, cpu.`);
  if (o.precision !== undefined && !['auto', 'float32', 'float16'].includes(o.precision)) throw opt('--precision', `"${o.precision}" is not one of auto, float32, float16.`);
  if (o.nm !== null) {
    parseNM(o.nm);
    if (o.trim) throw opt('--nm', 'N:M structure and TRIM cannot be combined (TRIM gives rows different sparsities); drop one of them.');
    if (o.allocation !== 'uniform' || o.blockSparsity) throw opt('--nm', 'N:M fixes the sparsity at N/M; it cannot be combined with a layer allocation or per-block targets.');
  }
  if (o.blockSparsity) o.blockSparsity.forEach((v, i) => fraction(`blockSparsity[${i}]`, v, 'a block sparsity'));
  if (o.baseline !== undefined && typeof o.baseline !== 'boolean') throw opt('--baseline', `must be true or false, got ${o.baseline}.`);
  if (!o.out) throw opt('--out', 'an output folder is required.');
}
