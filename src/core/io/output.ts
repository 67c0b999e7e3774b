/**
 * The output folder, whole or not at all: everything is written into a hidden partial folder
 * beside the destination (contract.partialDirFor), then renamed into place (OutputWriter.commit; an
 * interrupted commit is finished by outputCommit.ts). The source folder is only ever read
 * (outputPath.ts checkOutputPath refuses every spelling that reaches it). On any failure the
 * partial folder is removed. The writer runs under the output's lock (outputLock.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, type PruneSummary, type TrimReport } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { TrimError } from '../errors';
import { checkOutputPath, commitFileFor, oldDirFor } from './outputPath';
import { syncDir } from './outputCommit';
import { writeFully } from '../model/safetensors';
import type { TensorInfo } from '../model/safetensors';

/** Files copied beside the weights: configuration, tokenizer and generation files. */
const COPY_EXT = /\.(json|txt|model|tiktoken|jinja|md)$/i;
/** Written into the partial folder by earlier versions (replaced by OutputLock); removed when found. */
const LEGACY_OWNER_FILE = '.trim-owner';

export function ioError(what: string, e: unknown): TrimError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new TrimError(
      'E_OUTPUT',
      `${what}: the disk is full (${code}). Free space or choose another --out; the partial output was removed.`,
    );
  }
  if (code === 'EFBIG') {
    return new TrimError(
      'E_OUTPUT',
      `${what}: the file is larger than the filesystem or the file size limit (ulimit -f) allows (EFBIG). Choose another --out or raise the limit; the partial output was removed.`,
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new TrimError('E_OUTPUT', `${what}: permission denied (${code}). Choose a writable --out.`);
  }
  return new TrimError('E_IO', `${what}: ${(e as Error).message}`);
}

export class OutputWriter {
  readonly partial: string;
  private fds = new Map<string, number>();
  private done = false;

  private constructor(
    readonly ckpt: Checkpoint,
    readonly out: string,
    readonly overwrite: boolean,
  ) {
    this.partial = partialDirFor(out);
  }

  /**
   * Creates the partial folder with a copy of every shard and the side files. With `reuse` (a
   * run resumed from a checkpoint in it), the partial folder of the interrupted run is kept as it
   * is: its shard copies already hold the pruned blocks. The caller holds the output's lock
   * (OutputLock), so the partial folder is this job's to create, reuse or remove.
   */
  static begin(ckpt: Checkpoint, out: string, overwrite: boolean, reuse = false): OutputWriter {
    const dst = checkOutputPath(ckpt.dir, out, overwrite);
    const w = new OutputWriter(ckpt, dst, overwrite);
    if (reuse) {
      for (const f of ckpt.shardFiles) {
        const copy = path.join(w.partial, f);
        if (!fs.existsSync(copy) || fs.statSync(copy).size !== fs.statSync(path.join(ckpt.dir, f)).size) {
          throw new TrimError(
            'E_OUTPUT',
            `--resume: ${copy} is missing or incomplete, so the interrupted run cannot be continued. Run without --resume to start over.`,
          );
        }
      }
      fs.rmSync(path.join(w.partial, LEGACY_OWNER_FILE), { force: true });
      return w;
    }
    try {
      fs.rmSync(w.partial, { recursive: true, force: true });
      fs.mkdirSync(w.partial);
      for (const f of fs.readdirSync(ckpt.dir)) {
        const from = path.join(ckpt.dir, f);
        if (f === 'trim-report.json' || !fs.statSync(from).isFile()) continue;
        if (ckpt.shardFiles.includes(f) || COPY_EXT.test(f)) {
          const to = path.join(w.partial, f);
          fs.copyFileSync(from, to);
          // A read-only source (e.g. a hub cache) must not make the copy read-only: shards are patched in place.
          fs.chmodSync(to, 0o644);
        }
      }
    } catch (e) {
      w.abort();
      throw ioError(`writing ${w.partial}`, e);
    }
    return w;
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = fs.openSync(path.join(this.partial, path.basename(file)), 'r+');
      this.fds.set(file, fd);
    }
    return fd;
  }

  /** Overwrites a tensor's bytes in the partial copy of its shard (same offsets as the source). */
  writeTensor(info: TensorInfo, bytes: Uint8Array): void {
    if (bytes.byteLength !== info.byteLength) throw new Error(`size mismatch writing ${info.name}`);
    try {
      writeFully(this.fd(info.file), bytes, info.offset);
    } catch (e) {
      throw ioError(`writing ${info.name}`, e);
    }
  }

  writeFile(name: string, data: string): void {
    try {
      fs.writeFileSync(path.join(this.partial, name), data);
    } catch (e) {
      throw ioError(`writing ${name}`, e);
    }
  }

  /** Forces the pruned weights written so far to disk (before a checkpoint says they are there). */
  sync(): void {
    try {
      for (const fd of this.fds.values()) fs.fsyncSync(fd);
    } catch (e) {
      throw ioError('syncing the pruned shards', e);
    }
  }

  /** Closes the shard files and keeps the partial folder (an interrupted run to resume later). */
  keep(): void {
    for (const fd of this.fds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.fds.clear();
    this.done = true;
  }

  /** Flushes and closes the shard files (the partial folder is complete after this). */
  flush(): void {
    for (const fd of this.fds.values()) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    this.fds.clear();
  }

  /**
   * Renames the partial folder into place (replacing `out` only with --overwrite). The journal
   * (commitFileFor) is written first: from then on the commit is decided, and a kill between the
   * renames is finished by the next job on this output (recoverCommit) or by the job manager. The
   * journal stays until the lock is released, so that whoever cleans up after a kill can tell that
   * the output was replaced.
   */
  commit(): void {
    this.flush();
    const journal = commitFileFor(this.out);
    const old = oldDirFor(this.out);
    try {
      if (fs.existsSync(this.out) && !this.overwrite)
        throw new TrimError('E_OUTPUT', `${this.out} appeared while pruning; the result stays in ${this.partial}.`);
      checkOutputPath(this.ckpt.dir, this.out, this.overwrite);
      fs.writeFileSync(journal, JSON.stringify({ out: this.out, pid: process.pid }), { flag: 'w' });
      syncDir(path.dirname(this.out));
    } catch (e) {
      fs.rmSync(journal, { force: true });
      if (e instanceof TrimError) throw e;
      throw ioError(`moving the result to ${this.out}`, e);
    }
    try {
      if (fs.existsSync(this.out)) {
        fs.rmSync(old, { recursive: true, force: true });
        fs.renameSync(this.out, old);
      }
      fs.renameSync(this.partial, this.out);
      syncDir(path.dirname(this.out));
      this.done = true;
    } catch (e) {
      // Back to the state before the commit: the old output in place, the result in the partial folder.
      try {
        if (!fs.existsSync(this.out) && fs.existsSync(old)) fs.renameSync(old, this.out);
        fs.rmSync(journal, { force: true });
      } catch {
        this.done = true; // the journal stays: the next job on this output finishes the commit; keep the partial folder for it
      }
      throw ioError(`moving the result to ${this.out}`, e);
    }
    fs.rmSync(old, { recursive: true, force: true });
  }

  /** Removes the partial folder (after an error or a cancel). */
  abort(): void {
    if (this.done) return;
    for (const fd of this.fds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.fds.clear();
    fs.rmSync(this.partial, { recursive: true, force: true });
  }
}

/** The summary of an output already in place, from its report (null when that cannot be read). */
export function summaryOfCommitted(out: string): PruneSummary | null {
  const file = path.join(out, 'trim-report.json');
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as TrimReport;
    return {
      type: 'summary',
      perplexity: r.perplexity.pruned?.perplexity ?? null,
      dense_perplexity: r.perplexity.dense?.perplexity ?? null,
      sparsity: r.sparsity,
      seconds: r.seconds,
      ep: r.ep,
      device: r.device,
      out,
      report: file,
      ...(r.phaseSource ? { phaseSource: r.phaseSource } : {}),
      ...(r.phaseRuns ? { phaseRuns: r.phaseRuns } : {}),
      ...(r.baseline ? { baseline_perplexity: r.baseline.perplexity?.perplexity ?? null } : {}),
    };
  } catch {
    return null;
  }
}
