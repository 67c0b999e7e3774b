/**
 * A run's fingerprint (its options and the identity of every source file it reads) and how two
 * fingerprints differ, which decides whether a resume checkpoint (resume.ts) may be continued.
 */
import * as path from 'node:path';
import type { PruneOptions } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { checkpointStamps, contentDigest } from '../model/sourceKey';

/** What decides a run's result: a checkpoint is only continued by a run with the same one. */
export interface Fingerprint {
  /** Every option except out, overwrite and resume, with seqlen, batch and the provider resolved. */
  options: Record<string, unknown>;
  /**
   * Identity of every source file the run reads (sourceKey.ts): the content hash of config,
   * tokenizer, index and texts; size, time, header and sampled pieces of each shard.
   */
  files: Record<string, string>;
}

export function fingerprint(
  o: PruneOptions,
  resolved: { seqlen: number; batch: number; ep: string; version: string; path: 'fused' | 'blocks' },
  ckpt: Checkpoint,
): Fingerprint {
  const { out: _out, overwrite: _overwrite, resume: _resume, ...rest } = o;
  const options: Record<string, unknown> = {
    ...rest,
    model: ckpt.dir,
    calib: path.resolve(o.calib),
    eval: o.eval ? path.resolve(o.eval) : null,
    ...resolved,
  };
  const files: Record<string, string> = checkpointStamps(ckpt);
  files['calibration text'] = contentDigest(o.calib);
  if (o.eval) files['evaluation text'] = contentDigest(o.eval);
  return { options, files };
}

/** Human-readable differences between the stored fingerprint and this run's. */
export function differences(was: Fingerprint, now: Fingerprint): string[] {
  const out: string[] = [];
  const show = (v: unknown): string => JSON.stringify(v) ?? 'unset';
  for (const k of new Set([...Object.keys(was.options), ...Object.keys(now.options)])) {
    if (show(was.options[k]) !== show(now.options[k])) out.push(`${k} was ${show(was.options[k])}, now ${show(now.options[k])}`);
  }
  for (const k of new Set([...Object.keys(was.files), ...Object.keys(now.files)])) {
    if (was.files[k] !== now.files[k]) out.push(`${k} changed since`);
  }
  return out;
}
