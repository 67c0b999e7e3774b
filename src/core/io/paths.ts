/**
 * Where a path really leads, and whether an output path reaches the source. One module for the
 * core (the CLI and the worker) and the extension (configResolve), so that both refuse the same
 * spellings.
 *
 * Strings are not enough: `L` may be a symlink to the model folder `M`, `M/..pruned` is inside
 * `M` although it starts with `..`, a case-insensitive filesystem (macOS, Windows) names one
 * folder `M` and `m`, and a bind mount gives a folder two paths. So the paths are resolved as the
 * kernel would (the lexically normalised path — what the writer uses — with the symlinks of its
 * existing part resolved), and two folders are the same when their (device, inode) are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The absolute path that `p` leads to: `path.resolve(p)` (no `.`/`..` segments, no doubled or
 * trailing separators: the spelling every write of ours uses), with the symlinks of its deepest
 * existing ancestor resolved and the part that does not exist yet appended as spelled.
 */
export function physicalPath(p: string): string {
  const abs = path.resolve(p);
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = fs.realpathSync.native(cur);
      return tail.length ? path.join(real, ...tail.reverse()) : real;
    } catch {
      // ENOENT, ENOTDIR (a file on the way), ELOOP, EACCES: this part cannot be resolved; go up.
      const up = path.dirname(cur);
      if (up === cur) return abs;
      tail.push(path.basename(cur));
      cur = up;
    }
  }
}

/** `child` is `parent` or lies under it, by whole path segments (`M/..x` is inside `M`, `M-x` is not). */
export function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  if (rel === '') return true;
  if (path.isAbsolute(rel)) return false; // another drive (Windows)
  return rel !== '..' && !rel.startsWith(`..${path.sep}`);
}

type Id = string;

function identity(p: string): Id | null {
  try {
    const st = fs.statSync(p, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/** Identities of `p` (when it exists) and of each existing ancestor, nearest first. */
function lineage(p: string): Id[] {
  const out: Id[] = [];
  let cur = p;
  for (;;) {
    const id = identity(cur);
    if (id) out.push(id);
    const up = path.dirname(cur);
    if (up === cur) return out;
    cur = up;
  }
}

function caseInsensitiveFs(): boolean {
  return process.platform === 'darwin' || process.platform === 'win32';
}

function sameSpelling(a: string, b: string): boolean {
  return caseInsensitiveFs() ? a.toLowerCase() === b.toLowerCase() : a === b;
}

function withinSpelling(child: string, parent: string): boolean {
  return caseInsensitiveFs() ? isWithin(child.toLowerCase(), parent.toLowerCase()) : isWithin(child, parent);
}

export type Overlap = 'same' | 'inside' | 'contains';

/**
 * How `target` (an output path, existing or not) relates to `guarded` (an existing folder or
 * file that must not be written): the same, inside it, containing it, or null (apart). Decided by
 * (device, inode) of the existing parts, and by the resolved spellings as well (so that a folder
 * that does not exist yet still counts as inside).
 */
export function overlap(target: string, guarded: string): Overlap | null {
  const t = physicalPath(target);
  const g = physicalPath(guarded);
  const gid = identity(g);
  const tid = identity(t);
  if ((gid !== null && gid === tid) || sameSpelling(t, g)) return 'same';
  // target inside guarded: guarded is one of target's existing ancestors.
  if ((gid !== null && lineage(path.dirname(t)).includes(gid)) || withinSpelling(t, g)) return 'inside';
  // target contains guarded: target is one of guarded's existing ancestors.
  if ((tid !== null && lineage(path.dirname(g)).includes(tid)) || withinSpelling(g, t)) return 'contains';
  return null;
}
