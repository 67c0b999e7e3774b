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
 * new one. Loading checks every field and file against the run (a damaged one is an error that
 * names it) and changes nothing; temporaries of an interrupted write go with the next save, once
 * this job holds the output. The folder is removed before the output is renamed into place.
 * The run's fingerprint: fingerprint.ts; the state's fields and the checks of their values:
 * resumeFormat.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BlockReport } from '../../contract';
import { TrimError } from '../errors';
import { IO_MAX, writeFully } from '../model/safetensors';
import { ioError } from './output';
import { openRegular, parseJson, readRegular, READ_LIMITS, sysCode } from '../model/safeRead';
import type { Activations } from '../ort/runner';
import { differences, type Fingerprint } from './fingerprint';
import {
  isCount,
  isFrac,
  isNum,
  isObj,
  numOrNull,
  pad,
  PHASES,
  RESUME_DIR,
  RESUME_FORMAT as FORMAT,
  sha256,
  type Resumed,
  type ResumeShape,
  type ResumeState,
} from './resumeFormat';

/** Index of the first NaN or infinite value, or -1. */
export function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

export class ResumeStore {
  readonly dir: string;
  /** Digests of the checkpoint's files (loaded, then kept up to date by save()). */
  private digests = new Map<string, string>();

  constructor(readonly partial: string) {
    this.dir = path.join(partial, RESUME_DIR);
  }

  /** A damaged checkpoint: names the file; nothing is changed. */
  private damaged(file: string, what: string): TrimError {
    return new TrimError(
      'E_OUTPUT',
      `--resume: ${path.join(this.dir, file)} is damaged (${what}); the checkpoint was left as it is. Run without --resume to start over.`,
    );
  }

  private readJson(file: string, check?: (name: string, parts: Uint8Array[]) => void): unknown {
    try {
      const bytes = readRegular(path.join(this.dir, file), { what: 'resume checkpoint', code: 'E_OUTPUT', max: READ_LIMITS.checkpoint });
      check?.(file, [bytes]);
      return parseJson(bytes.toString('utf8'), file, 'E_OUTPUT');
    } catch (e) {
      if (e instanceof TrimError && e.message.startsWith('--resume: ')) throw e;
      const msg = e instanceof TrimError ? e.message.replace(/^.*?: /, '') : String((e as Error).message ?? e);
      throw this.damaged(file, sysCode(e) === 'ENOENT' ? 'missing' : msg.replace(/\.$/, ''));
    }
  }

  /**
   * The checkpoint of an interrupted run, or null when there is none. Refuses (E_OPTION) when it
   * was made with other options or from another source, and (E_OUTPUT, naming the file) when any
   * of its files is damaged; touches nothing either way.
   */
  load(fp: Fingerprint, shape: ResumeShape): Resumed | null {
    if (!fs.existsSync(path.join(this.dir, 'state.json'))) return null;
    const raw = this.readJson('state.json');
    const bad = (what: string): TrimError => this.damaged('state.json', what);
    if (!isObj(raw)) throw bad('not a JSON object');
    if (raw.format !== FORMAT)
      throw bad(`format ${JSON.stringify(raw.format)?.slice(0, 40)} is not ${FORMAT}, a checkpoint of this version`);
    {
      const { sum, ...body } = raw;
      if (typeof sum !== 'string' || sum !== sha256([Buffer.from(JSON.stringify(body))]))
        throw bad('its content does not match its checksum');
    }
    const digests = raw.digests;
    if (!isObj(digests) || !Object.values(digests).every((v) => typeof v === 'string')) throw bad('digests is not a list of checksums');
    const checkDigest = (name: string, parts: Uint8Array[]): void => {
      if (digests[name] !== sha256(parts)) throw this.damaged(name, 'its content does not match the checksum in state.json');
    };
    const f = raw.fingerprint;
    if (!isObj(f) || !isObj(f.options) || !isObj(f.files) || !Object.values(f.files).every((v) => typeof v === 'string'))
      throw bad('fingerprint is not a fingerprint');
    const diffs = differences(f as unknown as Fingerprint, fp);
    if (diffs.length) {
      throw new TrimError(
        'E_OPTION',
        `--resume: the interrupted run in ${this.partial} was made with other options or from another source (${diffs.join('; ')}). Run again with the same options and source, or without --resume to start over.`,
      );
    }
    const L = shape.layers;
    const next = raw.nextBlock;
    if (!isCount(next) || next > L) throw bad(`nextBlock ${JSON.stringify(next)} is not a block index in [0, ${L}]`);
    const listOf = (v: unknown, n: number, ok: (x: unknown) => boolean): boolean => Array.isArray(v) && v.length === n && v.every(ok);
    if (!listOf(raw.targets, L, (t) => isNum(t) && t >= 0 && t < 1)) throw bad(`targets is not ${L} sparsities in [0, 1)`);
    if (raw.ratios !== null && !listOf(raw.ratios, L, isNum)) throw bad(`ratios is not null or ${L} numbers`);
    if (raw.alphas !== null && !listOf(raw.alphas, L, (a) => listOf(a, shape.linears.length, isNum)))
      throw bad(`alphas is not null or ${L} lists of ${shape.linears.length} numbers`);
    const d = raw.dense;
    if (
      d !== null &&
      !(
        isObj(d) &&
        isNum(d.perplexity) &&
        d.perplexity > 0 &&
        isCount(d.windows) &&
        isCount(d.tokens) &&
        isCount(d.seqlen) &&
        isNum(d.seconds)
      )
    )
      throw bad('dense is not null or a perplexity result');
    const blockWeights = shape.linears.reduce((a, [r, c]) => a + r * c, 0);
    if (!isCount(raw.weights) || raw.weights !== next * blockWeights)
      throw bad(`weights ${JSON.stringify(raw.weights)} is not the ${next * blockWeights} weights of ${next} finished blocks`);
    if (!isCount(raw.zeros) || raw.zeros > raw.weights)
      throw bad(`zeros ${JSON.stringify(raw.zeros)} is not a count of at most ${raw.weights}`);
    if (
      !isObj(raw.seconds) ||
      !PHASES.every((k) => isNum((raw.seconds as Record<string, unknown>)[k]) && (raw.seconds as Record<string, number>)[k] >= 0)
    )
      throw bad('seconds is not the time of every phase');
    const a = raw.acts;
    const between = next > 0 && next < L;
    if (a === null) {
      if (between) throw bad(`acts is null, but block ${next} needs its inputs`);
    } else {
      if (!between) throw bad(`acts is set, but block ${next} needs no stored inputs`);
      if (!isObj(a) || a.file !== `acts-${pad(next)}.bin`) throw bad(`acts.file is not acts-${pad(next)}.bin`);
      if (!listOf(a.lengths, shape.actLengths.length, isCount) || (a.lengths as number[]).some((n, i) => n !== shape.actLengths[i])) {
        throw bad(`acts.lengths is not [${shape.actLengths.join(', ')}] (this run's batches)`);
      }
    }
    const state = raw as unknown as ResumeState;

    const blocks: BlockReport[] = [];
    let zeros = 0;
    for (let b = 0; b < next; b++) {
      const file = `block-${pad(b)}.json`;
      const r = this.readJson(file, checkDigest);
      const badB = (what: string): TrimError => this.damaged(file, what);
      if (!isObj(r) || r.index !== b) throw badB(`not the report of block ${b}`);
      if (r.target !== state.targets[b]) throw badB(`target ${JSON.stringify(r.target)} is not the block's ${state.targets[b]}`);
      if (!isFrac(r.achieved)) throw badB('achieved is not a fraction');
      if (!isObj(r.seconds) || !['statistics', 'prune', 'propagate'].every((k) => isNum((r.seconds as Record<string, unknown>)[k])))
        throw badB('seconds is not the time of each pass');
      if (!listOf(r.layers, shape.linears.length, isObj)) throw badB(`layers is not ${shape.linears.length} layer reports`);
      (r.layers as Record<string, unknown>[]).forEach((l, i) => {
        const [rows, cols] = shape.linears[i];
        if (typeof l.name !== 'string' || l.rows !== rows || l.cols !== cols) throw badB(`layer ${i} is not a ${rows}×${cols} linear`);
        if (!isFrac(l.achieved) || !isFrac(l.target) || !listOf(l.rowSparsity, rows, isFrac))
          throw badB(`layer ${i} (${l.name}) has no valid sparsities`);
        if (!['metricBefore', 'metricAfter', 'lr', 'iteration'].every((k) => numOrNull(l[k])) || !isNum(l.seconds))
          throw badB(`layer ${i} (${l.name}) has no valid search figures`);
        zeros += Math.round((l.achieved as number) * rows * cols);
      });
      blocks.push(r as unknown as BlockReport);
    }
    if (zeros !== state.zeros) throw bad(`zeros ${state.zeros} is not the ${zeros} zeros the block reports count`);

    let acts: Activations | null = null;
    if (state.acts) {
      const name = state.acts.file;
      const file = path.join(this.dir, name);
      const total = state.acts.lengths.reduce((s, n) => s + n, 0);
      let opened: { fd: number; size: number };
      try {
        opened = openRegular(file, { what: 'resume checkpoint', code: 'E_OUTPUT' });
      } catch (e) {
        throw this.damaged(name, sysCode(e) === 'ENOENT' ? 'missing' : (e as Error).message.replace(/^.*?: /, '').replace(/\.$/, ''));
      }
      const { fd, size } = opened;
      try {
        if (size !== total * 4) throw this.damaged(name, `${size} bytes, not the ${total * 4} bytes of the inputs of block ${next}`);
        acts = [];
        const parts: Uint8Array[] = [];
        let pos = 0;
        for (const n of state.acts.lengths) {
          const arr = new Float32Array(n);
          const bytes = new Uint8Array(arr.buffer);
          let done = 0;
          while (done < bytes.byteLength) {
            const r = fs.readSync(fd, bytes, done, Math.min(IO_MAX, bytes.byteLength - done), pos + done);
            if (r === 0) throw this.damaged(name, 'ends early');
            done += r;
          }
          parts.push(bytes);
          const i = firstNonFinite(arr);
          if (i >= 0) throw this.damaged(name, `the inputs of block ${next} hold NaN or infinite values (first at float ${pos / 4 + i})`);
          pos += bytes.byteLength;
          acts.push(arr);
        }
        checkDigest(name, parts);
      } finally {
        fs.closeSync(fd);
      }
    }
    this.digests = new Map(Object.entries(digests as Record<string, string>));
    return { state, blocks, acts };
  }

  /**
   * Records a finished block (its report, the next block's inputs) or, without them, the start
   * (targets decided). The caller has synced the pruned weights of the block to disk before.
   * Given a list (the fused path: a run of several blocks, or checkpoints skipped for large
   * activations), every report in it that the checkpoint does not hold yet is written.
   */
  save(state: ResumeState, block: BlockReport | readonly BlockReport[] | null, acts: Activations | null): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      const list = Array.isArray(block);
      for (const report of block === null ? [] : list ? (block as readonly BlockReport[]) : [block as BlockReport]) {
        const name = `block-${pad(report.index)}.json`;
        if (list && this.digests.has(name)) continue;
        const bytes = Buffer.from(JSON.stringify(report));
        this.writeWhole(name, [bytes]);
        this.digests.set(name, sha256([bytes]));
      }
      const keep = new Set(['state.json', ...Array.from({ length: state.nextBlock }, (_, b) => `block-${pad(b)}.json`)]);
      if (acts) {
        const file = `acts-${pad(state.nextBlock)}.bin`;
        const parts = acts.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
        this.writeWhole(file, parts);
        this.digests.set(file, sha256(parts));
        state = { ...state, acts: { file, lengths: acts.map((a) => a.length) } };
        keep.add(file);
      } else state = { ...state, acts: null };
      for (const name of [...this.digests.keys()]) if (!keep.has(name)) this.digests.delete(name);
      const { sum: _sum, ...body } = { ...state, digests: Object.fromEntries(this.digests) };
      this.writeWhole('state.json', [Buffer.from(JSON.stringify({ ...body, sum: sha256([Buffer.from(JSON.stringify(body))]) }))]);
      this.syncDir();
      // Inputs of earlier blocks are no longer named by state.json; temporaries of an interrupted write go too.
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
