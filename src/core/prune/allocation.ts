/**
 * Layer-wise allocation: a target sparsity per block (REFERENCE.md §3). Uniform (the target for
 * every block), the caller's blockSparsity, OWL (outlier ratios from a dense pass over the
 * calibration windows) or AlphaPruning (heavy-tail α of every linear's spectrum).
 */
import type { PruneOptions, TrimEvent } from '../../contract';
import { alphaTargets, blockMeanAlpha } from './alpha';
import { computeModelAlphas } from './alphaCache';
import type { Checkpoint } from '../model/checkpoint';
import type { Engine } from '../ort/engine';
import { TrimError } from '../errors';
import { nonFiniteActivations } from './fused/fusedResult';
import { outlierRatio, owlTargets } from './owl';
import { firstNonFinite } from '../io/resume';
import type { Activations, Runner } from '../ort/runner';
import { norm2, scoreMatrix } from './scores';

export interface Allocation {
  targets: number[];
  /** OWL outlier ratios D_l, per block (allocation owl). */
  ratios: number[] | null;
  /** AlphaPruning α per block and linear (allocation alpha). */
  alphas: number[][] | null;
}

export interface AllocationContext {
  o: PruneOptions;
  ckpt: Checkpoint;
  engine: Engine;
  runner: Runner;
  /** The calibration windows' embeddings (block 0's inputs). */
  embed: () => Promise<Activations>;
  emit: (e: TrimEvent) => void;
  check: () => void;
  /** Runs `f`, adding its seconds to the job's allocation phase. */
  timed: <T>(f: () => Promise<T>) => Promise<T>;
}

/**
 * The block targets of a job (those of the interrupted run it resumes, when `resumed`); throws
 * E_OPTION when one falls outside [0, 1).
 */
export async function allocate(c: AllocationContext, resumed: Allocation | null): Promise<Allocation> {
  const { o, ckpt } = c;
  let a: Allocation = { targets: new Array(ckpt.config.layers).fill(o.sparsity), ratios: null, alphas: null };
  if (resumed) a = resumed;
  else if (o.blockSparsity) a.targets = o.blockSparsity.slice();
  else if (o.allocation === 'owl') a = await owl(c);
  else if (o.allocation === 'alpha') a = await alpha(c);
  const bad = a.targets.findIndex((t) => !(t >= 0 && t < 1));
  if (bad >= 0)
    throw new TrimError(
      'E_OPTION',
      `block ${bad} would get sparsity ${a.targets[bad].toFixed(3)}, outside [0, 1); lower --owl-lambda or the target.`,
    );
  return a;
}

/** OWL: outlier ratios of every block's Wanda scores, from a dense pass, → block targets. */
async function owl(c: AllocationContext): Promise<Allocation> {
  const { o, ckpt, emit } = c;
  const layers = ckpt.config.layers;
  const shapes = ckpt.linearShapes();
  emit({ type: 'phase', phase: 'allocation', message: 'OWL: outlier ratios from a dense pass' });
  const ratios = await c.timed(async () => {
    let acts = await c.embed();
    const D: number[] = [];
    for (let b = 0; b < layers; b++) {
      c.check();
      const { f32: w } = ckpt.readBlock(b);
      const r = await c.runner.runBlock(w, acts, { stats: true, propagate: true });
      const scores = ckpt.layout.linears.map((l, i) => {
        const [rows, cols] = shapes[i];
        return scoreMatrix(w.get(`${l}.weight`)!, rows, cols, o.score, norm2(r.stats!, ckpt.layout.linearInput[i], o.nsamples));
      });
      D.push(outlierRatio(scores, o.owlM));
      acts = r.out!;
      if (acts.some((x) => firstNonFinite(x) >= 0)) throw nonFiniteActivations(ckpt, b);
      emit({ type: 'progress', phase: 'allocation', done: b + 1, total: layers });
    }
    return D;
  });
  const targets = owlTargets(ratios, o.sparsity, o.owlLambda);
  emit({ type: 'log', level: 'info', message: `OWL block targets: ${targets.map((t) => t.toFixed(3)).join(' ')}` });
  return { targets, ratios, alphas: null };
}

/** AlphaPruning: per-linear alpha_peak of the weights' spectra (cached per checkpoint), block means → targets. */
async function alpha(c: AllocationContext): Promise<Allocation> {
  const { o, ckpt, emit } = c;
  const layers = ckpt.config.layers;
  emit({
    type: 'phase',
    phase: 'allocation',
    message: 'AlphaPruning: heavy-tail α of every linear (Gram on the EP, eigenvalues on the CPU)',
  });
  const r = await c.timed(() =>
    computeModelAlphas(ckpt, c.engine, {
      check: c.check,
      onBlock: (b) => emit({ type: 'progress', phase: 'allocation', done: b + 1, total: layers }),
    }),
  );
  const alphas = r.alphas;
  const blockParams = alphas.map(() => ckpt.linearShapes().reduce((a, [rows, cols]) => a + rows * cols, 0));
  const targets = alphaTargets(alphas.map(blockMeanAlpha), blockParams, o.sparsity, o.alphaEpsilon);
  emit({
    type: 'log',
    level: 'info',
    message: `AlphaPruning (ε ${o.alphaEpsilon}${r.cachedBlocks ? `, α of ${r.cachedBlocks}/${layers} blocks from the cache` : ''}) block α: ${alphas.map((a) => blockMeanAlpha(a).toFixed(3)).join(' ')}; block targets: ${targets.map((t) => t.toFixed(3)).join(' ')}`,
  });
  return { targets, ratios: null, alphas };
}
