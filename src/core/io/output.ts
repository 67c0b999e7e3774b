/**
 * The output folder, whole or not at all: everything is written into a hidden partial folder
 * beside the destination (contract.partialDirFor), then renamed into place. The source folder is
 * only ever read (checkOutputPath refuses every spelling that reaches it). On any failure the
 * partial folder is removed. The writer runs under the output's lock (outputLock.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, REPORT_FORMAT, type PruneSummary, type TrimReport } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { TrimError } from '../errors';
import { overlap } from './paths';
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

/** A hidden sibling of `out` (partial folder, old output, lock, commit journal): `.NAME.suffix`. */
export function siblingName(out: string, suffix: string): string {
  const dst = path.resolve(out);
  return path.join(path.dirname(dst), `.${path.basename(dst)}.${suffix}`);
}

/** Where the replaced output waits while an --overwrite commit swaps the folders. */
export const oldDirFor = (out: string): string => `${partialDirFor(path.resolve(out))}-old`;
/** The commit journal: while it exists the commit is decided, and an interrupted one is finished. */
export const commitFileFor = (out: string): string => siblingName(out, 'trim-commit');

/**
 * Why `dir` may not be replaced by --overwrite, or null when it may: only the output of an earlier
 * TRIM run (a folder of plain files with our trim-report.json) or an empty folder is replaced.
 */
export function notATrimOutput(dir: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    return `it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (!st.isDirectory()) return 'it is a file';
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    return `it cannot be listed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (names.length === 0) return null;
  if (!names.includes('trim-report.json')) return 'it holds no trim-report.json';
  for (const n of names) {
    let e: fs.Stats;
    try {
      e = fs.lstatSync(path.join(dir, n));
    } catch {
      return `${n} cannot be read`;
    }
    if (!e.isFile()) return `it holds ${e.isDirectory() ? 'the folder' : 'the special file'} ${n}, which a TRIM output never has`;
  }
  const head = Buffer.alloc(64);
  let fd: number | null = null;
  let n = 0;
  try {
    fd = fs.openSync(path.join(dir, 'trim-report.json'), fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    n = fs.readSync(fd, head, 0, head.length, 0);
  } catch {
    return 'its trim-report.json cannot be read';
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  // The report's first member is its format, compact or indented (output of every version so far).
  if (!REPORT_HEAD.test(head.subarray(0, n).toString('utf8'))) return 'its trim-report.json was not written by TRIM';
  return null;
}

const REPORT_HEAD = new RegExp(`^\\{\\s*"format"\\s*:\\s*"${REPORT_FORMAT.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`);

/** The files a run reads besides the model folder's: `guarded` in checkOutputPath. */
function modelFiles(source: string): string[] {
  try {
    return fs.readdirSync(source).map((f) => path.join(source, f));
  } catch {
    return [];
  }
}

/**
 * Checks `out` against the source (every spelling: symlinks on either side, `..` prefixes such as
 * `M/..x`, separators, case on case-insensitive filesystems) and against what --overwrite may
 * replace; returns the normalised absolute output path that every write then uses. `guarded`:
 * other files the run reads (calibration and evaluation texts). Pure check: writes nothing.
 */
export function checkOutputPath(source: string, out: string, overwrite: boolean, guarded: string[] = []): string {
  const dst = path.resolve(out);
  // Everything a run may create, replace or delete: the output, its partial and old folders, its lock and journal.
  const touched = [dst, partialDirFor(dst), oldDirFor(dst), siblingName(dst, 'trim-lock'), commitFileFor(dst)];
  for (const t of touched) {
    const rel = overlap(t, source);
    const what = t === dst ? `--out ${out}` : `--out ${out} (its working name ${t})`;
    if (rel === 'same')
      throw new TrimError('E_OPTION', `${what} is the source model folder; the source is never written. Choose another folder.`);
    if (rel === 'inside')
      throw new TrimError('E_OPTION', `${what} lies inside the source model folder ${source}; choose a folder outside it.`);
    if (rel === 'contains') throw new TrimError('E_OPTION', `${what} contains the source model folder; choose a folder outside it.`);
  }
  // Files the source folder links to (a hub cache's blobs) and the texts: never replaced either.
  for (const f of [...modelFiles(source), ...guarded]) {
    let real: string;
    try {
      real = fs.realpathSync.native(f);
    } catch {
      continue;
    }
    for (const t of touched) {
      const rel = overlap(t, real);
      if (rel === 'same' || rel === 'contains') {
        throw new TrimError('E_OPTION', `--out ${out} would replace ${real}, which this run reads; choose another folder.`);
      }
    }
  }
  if (fs.existsSync(dst)) {
    if (!overwrite)
      throw new TrimError('E_OUTPUT', `--out ${out} already exists. Choose another folder or pass --overwrite to replace it.`);
    const why = notATrimOutput(dst);
    if (why) {
      throw new TrimError(
        'E_OUTPUT',
        `--out ${out} exists and is not a TRIM output (${why}); --overwrite only replaces the output of an earlier TRIM run or an empty folder. Choose another folder, or empty or remove it yourself.`,
      );
    }
  }
  return dst;
}

/** What became of a commit an earlier job was killed in. */
export type CommitOutcome = 'none' | 'committed' | 'rolled-back';

function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not every platform can sync a folder */
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * Brings an output whose commit was interrupted (a kill between the renames) to a whole state, as
 * the journal says: with the journal, forward (the new output in place, the old one removed); without
 * it, back (an old output left aside by an earlier version is put back, or removed when an output
 * is in place). Called by the holder of the output's lock, or for a dead holder.
 */
export function recoverCommit(out: string): CommitOutcome {
  const dst = path.resolve(out);
  const journal = commitFileFor(dst);
  const partial = partialDirFor(dst);
  const old = oldDirFor(dst);
  const exists = (p: string): boolean => {
    try {
      fs.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (exists(journal)) {
    let outcome: CommitOutcome = 'committed';
    if (exists(partial)) {
      if (exists(dst)) {
        fs.rmSync(old, { recursive: true, force: true });
        fs.renameSync(dst, old);
      }
      fs.renameSync(partial, dst);
    } else if (!exists(dst)) {
      if (exists(old)) fs.renameSync(old, dst);
      outcome = exists(old) || exists(dst) ? 'rolled-back' : 'none';
    }
    syncDir(path.dirname(dst));
    fs.rmSync(old, { recursive: true, force: true });
    fs.rmSync(journal, { force: true });
    return outcome;
  }
  if (exists(old)) {
    if (!exists(dst)) {
      fs.renameSync(old, dst);
      return 'rolled-back';
    }
    fs.rmSync(old, { recursive: true, force: true });
  }
  return 'none';
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
