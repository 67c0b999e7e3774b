/**
 * Checkpoints of a pruning run, so that an interrupted run continues from its last finished block
 * (`--resume`). They live in the output's partial folder (contract.partialDirFor), beside the
 * partial shard copies, which already hold the pruned weights of every finished block:
 *
 *   .trim-resume/state.json        fingerprint, next block, block targets, counters, dense result
 *   .trim-resume/block-0003.json   the report of each finished block
 *   .trim-resume/acts-0004.bin     the inputs of the next block (float32, every window, in batches)
 *
 * Each file is written whole (temporary name, fsync, rename) and state.json last, so it only ever
 * names complete files; a run killed at any moment leaves either the previous checkpoint or the
 * new one. The folder is removed before the output is renamed into place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BlockReport, EvalResult, PhaseSeconds, PruneOptions } from '../contract';
import type { Checkpoint } from './checkpoint';
import { TrimError } from './errors';
import { IO_MAX, writeFully } from './safetensors';
import { ioError } from './output';
import type { Activations } from './runner';

export const RESUME_DIR = '.trim-resume';
const FORMAT = 'trim-resume/1';

/** What decides a run's result: a checkpoint is only continued by a run with the same one. */
export interface Fingerprint {
  /** Every option except out, overwrite and resume, with seqlen, batch and the provider resolved. */
  options: Record<string, unknown>;
  /** size:mtime of every source file the run reads (shards, index, config, tokenizer, texts). */
  files: Record<string, string>;
}

export interface ResumeState {
  format: typeof FORMAT;
  fingerprint: Fingerprint;
  /** The first block still to prune (= the number of blocks when only evaluation is left). */
  nextBlock: number;
  targets: number[];
  ratios: number[] | null;
  /** AlphaPruning's per-linear alphas, when allocation = alpha. */
  alphas: number[][] | null;
  dense: EvalResult | null;
  zeros: number;
  weights: number;
  seconds: PhaseSeconds;
  /** The stored inputs of `nextBlock` (batch lengths in floats), null before block 0 and after the last. */
  acts: { file: string; lengths: number[] } | null;
}

export interface Resumed {
  state: ResumeState;
  blocks: BlockReport[];
  acts: Activations | null;
}

function stamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export function fingerprint(o: PruneOptions, resolved: { seqlen: number; batch: number; ep: string; version: string }, ckpt: Checkpoint): Fingerprint {
  const { out: _out, overwrite: _overwrite, resume: _resume, ...rest } = o;
  const options: Record<string, unknown> = {
    ...rest,
    model: ckpt.dir,
    calib: path.resolve(o.calib),
    eval: o.eval ? path.resolve(o.eval) : null,
    ...resolved,
  };
  const files: Record<string, string> = {};
  const side = ['config.json', 'tokenizer.json', 'tokenizer_config.json', ...(ckpt.indexFile ? [ckpt.indexFile] : [])];
  for (const f of [...side, ...ckpt.shardFiles]) files[f] = stamp(path.join(ckpt.dir, f));
  files['calibration text'] = stamp(o.calib);
  if (o.eval) files['evaluation text'] = stamp(o.eval);
  return { options, files };
}

/** Human-readable differences between the stored fingerprint and this run's. */
function differences(was: Fingerprint, now: Fingerprint): string[] {
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

const pad = (n: number): string => String(n).padStart(4, '0');

export class ResumeStore {
  readonly dir: string;

  constructor(readonly partial: string) {
    this.dir = path.join(partial, RESUME_DIR);
  }

  private damaged(what: string): TrimError {
    return new TrimError('E_OUTPUT', `--resume: the checkpoint in ${this.dir} is damaged (${what}). Run without --resume to start over.`);
  }

  /**
   * The checkpoint of an interrupted run, or null when there is none. Refuses (E_OPTION) when it
   * was made with other options or from another source; touches nothing either way.
   */
  load(fp: Fingerprint, layers: number): Resumed | null {
    const stateFile = path.join(this.dir, 'state.json');
    if (!fs.existsSync(stateFile)) return null;
    let state: ResumeState;
    try {
      state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as ResumeState;
    } catch (e) {
      throw this.damaged(`state.json: ${(e as Error).message}`);
    }
    if (state?.format !== FORMAT || !state.fingerprint || !Number.isInteger(state.nextBlock) || state.nextBlock < 0 || state.nextBlock > layers) {
      throw this.damaged('state.json is not a checkpoint of this version');
    }
    const diffs = differences(state.fingerprint, fp);
    if (diffs.length) {
      throw new TrimError('E_OPTION', `--resume: the interrupted run in ${this.partial} was made with other options or from another source (${diffs.join('; ')}). Run again with the same options and source, or without --resume to start over.`);
    }
    const blocks: BlockReport[] = [];
    for (let b = 0; b < state.nextBlock; b++) {
      try {
        blocks.push(JSON.parse(fs.readFileSync(path.join(this.dir, `block-${pad(b)}.json`), 'utf8')) as BlockReport);
      } catch (e) {
        throw this.damaged(`report of block ${b}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    let acts: Activations | null = null;
    if (state.acts) {
      const file = path.join(this.dir, state.acts.file);
      const total = state.acts.lengths.reduce((a, n) => a + n, 0);
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch (e) {
        throw this.damaged(`${state.acts.file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      try {
        if (fs.fstatSync(fd).size !== total * 4) throw this.damaged(`${state.acts.file} has the wrong size`);
        acts = [];
        let pos = 0;
        for (const n of state.acts.lengths) {
          const a = new Float32Array(n);
          const bytes = new Uint8Array(a.buffer);
          let done = 0;
          while (done < bytes.byteLength) {
            const r = fs.readSync(fd, bytes, done, Math.min(IO_MAX, bytes.byteLength - done), pos + done);
            if (r === 0) throw this.damaged(`${state.acts.file} ends early`);
            done += r;
          }
          pos += bytes.byteLength;
          acts.push(a);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    // Temporaries of a write that was interrupted.
    for (const f of fs.readdirSync(this.dir)) if (f.endsWith('.tmp')) fs.rmSync(path.join(this.dir, f), { force: true });
    return { state, blocks, acts };
  }

  /**
   * Records a finished block (its report, the next block's inputs) or, without them, the start
   * (targets decided). The caller has synced the pruned weights of the block to disk before.
   */
  save(state: ResumeState, block: BlockReport | null, acts: Activations | null): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      if (block) this.writeWhole(`block-${pad(block.index)}.json`, [Buffer.from(JSON.stringify(block))]);
      const keep = new Set(['state.json', ...Array.from({ length: state.nextBlock }, (_, b) => `block-${pad(b)}.json`)]);
      if (acts) {
        const file = `acts-${pad(state.nextBlock)}.bin`;
        this.writeWhole(file, acts.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)));
        state = { ...state, acts: { file, lengths: acts.map((a) => a.length) } };
        keep.add(file);
      } else state = { ...state, acts: null };
      this.writeWhole('state.json', [Buffer.from(JSON.stringify(state))]);
      this.syncDir();
      // Inputs of earlier blocks are no longer named by state.json.
      for (const f of fs.readdirSync(this.dir)) if (!keep.has(f)) fs.rmSync(path.join(this.dir, f), { force: true });
    } catch (e) {
      if (e instanceof TrimError) throw e;
      throw ioError(`writing the resume checkpoint in ${this.dir}`, e);
    }
  }

  /** Whether a checkpoint has been written (a cancelled --resume run keeps it). */
  exists(): boolean {
    return fs.existsSync(path.join(this.dir, 'state.json'));
  }

  /** Removes the checkpoint (the run is complete). */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private writeWhole(name: string, parts: Uint8Array[]): void {
    const tmp = path.join(this.dir, `${name}.tmp`);
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const p of parts) writeFully(fd, p, null);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(this.dir, name));
  }

  private syncDir(): void {
    let fd: number | null = null;
    try {
      fd = fs.openSync(this.dir, 'r');
      fs.fsyncSync(fd);
    } catch {
      /* not every platform can sync a folder; the renames are still atomic */
    } finally {
      if (fd !== null) fs.closeSync(fd);
    }
  }
}
