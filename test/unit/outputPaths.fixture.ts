/**
 * Path spellings of an output folder (issue 16, class 1), for the core's check, the extension's
 * and the CLI's: a seeded generator over a small tree with symlinks on either side, and an oracle
 * that does not use the code under test — GNU coreutils `realpath -m -L` (lexical `..`, then the
 * symlinks of what exists: what the writer's `path.resolve`d paths reach) and a table of which
 * folders may be replaced.
 *
 *   R/p/M/            the source model (tiny), model.safetensors a symlink to R/blobs/b1 (a hub cache)
 *   R/p/M/sub/        a folder inside it;  R/p/M/up -> ..  (a symlink inside it leading out)
 *   R/p/other/        empty: --overwrite may replace it
 *   R/p/prev/         an earlier TRIM output: --overwrite may replace it
 *   R/p/docs/         somebody's documents (files, a folder): never replaced
 *   R/L -> p/M,  R/P -> p,  R/calib.txt (the calibration text, read by the run)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, REPORT_FORMAT } from '../../src/contract';
import { rng } from '../../src/core/model/synth';
import { tinyModel } from './badInputs';

export interface PathTree {
  R: string;
  M: string;
  calib: string;
  guardedReal: string[];
}

export function makeTree(R: string): PathTree {
  const p = path.join(R, 'p');
  const M = path.join(p, 'M');
  fs.mkdirSync(M, { recursive: true });
  tinyModel(M);
  fs.mkdirSync(path.join(R, 'blobs'));
  fs.renameSync(path.join(M, 'model.safetensors'), path.join(R, 'blobs', 'b1'));
  fs.symlinkSync(path.join('..', '..', 'blobs', 'b1'), path.join(M, 'model.safetensors'));
  fs.mkdirSync(path.join(M, 'sub'));
  fs.writeFileSync(path.join(M, 'sub', 'keep.txt'), 'keep');
  fs.symlinkSync('..', path.join(M, 'up'));
  fs.mkdirSync(path.join(p, 'other'));
  fs.mkdirSync(path.join(p, 'prev'));
  fs.writeFileSync(path.join(p, 'prev', 'trim-report.json'), JSON.stringify({ format: REPORT_FORMAT, blocks: [] }));
  fs.writeFileSync(path.join(p, 'prev', 'model.safetensors'), 'old weights');
  fs.mkdirSync(path.join(p, 'docs', 'photos'), { recursive: true });
  fs.writeFileSync(path.join(p, 'docs', 'letter.txt'), 'dear');
  fs.writeFileSync(path.join(p, 'docs', 'photos', 'cat.jpg'), 'meow');
  fs.symlinkSync(path.join('p', 'M'), path.join(R, 'L'));
  fs.symlinkSync('p', path.join(R, 'P'));
  const calib = path.join(R, 'calib.txt');
  fs.copyFileSync(path.join(__dirname, '..', '..', 'media', 'data', 'calib.txt'), calib);
  const guardedReal = [...fs.readdirSync(M).map((f) => fs.realpathSync(path.join(M, f))), fs.realpathSync(calib)];
  return { R, M: fs.realpathSync(M), calib, guardedReal };
}

/** Where an output may point, relative to R. */
const TARGETS = [
  'p/M',
  'p',
  '.',
  'p/M/sub',
  'p/M/new',
  'p/M/..pruned',
  'p/M/...',
  'p/M/..',
  'p/M/sub/..',
  'p/M-x',
  'p/..M',
  'p/.M',
  'p/other',
  'p/prev',
  'p/docs',
  'p/docs/photos',
  'p/fresh',
  'p/fresh/deeper/x',
  'blobs',
  'blobs/b1',
  'calib.txt',
  'p/M/model.safetensors',
  'p/M/up',
  'p/M/up/x',
  'p/M/up/M',
  'p/M/up/other',
  'L',
  'P',
  'P/M',
  'P/prev',
  'L/x',
];

export interface Spelling {
  spelled: string;
  overwrite: boolean;
  /** How it was made, for the failure message. */
  how: string;
}

/** A seeded spelling: symlinks for prefixes, `.`/`x/..` segments, doubled and trailing separators, relative or absolute, case. */
export function spellings(tree: PathTree, seed: number, count: number, cwd: string): Spelling[] {
  const r = rng(seed);
  const pick = <T>(a: T[]): T => a[Math.floor(r.uniform() * a.length)];
  const out: Spelling[] = [];
  for (let i = 0; i < count; i++) {
    let segs = pick(TARGETS).split('/');
    const how: string[] = [segs.join('/')];
    // Reach M or p through a symlink.
    if (segs[0] === 'p' && segs[1] === 'M' && r.uniform() < 0.4) {
      segs = ['L', ...segs.slice(2)];
      how.push('via L');
    } else if (segs[0] === 'p' && r.uniform() < 0.3) {
      segs = ['P', ...segs.slice(1)];
      how.push('via P');
    }
    // Noise segments that resolve away lexically.
    const noise = Math.floor(r.uniform() * 3);
    for (let k = 0; k < noise; k++) {
      const at = Math.floor(r.uniform() * (segs.length + 1));
      const ins = pick([['.'], ['zz', '..'], ['.', '.'], ['p', '..']]);
      segs = [...segs.slice(0, at), ...ins, ...segs.slice(at)];
      how.push(`+${ins.join('/')}@${at}`);
    }
    if (r.uniform() < 0.15) {
      const k = Math.floor(r.uniform() * segs.length);
      if (/[a-z]/i.test(segs[k]) && segs[k] !== '..') {
        segs[k] = segs[k] === segs[k].toUpperCase() ? segs[k].toLowerCase() : segs[k].toUpperCase();
        how.push('case');
      }
    }
    let s = segs.join(r.uniform() < 0.2 ? '//' : '/');
    if (r.uniform() < 0.25) {
      s += '/';
      how.push('trailing /');
    }
    let spelled = path.join(tree.R, '.') + '/' + s;
    if (r.uniform() < 0.35) {
      spelled = path.relative(cwd, tree.R) + '/' + s;
      how.push('relative');
    }
    out.push({ spelled, overwrite: r.uniform() < 0.6, how: how.join(' ') });
  }
  return out;
}

/** `realpath -m -L` of each path, from `cwd` (one process for all). */
export function realpathLogical(paths: string[], cwd: string): string[] {
  const r = spawnSync('realpath', ['-m', '-L', '-z', '--', ...paths], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`realpath failed: ${r.stderr}`);
  const out = r.stdout.split('\0');
  out.pop();
  if (out.length !== paths.length) throw new Error('realpath returned a different count');
  return out;
}

const within = (child: string, parent: string): boolean =>
  child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);

export type Verdict = 'source' | 'exists' | 'not-trim' | 'ok';

/** The paths a run on `spelled` touches: the output, its partial and old folders, its lock and journal. */
function touchedBy(spelled: string, cwd: string): string[] {
  const lexical = path.resolve(cwd, spelled);
  return [
    lexical,
    partialDirFor(lexical),
    `${partialDirFor(lexical)}-old`,
    path.join(path.dirname(lexical), `.${path.basename(lexical)}.trim-lock`),
    path.join(path.dirname(lexical), `.${path.basename(lexical)}.trim-commit`),
  ];
}

/** What the checks must answer for each spelling, from the oracle alone (one realpath process for all). */
export function expectedAll(tree: PathTree, cases: Spelling[], cwd: string): Verdict[] {
  const all = realpathLogical(
    cases.flatMap((s) => touchedBy(s.spelled, cwd)),
    cwd,
  );
  return cases.map((s, i) => verdict(tree, s, all.slice(i * 5, i * 5 + 5)));
}

/** What the checks must answer, from the oracle alone. */
export function expected(tree: PathTree, s: Spelling, cwd: string): Verdict {
  return verdict(tree, s, realpathLogical(touchedBy(s.spelled, cwd), cwd));
}

function verdict(tree: PathTree, s: Spelling, real: string[]): Verdict {
  for (const t of real) {
    if (within(t, tree.M) || within(tree.M, t)) return 'source';
    for (const g of tree.guardedReal) if (within(g, t)) return 'source';
  }
  const t = real[0];
  if (!fs.existsSync(t)) return 'ok';
  if (!s.overwrite) return 'exists';
  const replaceable = new Set([path.join(fs.realpathSync(tree.R), 'p', 'other'), path.join(fs.realpathSync(tree.R), 'p', 'prev')]);
  return replaceable.has(t) ? 'ok' : 'not-trim';
}
