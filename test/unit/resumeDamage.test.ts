// Damaged resume checkpoints (issue 16, classes 4 and 9): every field of state.json given a value
// of another type, deleted, or (numbers) out of range, with the file's checksum made to match
// again (a checkpoint that looks whole), and every file of the checkpoint truncated, extended,
// with bytes flipped at seeded places, replaced by a folder, a FIFO or a link to /dev/zero, or
// deleted. Each must be refused by a typed error (E_OUTPUT naming the damaged file, or E_OPTION
// for a changed fingerprint), not a crash, and loading must leave every byte of the checkpoint
// as it was. The count of cases is printed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { BlockReport } from '../../src/contract';
import { TrimError } from '../../src/core/errors';
import type { Fingerprint } from '../../src/core/io/fingerprint';
import { ResumeStore } from '../../src/core/io/resume';
import { RESUME_FORMAT, type ResumeShape, type ResumeState } from '../../src/core/io/resumeFormat';
import { tmpDir } from './badInputs';

const root = tmpDir('trim-resume-damage-');
let cases = 0;
after(() => {
  console.log(`damaged checkpoints refused with a typed error naming the file, checkpoint untouched: ${cases} cases`);
  fs.rmSync(root, { recursive: true, force: true });
});

const SHAPE: ResumeShape = {
  layers: 3,
  linears: [
    [4, 8],
    [8, 4],
  ],
  actLengths: [48, 16],
};
const FP: Fingerprint = { options: { sparsity: 0.5, trim: true }, files: { 'config.json': 'sha256:ab', 'model.safetensors': '1:2:cd' } };

function layer(name: string, rows: number, cols: number, zerosPerRow: number): BlockReport['layers'][number] {
  return {
    name,
    rows,
    cols,
    target: 0.5,
    achieved: (zerosPerRow * rows) / (rows * cols),
    rowSparsity: new Array(rows).fill(zerosPerRow / cols),
    metricBefore: 0.9,
    metricAfter: 0.95,
    lr: 0.1,
    iteration: 2,
    alpha: null,
    seconds: 0.01,
  };
}

/** A checkpoint after block 0 of 3 (a report, the inputs of block 1), written by ResumeStore.save. */
function makeCheckpoint(dir: string): void {
  const store = new ResumeStore(dir);
  const block: BlockReport = {
    index: 0,
    target: 0.5,
    achieved: 0.5,
    outlierRatio: null,
    alpha: null,
    seconds: { statistics: 0.1, prune: 0.2, propagate: 0.1 },
    layers: [layer('a', 4, 8, 4), layer('b', 8, 4, 2)],
  };
  const state: ResumeState = {
    format: RESUME_FORMAT,
    fingerprint: FP,
    nextBlock: 1,
    targets: [0.5, 0.5, 0.5],
    ratios: null,
    alphas: null,
    dense: null,
    zeros: 32,
    weights: 64,
    seconds: {
      load: 0.1,
      calibration: 0.1,
      allocation: 0,
      embed: 0,
      statistics: 0,
      trim: 0,
      prune: 0.2,
      propagate: 0,
      write: 0,
      dense_eval: 0,
      eval: 0,
      total: 0.5,
    },
    acts: null,
  };
  store.save({ ...state, nextBlock: 0, zeros: 0, weights: 0 }, null, null);
  store.save(state, block, [Float32Array.from({ length: 48 }, (_, i) => i / 7), Float32Array.from({ length: 16 }, (_, i) => -i)]);
}

const resumeDir = (dir: string): string => path.join(dir, '.trim-resume');

/** Every entry under a folder: a regular file's SHA-256, else its kind (links not followed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const f of fs.readdirSync(d).sort()) {
      const p = path.join(d, f);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p, `${rel}${f}/`);
      else
        out[rel + f] = st.isFile()
          ? createHash('sha256').update(fs.readFileSync(p)).digest('hex')
          : st.isSymbolicLink()
            ? `link ${fs.readlinkSync(p)}`
            : `kind ${st.mode & 0o170000}`;
    }
  };
  walk(dir, '');
  return out;
}

/** Loads; returns the error (asserting that nothing changed), or null when it loaded. */
function load(dir: string): { error: TrimError | null } {
  const before = snapshot(dir);
  let error: TrimError | null = null;
  try {
    new ResumeStore(dir).load(FP, SHAPE);
  } catch (e) {
    if (!(e instanceof TrimError)) throw new Error(`not a TrimError: ${(e as Error).stack}`);
    error = e;
  }
  assert.deepEqual(snapshot(dir), before, 'loading changed the checkpoint');
  return { error };
}

/** Every path to a leaf (and to each object or array) of a JSON value. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = at.length ? [at] : [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function setAt(obj: Record<string, unknown>, at: (string | number)[], value: unknown | typeof DELETE): void {
  let o = obj as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = at[at.length - 1];
  if (value === DELETE) {
    if (Array.isArray(o)) o.splice(Number(last), 1);
    else delete o[last];
  } else o[last] = value;
}
const DELETE = Symbol('delete');

describe('damaged resume checkpoints', () => {
  const base = path.join(root, 'base');
  makeCheckpoint(base);

  it('the undamaged checkpoint loads', () => {
    const r = new ResumeStore(base).load(FP, SHAPE);
    assert.ok(r);
    assert.equal(r.state.nextBlock, 1);
    assert.equal(r.acts?.length, 2);
  });

  it('stored inputs holding NaN or Inf (written whole, checksums right): refused, naming the file and the block', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const dir = path.join(root, `nan-${bad}`);
      const store = new ResumeStore(dir);
      fs.cpSync(base, dir, { recursive: true });
      const loaded = store.load(FP, SHAPE)!;
      const acts = loaded.acts!.map((a) => a.slice());
      acts[1][5] = bad;
      store.save(loaded.state, null, acts);
      const { error } = load(dir);
      assert.ok(error);
      assert.match(error.message, /acts-0001\.bin is damaged \(the inputs of block 1 hold NaN or infinite values \(first at float 53\)\)/);
      fs.rmSync(dir, { recursive: true, force: true });
      cases++;
    }
  });

  it('every field of state.json: another type, deleted, out of range (checksum made to match)', () => {
    const stateFile = path.join(resumeDir(base), 'state.json');
    const original = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
    let n = 0;
    for (const at of paths(original)) {
      if (at[0] === 'sum') continue;
      const value = at.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], original);
      const typeOf = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x);
      const candidates: unknown[] = [DELETE, null, true, 'x', {}, [], 7].filter(
        (c) => c === DELETE || typeOf(c) !== typeOf(value) || typeof c === 'string',
      );
      if (typeof value === 'number') candidates.push(-1, ...(at[0] === 'seconds' ? [] : [1.5, 1e300]));
      for (const c of candidates) {
        if (at[0] === 'seconds' && c === DELETE && at.length === 1) continue;
        const dir = path.join(root, `field-${n++}`);
        fs.cpSync(base, dir, { recursive: true });
        const state = structuredClone(original);
        delete state.sum;
        setAt(state, at, c);
        const body = JSON.stringify(state);
        fs.writeFileSync(
          path.join(resumeDir(dir), 'state.json'),
          JSON.stringify({ ...state, sum: createHash('sha256').update(body).digest('hex') }),
        );
        const what = `${at.join('.')} = ${c === DELETE ? '(deleted)' : JSON.stringify(c)}`;
        const { error } = load(dir);
        assert.ok(error, `${what}: loaded`);
        if (at[0] === 'fingerprint' && error.code === 'E_OPTION')
          assert.match(error.message, /made with other options or from another source/, what);
        else {
          assert.equal(error.code, 'E_OUTPUT', `${what}: ${error.message}`);
          assert.match(
            error.message,
            new RegExp(
              `^--resume: ${resumeDir(dir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(state\\.json|block-0000\\.json|acts-0001\\.bin) is damaged \\(`,
            ),
            what,
          );
        }
        assert.doesNotMatch(error.message, /\n/);
        fs.rmSync(dir, { recursive: true, force: true });
        cases++;
      }
    }
    assert.ok(n > 100, `${n} field cases`);
  });

  it('every file: truncated, extended, bytes flipped, a folder, a FIFO, /dev/zero, deleted', () => {
    let seed = 16;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const files = fs.readdirSync(resumeDir(base));
    assert.deepEqual(files.sort(), ['acts-0001.bin', 'block-0000.json', 'state.json']);
    type Damage = [string, (f: string) => void];
    const damages: Damage[] = [
      ['emptied', (f) => fs.truncateSync(f, 0)],
      ['cut in half', (f) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2))],
      ['one byte short', (f) => fs.truncateSync(f, fs.statSync(f).size - 1)],
      ['one byte more', (f) => fs.appendFileSync(f, 'x')],
      ...[0, 1, 2, 3].map((i): Damage => [
        `byte flipped (${i})`,
        (f) => {
          const b = fs.readFileSync(f);
          const at = Math.floor(random() * b.length);
          b[at] ^= 1 << Math.floor(random() * 8);
          fs.writeFileSync(f, b);
        },
      ]),
      [
        'a folder',
        (f) => {
          fs.rmSync(f);
          fs.mkdirSync(f);
        },
      ],
      [
        'a FIFO',
        (f) => {
          fs.rmSync(f);
          execFileSync('mkfifo', [f]);
        },
      ],
      [
        'a link to /dev/zero',
        (f) => {
          fs.rmSync(f);
          fs.symlinkSync('/dev/zero', f);
        },
      ],
      ['deleted', (f) => fs.rmSync(f)],
    ];
    for (const file of files) {
      for (const [what, damage] of damages) {
        const dir = path.join(root, `file-${file}-${what.replace(/\W+/g, '-')}`);
        fs.cpSync(base, dir, { recursive: true });
        damage(path.join(resumeDir(dir), file));
        if (file === 'state.json' && what === 'deleted') {
          // No state.json: there is no checkpoint (a run killed before its first one).
          assert.equal(new ResumeStore(dir).load(FP, SHAPE), null);
        } else {
          const { error } = load(dir);
          assert.ok(error, `${file} ${what}: loaded`);
          assert.equal(error.code, 'E_OUTPUT', `${file} ${what}: ${error.message}`);
          assert.ok(
            error.message.startsWith(`--resume: ${path.join(resumeDir(dir), file)} is damaged (`),
            `${file} ${what}: ${error.message}`,
          );
        }
        fs.rmSync(dir, { recursive: true, force: true });
        cases++;
      }
    }
  });
});
