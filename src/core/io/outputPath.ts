/**
 * Where an output goes and what may be overwritten: the hidden siblings of `--out` (partial folder,
 * old output, commit journal, lock) and the check of `--out` against the source and the files a run
 * reads (checkOutputPath), with what --overwrite may replace (notATrimOutput). Pure checks: nothing
 * here writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, REPORT_FORMAT } from '../../contract';
import { TrimError } from '../errors';
import { overlap } from './paths';

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
