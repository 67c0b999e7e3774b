/**
 * Issue 16, classes 5 and 10: the output lock (src/core/io/outputLock.ts). Who holds it is told by
 * pid AND process start time (so a reused pid does not block a folder forever), a stale lock is
 * broken by one job only, and jobs started together on a stale lock never hold it at once and
 * never fail with a raw ENOENT/EEXIST/ENOTEMPTY. The start time is checked against /proc read by
 * awk; the race against a log of who held the lock when, written by the contenders themselves.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildSync } from 'esbuild';
import { partialDirFor } from '../../src/contract';
import { isTrimError } from '../../src/core/errors';
import { commitFileFor, oldDirFor } from '../../src/core/io/outputPath';
import { recoverCommit } from '../../src/core/io/outputCommit';
import { cleanAfterDeath } from '../../src/core/io/lockCleanup';
import { lockFileFor, processStart, readLock, type LockInfo } from '../../src/core/io/lockFile';
import { OutputLock } from '../../src/core/io/outputLock';
import { rng } from '../../src/core/model/synth';
import { tmpDir } from './badInputs';

const root = tmpDir('trim-lock-unit-');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

/** A live process that is not us (its pid is alive while the test runs). */
function sleeper(): ChildProcess {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeLock(out: string, patch: Partial<LockInfo>): void {
  const info: LockInfo = {
    format: 'trim-lock/1',
    host: os.hostname(),
    pid: deadPid(),
    start: null,
    boot: null,
    token: `t${Math.random()}`,
    job: 'other',
    created: [],
    since: new Date().toISOString(),
    ...patch,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(lockFileFor(out), JSON.stringify(info));
}

const busy = (f: () => unknown): void => {
  assert.throws(f, (e: unknown) => isTrimError(e) && e.code === 'E_OUTPUT' && /another TRIM job \(process \d+/.test(e.message));
};

describe('output lock: who holds it', () => {
  it('the start time is field 22 of /proc/PID/stat (read here by awk)', { skip: process.platform !== 'linux' }, () => {
    const c = sleeper();
    const awk = spawnSync('awk', ['{print $22}', `/proc/${c.pid}/stat`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(processStart(c.pid!), awk);
    assert.equal(processStart(deadPid()), null);
  });

  it('a lock is written whole, names this process, and goes on release with nothing beside the output', () => {
    const out = path.join(root, 'a', 'out');
    fs.mkdirSync(path.dirname(out));
    const lock = OutputLock.acquire(out, 'job-1');
    const info = readLock(lockFileFor(out));
    assert.ok(info && info !== 'invalid');
    assert.equal(info.pid, process.pid);
    assert.equal(info.job, 'job-1');
    if (process.platform === 'linux') assert.equal(info.start, processStart(process.pid));
    busy(() => OutputLock.acquire(out, 'job-2')); // this process holds it: a second taker is refused too
    lock.release(false);
    assert.deepEqual(fs.readdirSync(path.dirname(out)), []);
  });

  it('a live holder (pid and start time match) refuses the next job', () => {
    const c = sleeper();
    const out = path.join(root, 'live', 'out');
    writeLock(out, { pid: c.pid!, start: processStart(c.pid!) });
    busy(() => OutputLock.acquire(out, 'mine'));
  });

  it('a reused pid (alive, started at another time) does not block: the lock is stale', () => {
    const c = sleeper();
    const out = path.join(root, 'reused', 'out');
    writeLock(out, { pid: c.pid!, start: '1' });
    const lock = OutputLock.acquire(out, 'mine');
    assert.equal((readLock(lockFileFor(out)) as LockInfo).job, 'mine');
    lock.release(false);
  });

  it('a dead pid, another boot, or an unreadable lock older than two seconds: stale', () => {
    for (const [name, patch] of [
      ['dead', {}],
      ['boot', { pid: process.pid, boot: 'another-boot' }],
    ] as const) {
      const out = path.join(root, name, 'out');
      writeLock(out, patch);
      if (name === 'boot' && !fs.existsSync('/proc/sys/kernel/random/boot_id')) continue;
      OutputLock.acquire(out, 'mine').release(false);
      assert.equal(fs.existsSync(lockFileFor(out)), false, name);
    }
    const out = path.join(root, 'garbage', 'out');
    fs.mkdirSync(path.dirname(out));
    fs.writeFileSync(lockFileFor(out), '');
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(lockFileFor(out), old, old);
    OutputLock.acquire(out, 'mine').release(false);
  });

  it('a lock of another host is taken as live (its pid means nothing here)', () => {
    const out = path.join(root, 'remote', 'out');
    writeLock(out, { host: 'elsewhere.example' });
    assert.throws(() => OutputLock.acquire(out, 'mine'), /another TRIM job \(process \d+ on elsewhere\.example\)/);
  });

  it('parent folders the job created go on release unless it committed; never a folder with something in it', () => {
    const base = path.join(root, 'parents');
    fs.mkdirSync(base);
    const out = path.join(base, 'n1', 'n2', 'out');
    OutputLock.acquire(out, 'x').release(false);
    assert.deepEqual(fs.readdirSync(base), []);
    const l2 = OutputLock.acquire(out, 'x');
    fs.mkdirSync(out);
    l2.release(true);
    assert.ok(fs.existsSync(out));
    const out3 = path.join(base, 'm1', 'out');
    const l3 = OutputLock.acquire(out3, 'x');
    fs.writeFileSync(path.join(base, 'm1', 'someone-elses.txt'), 'x');
    l3.release(false);
    assert.ok(fs.existsSync(path.join(base, 'm1', 'someone-elses.txt')));
  });
});

describe('output lock: contenders started together on a stale lock (seeded)', () => {
  // The contender: takes the lock, logs "in"/"out" around 30 ms of holding, or prints the error.
  const bundle = path.join(root, 'contender.cjs');
  buildSync({
    stdin: {
      contents: `
        const fs = require('node:fs');
        const { OutputLock } = require(${JSON.stringify(path.resolve(__dirname, '../../src/core/io/outputLock.ts'))});
        const [out, log] = process.argv.slice(2);
        const wait = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        try {
          const l = OutputLock.acquire(out, 'c' + process.pid);
          fs.appendFileSync(log, 'in ' + process.pid + '\\n');
          wait(30);
          fs.appendFileSync(log, 'out ' + process.pid + '\\n');
          l.release(false);
          process.stdout.write('held');
        } catch (e) {
          process.stdout.write((e.code || '') + ' ' + e.message);
        }`,
      resolveDir: root,
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: bundle,
    logLevel: 'silent',
  });
  const ROUNDS = 12;
  let contenders = 0;
  after(() => console.log(`lock race: ${ROUNDS} rounds, ${contenders} contenders`));

  it(`${ROUNDS} rounds: one holder at a time, the others refused with the typed message, nothing left`, async () => {
    const r = rng(5);
    for (let round = 0; round < ROUNDS; round++) {
      const dir = path.join(root, `race-${round}`);
      const out = path.join(dir, 'out');
      const log = path.join(root, `race-${round}.log`);
      // Stale state of a killed job: its lock (dead pid), its partial folder, maybe a breaker's lock.
      writeLock(out, {});
      fs.mkdirSync(path.join(partialDirFor(out), '.trim-resume'), { recursive: true });
      if (r.uniform() < 0.5)
        fs.writeFileSync(
          `${lockFileFor(out)}.break-zz`,
          JSON.stringify({
            format: 'trim-lock/1',
            host: os.hostname(),
            pid: deadPid(),
            start: null,
            boot: null,
            token: 'zz',
            job: 'b',
            created: [],
            since: '',
          }),
        );
      const n = 2 + Math.floor(r.uniform() * 5);
      contenders += n;
      const results = await Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<string>((resolve) => {
              const c = spawn(process.execPath, [bundle, out, log], { stdio: ['ignore', 'pipe', 'inherit'] });
              let s = '';
              c.stdout.on('data', (d) => {
                s += d;
              });
              c.on('close', () => resolve(s));
            }),
        ),
      );
      for (const s of results) assert.match(s, /^held$|^E_OUTPUT another TRIM job \(process \d+\) is writing/, s);
      assert.ok(results.includes('held'));
      // Never two holders at once: the log alternates in/out of one pid.
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
      for (let i = 0; i < lines.length; i += 2) {
        const pid = lines[i].split(' ')[1];
        assert.deepEqual([lines[i], lines[i + 1]], [`in ${pid}`, `out ${pid}`], lines.join(', '));
      }
      const left = fs.readdirSync(dir).filter((f) => f !== '.out.trim-partial' && f !== '.out.trim-lock.break-zz');
      assert.deepEqual(left, [], 'no lock, temporary or breaker file left by the contenders');
    }
  });
});

describe('an interrupted commit, at every point (class 10)', () => {
  // The commit's steps (OutputWriter.commit): journal; out → old; partial → out; old removed
  // (possibly half); then the lock's release removes the journal. A kill leaves the state after
  // any prefix of them; recovery must give the old output whole or the new one whole, no debris.
  const steps = ['journal', 'out→old', 'partial→out', 'old half removed', 'old removed', 'journal removed'] as const;
  const make = (dir: string, withOld: boolean): string => {
    const out = path.join(dir, 'out');
    fs.mkdirSync(partialDirFor(out), { recursive: true });
    for (const f of ['model.safetensors', 'trim-report.json', 'config.json'])
      fs.writeFileSync(path.join(partialDirFor(out), f), `new ${f}`);
    if (withOld) {
      fs.mkdirSync(out);
      for (const f of ['model.safetensors', 'trim-report.json', 'config.json']) fs.writeFileSync(path.join(out, f), `old ${f}`);
    }
    return out;
  };
  const apply = (out: string, step: (typeof steps)[number]): void => {
    switch (step) {
      case 'journal':
        fs.writeFileSync(commitFileFor(out), '{}');
        break;
      case 'out→old':
        if (fs.existsSync(out)) fs.renameSync(out, oldDirFor(out));
        break;
      case 'partial→out':
        fs.renameSync(partialDirFor(out), out);
        break;
      case 'old half removed':
        if (fs.existsSync(oldDirFor(out))) fs.rmSync(path.join(oldDirFor(out), 'model.safetensors'));
        break;
      case 'old removed':
        fs.rmSync(oldDirFor(out), { recursive: true, force: true });
        break;
      case 'journal removed':
        fs.rmSync(commitFileFor(out), { force: true });
        break;
    }
  };
  const content = (out: string): string =>
    fs
      .readdirSync(out)
      .sort()
      .map((f) => fs.readFileSync(path.join(out, f), 'utf8'))
      .join('|');
  let cases = 0;
  after(() => console.log(`commit kill points: ${cases} states recovered`));

  for (const withOld of [true, false]) {
    for (let k = 0; k <= steps.length; k++) {
      for (const by of ['next job', 'job manager'] as const) {
        it(`${withOld ? 'replacing an output' : 'a new output'}, killed after ${k ? steps[k - 1] : 'nothing'}, recovered by the ${by}`, () => {
          cases++;
          const dir = path.join(root, `commit-${withOld}-${k}-${by.replace(' ', '')}`);
          fs.mkdirSync(dir);
          const out = make(dir, withOld);
          writeLock(out, { job: 'j' });
          for (const s of steps.slice(0, k)) apply(out, s);
          const decided = k >= 1;
          let outcome: string;
          if (by === 'job manager') outcome = cleanAfterDeath(out, 'j');
          else {
            const l = OutputLock.acquire(out, 'next');
            outcome = l.recover();
            fs.rmSync(partialDirFor(out), { recursive: true, force: true }); // the next job starts over
            l.release(false);
          }
          const want = decided ? 'new' : withOld ? 'old' : null;
          if (want === null) assert.ok(!fs.existsSync(out));
          else assert.equal(content(out), ['config.json', 'model.safetensors', 'trim-report.json'].map((f) => `${want} ${f}`).join('|'));
          if (by === 'job manager') assert.equal(outcome, decided && k < steps.length ? 'committed' : 'cleaned');
          assert.deepEqual(
            fs.readdirSync(dir).filter((f) => f !== 'out'),
            [],
            'no partial, old, journal or lock left',
          );
        });
      }
    }
  }

  it("without a journal (an earlier version's kill): the old output left aside is put back", () => {
    const dir = path.join(root, 'legacy');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'out');
    fs.mkdirSync(oldDirFor(out), { recursive: true });
    fs.writeFileSync(path.join(oldDirFor(out), 'trim-report.json'), 'old');
    assert.equal(recoverCommit(out), 'rolled-back');
    assert.equal(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8'), 'old');
    assert.deepEqual(fs.readdirSync(dir), ['out']);
  });
});

describe('runs interrupted by a reload (cleanInterrupted at activation)', () => {
  it('cleans only where the lock names the run; a committed output makes the run done', async () => {
    const { cleanInterrupted } = await import('../../src/extension/jobManager');
    const dir = path.join(root, 'reload');
    const rec = (id: string, out: string) => ({ id, options: { out } }) as unknown as Parameters<typeof cleanInterrupted>[0][number];
    // Ours, mid-run: partial and lock go.
    const a = path.join(dir, 'a');
    writeLock(a, { job: 'run-a' });
    fs.mkdirSync(partialDirFor(a));
    // Another job's (a CLI run holds it): untouched.
    const b = path.join(dir, 'b');
    const c = sleeper();
    writeLock(b, { job: 'cli', pid: c.pid!, start: processStart(c.pid!) });
    fs.mkdirSync(partialDirFor(b));
    // Ours, killed after its journal: the output is put in place and the run is done.
    const d = path.join(dir, 'd');
    writeLock(d, { job: 'run-d' });
    fs.mkdirSync(partialDirFor(d));
    fs.writeFileSync(
      path.join(partialDirFor(d), 'trim-report.json'),
      JSON.stringify({
        format: 'trim-report/1',
        sparsity: 0.5,
        perplexity: { dense: null, pruned: null },
        ep: 'cpu',
        seconds: { total: 3 },
      }),
    );
    fs.writeFileSync(commitFileFor(d), '{}');
    const done = cleanInterrupted([rec('run-a', a), rec('run-b', b), rec('run-d', d)]);
    assert.deepEqual(
      done.map((x) => x.id),
      ['run-d'],
    );
    assert.equal(done[0].patch.status, 'done');
    assert.deepEqual(done[0].patch.summary, { sparsity: 0.5, perplexity: null, densePerplexity: null, ep: 'cpu', seconds: 3 });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['.b.trim-lock', '.b.trim-partial', 'd']);
  });
});
