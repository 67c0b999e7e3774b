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
 * is allocation.ts, the report jobReport.ts, the setting up jobSetup.ts.
 */
import * as os from 'node:os';
import type { EvalResult, PhaseSeconds, PruneOptions, PruneSummary, TrimEvent } from '../../contract';
import { partialDirFor } from '../../contract';
import { allocate } from './allocation';
import { runBaseline } from './baseline';
import { Progress } from './blockLoop';
import type { BlockPruner } from './blockPruner';
import { Checkpoint } from '../model/checkpoint';
import { denseKey, readDense, writeDense } from '../eval/denseCache';
import { isTrimError, TrimError } from '../errors';
import { FusedBlocks } from './fusedBlocks';
import { applyMask, HostBlocks } from './hostBlocks';
import { pruneSummary, trimReport, TRIM_VERSION, type JobResult } from './jobReport';
import { setUp, tokenizeTexts, type JobSetup } from './jobSetup';
import { writeMasks } from './masks';
import { ioError, OutputWriter, summaryOfCommitted } from '../io/output';
import { checkOutputPath } from '../io/outputPath';
import { OutputLock } from '../io/outputLock';
import { validatePruneOptions } from '../options';
import { evaluatePerplexity, windowCount } from '../eval/perplexity';
import { fingerprint, type Fingerprint } from '../io/fingerprint';
import { ResumeStore } from '../io/resume';
import type { Resumed } from '../io/resumeFormat';
import { Runner, type Activations } from '../ort/runner';
import { norm2 } from './scores';
import { formatReportJson } from '../io/reportJson';

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

/**
 * One job under its output's lock: set up, tokenize, (resume,) evaluate the dense model,
 * allocate, prune the blocks, evaluate what was written, report, commit.
 */
async function pruneLocked(o: PruneOptions, emit: (e: TrimEvent) => void, ctl: JobControl, job: string): Promise<PruneSummary> {
  const tAll = performance.now();
  const sec = zeroPhases();
  const timed = async <T>(phase: keyof PhaseSeconds, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      sec[phase] = (sec[phase] ?? 0) + (performance.now() - t) / 1000;
    }
  };

  validatePruneOptions(o);
  // The baseline (TRIM off, same protocol) first, so the report is written once, whole.
  const baseline = o.baseline && o.trim ? await runBaseline(o, emit, (b, e) => runPrune(b, e, ctl, `${job}-baseline`)) : null;
  const ckpt = await timed('load', () => Checkpoint.open(o.model));
  const setup = await setUp(o, ckpt, emit, job);
  const { engine, summary, seqlen, fusedPlan, batch } = setup;
  const layers = ckpt.config.layers;

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
  ctl.onStopNow?.(() => {
    if (o.resume && store.exists()) {
      writer.keep();
      return `the finished blocks are kept in ${writer.partial}. Run again with --resume to continue.`;
    }
    writer.abort();
    return 'nothing was written.';
  });
  const runner = new Runner(ckpt, engine, seqlen, batch);
  /** Perplexity on the evaluation text of the dense model, or of the one written, as that phase of the job. */
  const evaluate = async (
    phase: 'dense_eval' | 'eval',
    ids: Int32Array,
    open: () => { ckpt: Checkpoint; runner: Runner; own: boolean },
  ): Promise<EvalResult> => {
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
  };
  const resumedSeconds = resumed ? resumed.state.seconds.total : 0;
  if (resumed) for (const k of Object.keys(sec) as (keyof PhaseSeconds)[]) sec[k] = (sec[k] ?? 0) + (resumed.state.seconds[k] ?? 0);
  if (resumed?.state.seconds.device !== undefined) sec.device = (sec.device ?? 0) + resumed.state.seconds.device;
  try {
    // Dense perplexity (cached per model, text and protocol).
    let dense: EvalResult | null = resumed ? resumed.state.dense : null;
    if (dense) emit({ type: 'eval', which: 'dense', result: dense });
    else if (evalIds && o.eval) {
      const cacheKey = denseKey(ckpt, o.eval, seqlen, o.maxEvalWindows, engine.ep);
      dense = readDense(cacheKey);
      if (!dense) {
        dense = await evaluate('dense_eval', evalIds, () => ({ ckpt, runner, own: false }));
        writeDense(cacheKey, dense);
      }
      emit({ type: 'eval', which: 'dense', result: dense });
    }

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
    const progress = new Progress(
      ckpt,
      alloc,
      resumed,
      writer,
      store,
      key,
      dense,
      sec,
      () => resumedSeconds + (performance.now() - tAll) / 1000,
      emit,
    );
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
      pruned = await evaluate('eval', evalIds, () => {
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
    sec.total = resumedSeconds + (performance.now() - tAll) / 1000;
    return commit(progress.result(setup, pruned, baseline), o, writer, store, emit, ctl);
  } catch (e) {
    throw settleFailure(e, o, writer, store, ctl);
  } finally {
    await fused?.release();
    await runner.release();
  }
}

/** The job's --resume checkpoints, in the partial folder, and the interrupted run's last one when resuming. */
function openResume(
  o: PruneOptions,
  ckpt: Checkpoint,
  setup: JobSetup,
  emit: (e: TrimEvent) => void,
): { key: Fingerprint; store: ResumeStore; resumed: Resumed | null } {
  const { seqlen, batch, fusedPlan } = setup;
  const layers = ckpt.config.layers;
  const key = fingerprint(o, { seqlen, batch, ep: setup.engine.ep, version: TRIM_VERSION, path: fusedPlan ? 'fused' : 'blocks' }, ckpt);
  const store = new ResumeStore(partialDirFor(setup.dst));
  const actFloats = o.nsamples * seqlen * ckpt.config.hidden;
  const actLengths = fusedPlan
    ? [actFloats]
    : Array.from(
        { length: Math.ceil(o.nsamples / batch) },
        (_, i) => Math.min(batch, o.nsamples - i * batch) * seqlen * ckpt.config.hidden,
      );
  const resumed = o.resume ? store.load(key, { layers, linears: setup.summary.linearShapes, actLengths }) : null;
  if (o.resume) {
    emit({
      type: 'log',
      level: 'info',
      message: resumed
        ? `Resuming the interrupted run from block ${resumed.state.nextBlock} of ${layers}.`
        : 'Nothing to resume: no checkpoint of an interrupted run beside --out; starting from the first block.',
    });
  }
  return { key, store, resumed };
}

/** Writes the report and renames the partial output into place; a resumed run that fails here keeps its result. */
async function commit(
  j: JobResult,
  o: PruneOptions,
  writer: OutputWriter,
  store: ResumeStore,
  emit: (e: TrimEvent) => void,
  ctl: JobControl,
): Promise<PruneSummary> {
  writer.writeFile('trim-report.json', formatReportJson(trimReport(j)));
  ctl.onStopNow?.(null);
  store.remove();
  try {
    writer.commit();
  } catch (e) {
    // The checkpoint was superseded by the whole result: a resumed run keeps that instead.
    if (!o.resume || !isTrimError(e)) throw e;
    writer.keep();
    throw new TrimError(
      e.code,
      `${e.message.replace(/[;,]? ?the partial output was removed\.?$/, '.').replace(/\.?$/, '.')} Nothing was lost: the pruned checkpoint is complete in ${writer.partial}; move it to ${writer.out} yourself, or run again once this is fixed.`,
    );
  }
  const result = pruneSummary(j);
  emit({ type: 'done', summary: result });
  return result;
}

/**
 * What a job that stops leaves: a --resume run, for any reason, its last good checkpoint as it
 * was (state.json names only complete files; a block in progress is pruned again from the
 * source); anything else nothing. Returns the error to throw.
 */
function settleFailure(e: unknown, o: PruneOptions, writer: OutputWriter, store: ResumeStore, ctl: JobControl): unknown {
  ctl.onStopNow?.(null);
  if (o.resume && store.exists()) {
    writer.keep();
    const kept = `the finished blocks are kept in ${writer.partial}. Run again with --resume to continue`;
    if (isTrimError(e) && e.code === 'E_CANCELLED') return new TrimError('E_CANCELLED', `Cancelled; ${kept}.`);
    const te = isTrimError(e) ? e : systemError(e) ? ioError('continuing the interrupted run', e) : null;
    if (te)
      return new TrimError(
        te.code,
        `${te.message.replace(/[;,]? ?the partial output was removed\.?$/, '.').replace(/\.?$/, '.')} Nothing was lost: ${kept} once this is fixed.`,
      );
    return e;
  }
  writer.abort();
  return e;
}

/** An error of the system (errno code and system call: a full disk, a name too long), not a bug. */
export function systemError(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException;
  return typeof x?.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) && typeof x.syscall === 'string';
}

export const _forTests = { applyMask, norm2 };
export const hostInfo = (): string => `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}`;
