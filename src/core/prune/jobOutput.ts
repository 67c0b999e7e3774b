/**
 * The output of a pruning job over its life (prune.ts runs the job): the --resume checkpoints
 * opened in its partial folder, the settling of a stop at once, the commit of the whole result,
 * and what a job that fails leaves.
 */
import type { PruneOptions, PruneSummary, TrimEvent } from '../../contract';
import { partialDirFor } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { isTrimError, TrimError } from '../errors';
import { pruneSummary, trimReport, TRIM_VERSION, type JobResult } from './jobReport';
import type { JobSetup } from './jobSetup';
import { ioError, type OutputWriter } from '../io/output';
import { fingerprint, type Fingerprint } from '../io/fingerprint';
import { ResumeStore } from '../io/resume';
import type { Resumed } from '../io/resumeFormat';
import { formatReportJson } from '../io/reportJson';
import type { JobControl } from './prune';

/** The job's --resume checkpoints, in the partial folder, and the interrupted run's last one when resuming. */
export function openResume(
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

/**
 * How a stop at once (JobControl.onStopNow) settles the output being written: a --resume run
 * keeps its checkpoint, any other run removes its partial folder.
 */
export function stopNow(o: PruneOptions, writer: OutputWriter, store: ResumeStore): () => string {
  return () => {
    if (o.resume && store.exists()) {
      writer.keep();
      return `the finished blocks are kept in ${writer.partial}. Run again with --resume to continue.`;
    }
    writer.abort();
    return 'nothing was written.';
  };
}

/** Writes the report and renames the partial output into place; a resumed run that fails here keeps its result. */
export async function commit(
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
export function settleFailure(e: unknown, o: PruneOptions, writer: OutputWriter, store: ResumeStore, ctl: JobControl): unknown {
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
