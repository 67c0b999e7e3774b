/**
 * Issue 16 through the CLI (dist/cli.js) on a tiny checkpoint: the source reached by other
 * spellings (class 1: a seeded sample of the spellings of test/unit/outputPaths.test.ts, and the
 * issue's examples), --overwrite on a folder that is not a TRIM output (class 3), jobs racing for
 * one output (class 5), and debris (class 10: SIGHUP, parents created for --out, a lock whose pid
 * was reused). Each time: the exit code and the one `error:` line, the source's bytes and mtimes,
 * and nothing left beside the output.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { partialDirFor } from '../../src/contract';
import { lockFileFor } from '../../src/core/io/lockFile';
import { tinyModel, tmpDir, treeSnapshot } from '../unit/badInputs';
import { expectedAll, makeTree, spellings } from '../unit/outputPaths.fixture';
import { ensureBuilt, ROOT } from './cli';

const root = tmpDir('trim-safety-');
after(() => fs.rmSync(root, { recursive: true, force: true }));
const CLI = path.join(ROOT, 'dist', 'cli.js');
const FAST = ['--nsamples', '2', '--seqlen', '16', '--no-eval', '--ep', 'cpu', '--json'];
const env = { ...process.env, TRIM_CACHE_DIR: path.join(root, 'cache') };

function run(args: string[]): { status: number | null; stderr: string } {
  ensureBuilt();
  const r = spawnSync(process.execPath, [CLI, 'prune', ...args], { cwd: ROOT, encoding: 'utf8', env });
  return { status: r.status, stderr: r.stderr };
}

function start(args: string[]): { child: ReturnType<typeof spawn>; done: Promise<{ status: number | null; stderr: string }> } {
  ensureBuilt();
  const child = spawn(process.execPath, [CLI, 'prune', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<{ status: number | null; stderr: string }>((resolve) =>
    child.on('close', (status) => resolve({ status, stderr })),
  );
  return { child, done };
}

/** One line, `error: …`, no stack trace. */
function oneError(stderr: string, message: RegExp): void {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('{'));
  assert.equal(lines.filter((l) => l.startsWith('error: ')).length, 1, stderr);
  assert.match(stderr, message);
  assert.doesNotMatch(stderr, /^\s+at .+:\d+/m, 'no stack trace');
}

const waitFor = async (cond: () => boolean, what: string, ms = 60000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    assert.ok(Date.now() - t0 < ms, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('class 1: the source reached by another spelling (CLI)', () => {
  const tree = makeTree(path.join(root, 'R'));
  const L = path.join(tree.R, 'L');
  const P = path.join(tree.R, 'P');
  const before = treeSnapshot(tree.R);

  it("the issue's examples: --model L (symlink to M) with --out M, with --out M's parent, and --out M/..pruned", () => {
    const r1 = run(['--model', L, '--out', tree.M, '--overwrite', ...FAST]);
    assert.equal(r1.status, 2);
    oneError(r1.stderr, /is the source model folder/);
    const r2 = run(['--model', L, '--out', path.dirname(tree.M), '--overwrite', ...FAST]);
    assert.equal(r2.status, 2);
    oneError(r2.stderr, /contains the source model folder/);
    const r3 = run(['--model', tree.M, '--out', `${tree.M}/..pruned`, ...FAST]);
    assert.equal(r3.status, 2);
    oneError(r3.stderr, /lies inside the source model folder/);
    const r4 = run(['--model', tree.M, '--out', path.join(tree.R, 'blobs'), '--overwrite', ...FAST]);
    assert.equal(r4.status, 2);
    oneError(r4.stderr, /would replace .*b1, which this run reads/);
    assert.equal(treeSnapshot(tree.R), before, 'nothing under R changed');
  });

  const SAMPLE = 12;
  it(`${SAMPLE} seeded spellings that reach the source, with --overwrite, through the model spelled both ways: refused, nothing written`, () => {
    const all = spellings(tree, 1616, 400, ROOT);
    const verdicts = expectedAll(tree, all, ROOT);
    const reach = all.filter((_, i) => verdicts[i] === 'source');
    const seen = new Set<string>();
    let n = 0;
    for (const s of reach) {
      if (n === SAMPLE || seen.has(s.how)) continue;
      seen.add(s.how);
      const r = run(['--model', n % 2 ? L : tree.M, '--out', s.spelled, '--overwrite', '--calib', tree.calib, ...FAST]);
      assert.equal(r.status, 2, `${s.spelled}: ${r.stderr}`);
      oneError(r.stderr, /source model folder|which this run reads/);
      n++;
    }
    assert.equal(n, SAMPLE);
    assert.equal(treeSnapshot(tree.R), before, 'nothing under R changed');
  });

  it('a spelling through symlinks that does not reach the source is written where it leads, the source untouched', () => {
    const r = run(['--model', L, '--out', `${P}//fresh/./run/`, ...FAST]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(tree.R, 'p', 'fresh', 'run', 'trim-report.json')));
    assert.deepEqual(fs.readdirSync(path.join(tree.R, 'p', 'fresh')), ['run'], 'no lock or partial left');
    fs.rmSync(path.join(tree.R, 'p', 'fresh'), { recursive: true });
    const onlySource = (snap: string): string =>
      snap
        .split('\n')
        .filter((l) => l.startsWith(`${tree.M}/`) || l.startsWith(path.join(tree.R, 'blobs')))
        .join('\n');
    assert.equal(onlySource(treeSnapshot(tree.R)), onlySource(before));
  });
});

describe('class 3: --overwrite replaces only a TRIM output or an empty folder (CLI)', () => {
  const model = path.join(root, 'm3');
  tinyModel(model);

  it('a folder of documents (and one holding a fake report, and a file) is refused whole', () => {
    const docs = path.join(root, 'Documents');
    fs.mkdirSync(path.join(docs, 'taxes'), { recursive: true });
    fs.writeFileSync(path.join(docs, 'letter.txt'), 'dear');
    fs.writeFileSync(path.join(docs, 'taxes', '2025.pdf'), 'pdf');
    const file = path.join(root, 'notes.txt');
    fs.writeFileSync(file, 'notes');
    const before = treeSnapshot(root);
    for (const out of [docs, file, path.join(docs, 'taxes')]) {
      const r = run(['--model', model, '--out', out, '--overwrite', ...FAST]);
      assert.equal(r.status, 2, r.stderr);
      oneError(
        r.stderr,
        /exists and is not a TRIM output \(.+\); --overwrite only replaces the output of an earlier TRIM run or an empty folder/,
      );
    }
    const fake = path.join(root, 'fake');
    fs.mkdirSync(fake);
    fs.writeFileSync(path.join(fake, 'trim-report.json'), '{"format":"not ours"}');
    const r = run(['--model', model, '--out', fake, '--overwrite', ...FAST]);
    assert.equal(r.status, 2);
    oneError(r.stderr, /its trim-report\.json was not written by TRIM/);
    assert.deepEqual(fs.readdirSync(fake), ['trim-report.json']);
    fs.rmSync(fake, { recursive: true });
    assert.equal(treeSnapshot(root), before);
  });
});

describe('class 5: races around the output lock (CLI)', () => {
  const model = path.join(root, 'm5');
  tinyModel(model);
  // Long enough to be caught mid-run: 12 blocks, more windows.
  const slow = path.join(root, 'm5-slow');
  tinyModel(slow, { layers: 12 });
  const SLOW = ['--nsamples', '8', '--seqlen', '64', '--no-eval', '--ep', 'cpu', '--json'];
  const ROUNDS = 3;

  it(`${ROUNDS} rounds: two jobs started together on a stale partial folder and lock: typed refusals only, one whole output, nothing left`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const dir = path.join(root, `race-${round}`);
      const out = path.join(dir, 'out');
      // What a killed job leaves: its partial folder (with an old-style owner mark naming a dead pid) and its lock.
      fs.mkdirSync(path.join(partialDirFor(out), '.trim-resume'), { recursive: true });
      fs.writeFileSync(path.join(partialDirFor(out), '.trim-owner'), '999999');
      fs.writeFileSync(path.join(partialDirFor(out), 'model.safetensors'), 'half');
      fs.writeFileSync(
        lockFileFor(out),
        JSON.stringify({
          format: 'trim-lock/1',
          host: os.hostname(),
          pid: 999999,
          start: null,
          boot: null,
          token: 'dead',
          job: 'x',
          created: [],
          since: '',
        }),
      );
      const jobs = [
        start(['--model', model, '--out', out, '--overwrite', ...FAST]),
        start(['--model', model, '--out', out, '--overwrite', ...FAST]),
      ];
      const results = await Promise.all(jobs.map((j) => j.done));
      for (const r of results) {
        if (r.status !== 0) {
          assert.equal(r.status, 2, r.stderr);
          oneError(r.stderr, /another TRIM job \(process \d+\) is writing/);
        }
        assert.doesNotMatch(r.stderr, /ENOENT|EEXIST|ENOTEMPTY/);
      }
      assert.ok(results.some((r) => r.status === 0));
      assert.deepEqual(fs.readdirSync(dir), ['out']);
      assert.ok(!fs.existsSync(path.join(out, '.trim-owner')));
      assert.ok(fs.statSync(path.join(out, 'model.safetensors')).size > 1000);
    }
  });

  it('a refused second --resume touches nothing of the running job (its *.tmp files included); the first completes', async () => {
    const out = path.join(root, 'resume-race', 'out');
    const first = start(['--model', slow, '--out', out, ...SLOW]);
    await waitFor(() => fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), "the first job's checkpoint");
    first.child.kill('SIGSTOP');
    // The job runs in a child of the CLI (src/cliSupervisor.ts), which pauses with it: wait until it has.
    const job = (JSON.parse(fs.readFileSync(lockFileFor(out), 'utf8')) as { pid: number }).pid;
    if (process.platform === 'linux') {
      await waitFor(
        () => {
          const st = fs.readFileSync(`/proc/${job}/stat`, 'utf8');
          return st[st.lastIndexOf(')') + 2] === 'T';
        },
        'the job to pause with the CLI',
        5000,
      );
    }
    try {
      // A write of the first job's in flight, as the second job finds it.
      fs.writeFileSync(path.join(partialDirFor(out), '.trim-resume', 'block-0001.json.tmp'), 'in flight');
      const before = treeSnapshot(path.dirname(out));
      const second = run(['--model', slow, '--out', out, '--resume', ...SLOW]);
      assert.equal(second.status, 2, second.stderr);
      oneError(second.stderr, /another TRIM job \(process \d+\) is writing/);
      assert.equal(treeSnapshot(path.dirname(out)), before, 'the second job changed nothing');
    } finally {
      first.child.kill('SIGCONT');
    }
    const r = await first.done;
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(path.dirname(out)), ['out']);
  });
});

describe('class 10: debris (CLI)', () => {
  const model = path.join(root, 'm10');
  tinyModel(model);
  const slow = path.join(root, 'm10-slow');
  tinyModel(slow, { layers: 12 });

  it('SIGHUP (the terminal closed) stops the run and leaves nothing: no partial folder, no lock, no parent it created', async () => {
    const base = path.join(root, 'hup');
    fs.mkdirSync(base);
    const out = path.join(base, 'a', 'b', 'out');
    const j = start(['--model', slow, '--out', out, '--nsamples', '8', '--seqlen', '64', '--no-eval', '--ep', 'cpu']);
    await waitFor(() => fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), 'the partial folder');
    j.child.kill('SIGHUP');
    const r = await j.done;
    assert.notEqual(r.status, 0);
    assert.equal(r.status, 2, r.stderr);
    assert.deepEqual(fs.readdirSync(base), [], 'nothing left, the folders it created included');
  });

  it('a run that fails after creating the parents of --out removes them (only them)', () => {
    const base = path.join(root, 'parents');
    fs.mkdirSync(path.join(base, 'existing'), { recursive: true });
    const r = run(['--model', model, '--out', path.join(base, 'existing', 'n1', 'n2', 'out'), ...FAST, '--seqlen', '4096']);
    assert.equal(r.status, 2, r.stderr);
    oneError(r.stderr, /--seqlen 4096 exceeds the model's 256 positions/);
    assert.deepEqual(fs.readdirSync(base), ['existing']);
    assert.deepEqual(fs.readdirSync(path.join(base, 'existing')), []);
  });

  it('a stale lock whose pid now belongs to another process (started at another time) does not block the folder', () => {
    const out = path.join(root, 'reused', 'out');
    fs.mkdirSync(path.dirname(out));
    const alive = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(
        lockFileFor(out),
        JSON.stringify({
          format: 'trim-lock/1',
          host: os.hostname(),
          pid: alive.pid,
          start: '12345',
          boot: null,
          token: 'old',
          job: 'x',
          created: [],
          since: '',
        }),
      );
      fs.mkdirSync(partialDirFor(out));
      fs.writeFileSync(path.join(partialDirFor(out), '.trim-owner'), String(alive.pid));
      const r = run(['--model', model, '--out', out, ...FAST]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(path.dirname(out)), ['out']);
      assert.ok(!fs.existsSync(path.join(out, '.trim-owner')));
    } finally {
      alive.kill('SIGKILL');
    }
  });
});
