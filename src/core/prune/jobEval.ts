/**
 * The perplexity phases of a pruning job (prune.ts): the dense model's (the resumed run's, from
 * the cache, or evaluated and cached) and the pruned model's, each on the evaluation text and
 * timed as its phase.
 */
import type { EvalResult, PhaseSeconds, PruneOptions, TrimEvent } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { denseKey, readDense, writeDense } from '../eval/denseCache';
import { evaluatePerplexity, windowCount } from '../eval/perplexity';
import type { Resumed } from '../io/resumeFormat';
import type { Engine } from '../ort/engine';
import type { Runner } from '../ort/runner';
import type { JobControl } from './prune';

/** Runs `f` as `phase` of the job, adding the seconds it takes to that phase's time. */
export type Timed = <T>(phase: keyof PhaseSeconds, f: () => Promise<T> | T) => Promise<T>;

/** What the evaluation phases of one job share. */
export interface EvalContext {
  o: PruneOptions;
  seqlen: number;
  emit: (e: TrimEvent) => void;
  ctl: JobControl;
  timed: Timed;
}

/** Perplexity on the evaluation text of the dense model, or of the one written, as that phase of the job. */
export async function evaluate(
  j: EvalContext,
  phase: 'dense_eval' | 'eval',
  ids: Int32Array,
  open: () => { ckpt: Checkpoint; runner: Runner; own: boolean },
): Promise<EvalResult> {
  const { o, seqlen, emit, ctl, timed } = j;
  emit({
    type: 'phase',
    phase,
    message: `Evaluating the ${phase === 'eval' ? 'pruned' : 'dense'} model (${windowCount(ids.length, seqlen, o.maxEvalWindows)} windows × ${seqlen} tokens)`,
  });
  const m = open();
  try {
    return await timed(phase, () =>
      evaluatePerplexity(
        m.ckpt,
        m.runner,
        ids,
        o.maxEvalWindows,
        (d, t) => emit({ type: 'progress', phase, done: d, total: t }),
        ctl.check,
      ),
    );
  } finally {
    if (m.own) await m.runner.release();
  }
}

/** Dense perplexity: the resumed run's, else cached per model, text and protocol (or evaluated and cached). */
export async function densePerplexity(
  j: EvalContext,
  ckpt: Checkpoint,
  engine: Engine,
  runner: Runner,
  evalIds: Int32Array | null,
  resumed: Resumed | null,
): Promise<EvalResult | null> {
  let dense: EvalResult | null = resumed ? resumed.state.dense : null;
  if (dense) j.emit({ type: 'eval', which: 'dense', result: dense });
  else if (evalIds && j.o.eval) {
    const cacheKey = denseKey(ckpt, j.o.eval, j.seqlen, j.o.maxEvalWindows, engine.ep);
    dense = readDense(cacheKey);
    if (!dense) {
      dense = await evaluate(j, 'dense_eval', evalIds, () => ({ ckpt, runner, own: false }));
      writeDense(cacheKey, dense);
    }
    j.emit({ type: 'eval', which: 'dense', result: dense });
  }
  return dense;
}
