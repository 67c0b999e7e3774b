/**
 * The atomic commit on disk: a folder's renames made durable (syncDir, as OutputWriter.commit does
 * after writing its journal and after its renames), and a commit interrupted between its renames
 * brought to a whole state, forward or back, as its journal (commitFileFor) says (recoverCommit).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor } from '../../contract';
import { commitFileFor, oldDirFor } from './outputPath';

/** What became of a commit an earlier job was killed in. */
export type CommitOutcome = 'none' | 'committed' | 'rolled-back';

export function syncDir(dir: string): void {
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
