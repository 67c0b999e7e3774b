/**
 * The pruning job (REFERENCE.md §1-§3), readable in one sitting:
 *
 *   calibration windows → embeddings → for each block:
 *     statistics pass (Wanda sums of squares, last-token inputs X)
 *     → scores → per-linear target → TRIM search (or uniform / N:M) → masks applied
 *     → pruned weights written into the partial output → propagation pass
 *   → pruned checkpoint evaluated from the written files → report → renamed into place.
 *
 * The blocks are pruned through one interface (blockPruner.ts) with two implementations: the
 * fused graph (fusedBlocks.ts) and the host's block-by-block passes (hostBlocks.ts). Allocation
 * is allocation.ts, the report jobReport.ts, the setting up jobSetup.ts, the perplexity phases
 * jobEval.ts, and the output's resume checkpoints, commit and settling jobOutput.ts.
 */
import * as os from 'node:os';
import type { EvalResult, PhaseSeconds, PruneOptions, PruneSummary, TrimEvent } from '../../contract';
import { allocate } from './allocation';
import { runBaseline } from './baseline';
import { Progress } from './blockLoop';
import type { BlockPruner } from './blockPruner';
import { Checkpoint } from '../model/checkpoint';
import { FusedBlocks } from './fused/fusedBlocks';
import { applyMask, HostBlocks } from './hostBlocks';
import { densePerplexity, evaluate, type EvalContext, type Timed } from './jobEval';
import { commit, openResume, settleFailure, stopNow } from './jobOutput';
import { setUp, tokenizeTexts } from './jobSetup';
import { writeMasks } from './masks';
import { OutputWriter, summaryOfCommitted } from '../io/output';
import { checkOutputPath } from '../io/outputPath';
import { OutputLock } from '../io/outputLock';
import { validatePruneOptions } from '../options';
import { Runner, type Activations } from '../ort/runner';
import { norm2 } from './scores';

export { TRIM_VERSION, zeroFraction } from './jobReport';
export { defaultSeqlen } from './jobSetup';

export interface JobControl {
  /** Throws E_CANCELLED when the job should stop. */
  check(): void;
  /**
   * Resolves once the events emitted so far have reached their reader (the worker's IPC): awaited
   * after the commit and before the output's lock is released, so that whoever watches the lock
   * (the job manager) has the `done` event whenever the lock is gone.
   */
  flush?(): Promise<void>;
  /**
   * Receives, once the output is being written, a function that settles it synchronously as a
   * cancel would (a --resume run keeps its checkpoint, any other run removes its partial folder)
   * and says what it did; null once the job has settled it itself. The CLI calls it to stop at
   * once, in the middle of a block (a second Ctrl-C, a closed output pipe).
   */
  onStopNow?(settle: (() => string) | null): void;
  /**
   * Told when the job has taken the lock of an output (`held`, before anything of it is touched)
   * and when it is about to release it (with whether it committed): the CLI's supervising process
   * (cliSupervisor.ts) settles the outputs a job held when it had to kill it.
   */
  onLock?(note: { out: string; job: string; resume: boolean; held: boolean; committed?: boolean }): void;
}

const never: JobControl = { check: () => {} };

function zeroPhases(): PhaseSeconds {
  return {
    load: 0,
    calibration: 0,
    allocation: 0,
    embed: 0,
    statistics: 0,
    trim: 0,
    prune: 0,
    propagate: 0,
    write: 0,
    dense_eval: 0,
    eval: 0,
    total: 0,
  };
}

/**
 * Runs a pruning job under the lock of its output (outputLock.ts): the output path is checked
 * against the source first (nothing is written before), then the lock is taken before anything of
 * the output is touched, an earlier job's interrupted commit is finished or rolled back, and the
 * lock is released at the end, with the parent folders this job created unless it committed.
 */
export async function runPrune(
  o: PruneOptions,
  emit: (e: TrimEvent) => void,
  ctl: JobControl = never,
  job = 'prune',
): Promise<PruneSummary> {
  validatePruneOptions(o);
  const guarded = [o.calib, ...(o.eval ? [o.eval] : [])];
  const out = checkOutputPath(o.model, o.out, o.overwrite, guarded);
  const lock = OutputLock.acquire(out, job);
  ctl.onLock?.({ out, job, resume: !!o.resume, held: true });
  // Stopping at once (JobControl.onStopNow: a closed output pipe, a second Ctrl-C) settles what the
  // job wrote, then releases the lock, so that nothing is left behind. Once the job hands settling
  // back (null: its commit is under way) a stop at once is like a kill: the next job on this output
  // finishes or rolls back the commit under the lock.
  const withLock = (settle: (() => string) | null): (() => string) | null =>
    settle &&
    ((): string => {
      const what = settle();
      lock.release(false);
      return what;
    });
  ctl.onStopNow?.(withLock(() => 'nothing was written.'));
  const inner: JobControl = ctl.onStopNow ? { ...ctl, onStopNow: (settle) => ctl.onStopNow!(withLock(settle)) } : ctl;
  let committed = false;
  try {
    const recovered = lock.recover();
    if (recovered !== 'none') {
      emit({
        type: 'log',
        level: 'warn',
        message:
          recovered === 'committed'
            ? `An earlier run on ${out} was stopped while moving its result into place; its result was put in place.`
            : `An earlier run on ${out} was stopped while moving its result into place; the previous ${out} was put back.`,
      });
    }
    if (recovered === 'committed' && o.resume) {
      // The interrupted run had decided its commit (its checkpoint was already superseded by the
      // whole result): that result is now in place, so there is nothing left to resume.
      const done = summaryOfCommitted(out);
      if (done) {
        committed = true;
        emit({ type: 'log', level: 'info', message: `Nothing to resume: the interrupted run had finished; its result is in ${out}.` });
        emit({ type: 'done', summary: done });
        await ctl.flush?.();
        return done;
      }
    }
    checkOutputPath(o.model, o.out, o.overwrite, guarded);
    const r = await pruneLocked(o, emit, inner, job);
    committed = true;
    await ctl.flush?.();
    return r;
  } finally {
    ctl.onLock?.({ out, job, resume: !!o.resume, held: false, committed });
    lock.release(committed);
  }
}

/** A timer that adds the seconds each phase of the job takes to `sec`. */
function phaseTimer(sec: PhaseSeconds): Timed {
  return async <T>(phase: keyof PhaseSeconds, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      sec[phase] = (sec[phase] ?? 0) + (performance.now() - t) / 1000;
    }
  };
}

/**
 * One job under its output's lock: set up, tokenize, (resume,) evaluate the dense model,
 * allocate, prune the blocks, evaluate what was written, report, commit.
 */
async function pruneLocked(o: PruneOptions, emit: (e: TrimEvent) => void, ctl: JobControl, job: string): Promise<PruneSummary> {
  const tAll = performance.now();
  const sec = zeroPhases();
  const timed = phaseTimer(sec);

  validatePruneOptions(o);
  // The baseline (TRIM off, same protocol) first, so the report is written once, whole.
  const baseline = o.baseline && o.trim ? await runBaseline(o, emit, (b, e) => runPrune(b, e, ctl, `${job}-baseline`)) : null;
  const ckpt = await timed('load', () => Checkpoint.open(o.model));
  const setup = await setUp(o, ckpt, emit, job);
  const { engine, seqlen, fusedPlan, batch } = setup;
  const layers = ckpt.config.layers;
  const j: EvalContext = { o, seqlen, emit, ctl, timed };

  // The fused path's first run needs only the token ids: its weights are read while the text is
  // tokenized, when pruning follows at once (no dense evaluation or allocation pass in between,
  // during which they would only hold host memory).
  emit({ type: 'phase', phase: 'calibration', message: `Tokenizing ${o.calib}` });
  let fused =
    fusedPlan && !o.resume && !o.eval && (o.allocation === 'uniform' || o.blockSparsity)
      ? new FusedBlocks(ckpt, engine, seqlen, fusedPlan, setup.ro, emit)
      : null;
  const tokenized = fused ? (await fused.tokenizeWhilePreparing(o.model, o.calib, (f) => timed('prune', f))).ids : null;
  const { windows, evalIds } = await tokenizeTexts(o, ckpt, seqlen, tokenized, (f) => timed('calibration', f));
  ctl.check();

  const { key, store, resumed } = openResume(o, ckpt, setup, emit);
  const writer = OutputWriter.begin(ckpt, o.out, o.overwrite, resumed !== null);
  ctl.onStopNow?.(stopNow(o, writer, store));
  const runner = new Runner(ckpt, engine, seqlen, batch);
  const resumedSeconds = resumed ? resumed.state.seconds.total : 0;
  if (resumed) for (const k of Object.keys(sec) as (keyof PhaseSeconds)[]) sec[k] = (sec[k] ?? 0) + (resumed.state.seconds[k] ?? 0);
  if (resumed?.state.seconds.device !== undefined) sec.device = (sec.device ?? 0) + resumed.state.seconds.device;
  try {
    const dense = await densePerplexity(j, ckpt, engine, runner, evalIds, resumed);
    const embed = (): Promise<Activations> =>
      timed('embed', () =>
        runner.embed(windows, ckpt.readF32(ckpt.layout.embed), ckpt.layout.positions ? ckpt.readF32(ckpt.layout.positions) : null),
      );
    const alloc = await allocate(
      { o, ckpt, engine, runner, embed, emit, check: ctl.check, timed: (f) => timed('allocation', f) },
      resumed && resumed.state,
    );

    // Sequential block-wise pruning, from the first block or the one after the last checkpoint.
    emit({
      type: 'phase',
      phase: 'blocks',
      message: `Pruning ${layers} blocks (${o.nsamples} windows × ${seqlen} tokens, ${batch} per batch${fusedPlan ? `, ${fusedPlan.blocksPerRun} block${fusedPlan.blocksPerRun > 1 ? 's' : ''} per run${engine.ep === 'cuda' ? `, ~${(fusedPlan.estimate / 2 ** 30).toFixed(1)} of ${(fusedPlan.budget / 2 ** 30).toFixed(0)} GiB of GPU memory` : ''}` : ''})`,
    });
    const start = resumed ? resumed.state.nextBlock : 0;
    // A checkpoint before block 0 (or after the last) stores no inputs: block 0's are the embeddings.
    const acts = resumed?.acts ?? (fusedPlan || start >= layers ? [] : await embed());
    const elapsed = (): number => resumedSeconds + (performance.now() - tAll) / 1000;
    const progress = new Progress(ckpt, alloc, resumed, writer, store, key, dense, sec, elapsed, emit);
    let pruner: BlockPruner;
    if (fusedPlan) {
      fused ??= new FusedBlocks(ckpt, engine, seqlen, fusedPlan, setup.ro, emit);
      fused.start(windows, resumed?.acts ?? null, alloc.targets);
      pruner = fused;
    } else pruner = new HostBlocks(ckpt, engine, runner, o, alloc.targets, acts, emit, ctl.check);
    fused = null;
    await progress.pruneBlocks(pruner, start, ctl.check, timed);
    writer.flush();
    await runner.release();

    // Evaluate exactly what was written.
    let pruned: EvalResult | null = null;
    if (evalIds) {
      pruned = await evaluate(j, 'eval', evalIds, () => {
        const written = Checkpoint.open(writer.partial);
        return { ckpt: written, runner: new Runner(written, engine, seqlen, batch), own: true };
      });
      emit({ type: 'eval', which: 'pruned', result: pruned });
    }
    if (o.saveMasks) {
      emit({ type: 'phase', phase: 'write', message: 'Writing the keep masks (bit-packed)' });
      await timed('write', () => writeMasks(Checkpoint.open(writer.partial), writer.partial));
    }
    ctl.check();
    sec.total = elapsed();
    return commit(progress.result(setup, pruned, baseline), o, writer, store, emit, ctl);
  } catch (e) {
    throw settleFailure(e, o, writer, store, ctl);
  } finally {
    await fused?.release();
    await runner.release();
  }
}

export { systemError } from './jobOutput';
export const _forTests = { applyMask, norm2 };
export const hostInfo = (): string => `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}`;
