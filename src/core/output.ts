/**
 * The output folder, whole or not at all: everything is written into a hidden partial folder
 * beside the destination (contract.partialDirFor), then renamed into place. The source folder is
 * only ever read. On any failure the partial folder is removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor } from '../contract';
import type { Checkpoint } from './checkpoint';
import { TrimError } from './errors';
import { writeFully } from './safetensors';
import type { TensorInfo } from './safetensors';

/** Files copied beside the weights: configuration, tokenizer and generation files. */
const COPY_EXT = /\.(json|txt|model|tiktoken|jinja|md)$/i;
const OWNER_FILE = '.trim-owner';

export function ioError(what: string, e: unknown): TrimError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new TrimError('E_OUTPUT', `${what}: the disk is full (${code}). Free space or choose another --out; the partial output was removed.`);
  }
  if (code === 'EFBIG') {
    return new TrimError('E_OUTPUT', `${what}: the file is larger than the filesystem or the file size limit (ulimit -f) allows (EFBIG). Choose another --out or raise the limit; the partial output was removed.`);
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new TrimError('E_OUTPUT', `${what}: permission denied (${code}). Choose a writable --out.`);
  }
  return new TrimError('E_IO', `${what}: ${(e as Error).message}`);
}

export function checkOutputPath(source: string, out: string, overwrite: boolean): string {
  const src = path.resolve(source);
  const dst = path.resolve(out);
  if (dst === src) throw new TrimError('E_OPTION', `--out ${out} is the source model folder; the source is never written. Choose another folder.`);
  const rel = path.relative(src, dst);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
    throw new TrimError('E_OPTION', `--out ${out} lies inside the source model folder ${source}; choose a folder outside it.`);
  }
  const relUp = path.relative(dst, src);
  if (!relUp.startsWith('..') && !path.isAbsolute(relUp)) {
    throw new TrimError('E_OPTION', `--out ${out} contains the source model folder; choose a folder outside it.`);
  }
  if (fs.existsSync(dst) && !overwrite) {
    throw new TrimError('E_OUTPUT', `--out ${out} already exists. Choose another folder or pass --overwrite to replace it.`);
  }
  return dst;
}

export class OutputWriter {
  readonly partial: string;
  private fds = new Map<string, number>();
  private done = false;

  private constructor(readonly ckpt: Checkpoint, readonly out: string, readonly overwrite: boolean) {
    this.partial = partialDirFor(out);
  }

  /**
   * Creates the partial folder with a copy of every shard and the side files. With `reuse` (a
   * run resumed from a checkpoint in it), the partial folder of the interrupted run is kept as it
   * is: its shard copies already hold the pruned blocks.
   */
  static begin(ckpt: Checkpoint, out: string, overwrite: boolean, reuse = false): OutputWriter {
    const dst = checkOutputPath(ckpt.dir, out, overwrite);
    const w = new OutputWriter(ckpt, dst, overwrite);
    const other = w.otherOwner();
    if (other !== null) {
      throw new TrimError('E_OUTPUT', `another TRIM job (process ${other}) is writing ${dst}; wait for it, cancel it, or choose another --out.`);
    }
    if (reuse) {
      w.claim();
      for (const f of ckpt.shardFiles) {
        const copy = path.join(w.partial, f);
        if (!fs.existsSync(copy) || fs.statSync(copy).size !== fs.statSync(path.join(ckpt.dir, f)).size) {
          throw new TrimError('E_OUTPUT', `--resume: ${copy} is missing or incomplete, so the interrupted run cannot be continued. Run without --resume to start over.`);
        }
      }
      return w;
    }
    try {
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.rmSync(w.partial, { recursive: true, force: true });
      fs.mkdirSync(w.partial);
      w.claim();
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

  /**
   * The partial folder names the process writing it, so that a second job aimed at the same
   * --out neither writes into it nor, when it fails, deletes the first job's work.
   */
  private ownerFile(): string {
    return path.join(this.partial, OWNER_FILE);
  }

  private claim(): void {
    fs.writeFileSync(this.ownerFile(), String(process.pid));
  }

  /** Pid of another live process that owns the partial folder, or null. */
  private otherOwner(): number | null {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.ownerFile(), 'utf8'));
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
    try {
      process.kill(pid, 0);
      return pid;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
    }
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

  /** Renames the partial folder into place (replacing `out` only with --overwrite). */
  commit(): void {
    this.flush();
    try {
      fs.rmSync(this.ownerFile(), { force: true });
      if (fs.existsSync(this.out)) {
        if (!this.overwrite) throw new TrimError('E_OUTPUT', `${this.out} appeared while pruning; the result stays in ${this.partial}.`);
        const old = `${this.partial}-old`;
        fs.rmSync(old, { recursive: true, force: true });
        fs.renameSync(this.out, old);
        fs.renameSync(this.partial, this.out);
        fs.rmSync(old, { recursive: true, force: true });
      } else {
        fs.renameSync(this.partial, this.out);
      }
      this.done = true;
    } catch (e) {
      if (e instanceof TrimError) throw e;
      throw ioError(`moving the result to ${this.out}`, e);
    }
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
    if (this.otherOwner() !== null) return; // another job's folder: not ours to remove
    fs.rmSync(this.partial, { recursive: true, force: true });
  }
}
