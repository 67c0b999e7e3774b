/** Defaults and validation of a pruning job's options; every message names the option. */
import * as path from 'node:path';
import { LAYER_METRICS, ROW_METRICS, type PruneOptions } from '../contract';
import { defaults } from './defaults';
import { TrimError } from './errors';

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

export function validatePruneOptions(o: PruneOptions): void {
  const num = (name: string, v: number, lo: number, hi: number, loOpen = false, hiOpen = false): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || (hiOpen ? v >= hi : v > hi)) {
      throw opt(name, `${v} is out of range ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}.`);
    }
  };
  const int = (name: string, v: number, lo: number): void => {
    if (!Number.isInteger(v) || v < lo) throw opt(name, `must be an integer ≥ ${lo}, got ${v}.`);
  };
  const fraction = (name: string, v: number, what: string): void => {
    if (typeof v === 'number' && v >= 1) throw opt(name, `${v} is out of range [0, 1): ${what} is a fraction, ${fractionHint(v)}.`);
    num(name, v, 0, 1, false, true);
  };
  fraction('--sparsity', o.sparsity, 'sparsity');
  int('--iterations', o.iterations, 0);
  int('--nsamples', o.nsamples, 1);
  if (o.seqlen !== null) int('--seqlen', o.seqlen, 2);
  if (o.batch !== null) int('--batch', o.batch, 1);
  if (o.blocksPerRun != null) int('--blocks-per-run', o.blocksPerRun, 1);
  if (o.gpuMemory != null) num('--gpu-memory', o.gpuMemory, 1, 4096, true);
  if (o.maxEvalWindows !== null) int('--max-eval-windows', o.maxEvalWindows, 1);
  num('--owl-lambda', o.owlLambda, 0, 0.5);
  num('--owl-m', o.owlM, 0, 1e6, true);
  num('--alpha-epsilon', o.alphaEpsilon, 0, 1);
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
