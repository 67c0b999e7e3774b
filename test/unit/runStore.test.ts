import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PruneOptions } from '../../src/contract';
import { DEFAULTS } from '../../src/extension/configResolve';
import { MAX_RUNS, RunStore, type RunRecord } from '../../src/extension/runStore';

let root: string;
before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'trim-store-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const fresh = (): string => mkdtempSync(path.join(root, 's-'));
function record(id: string, patch: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    label: id,
    status: 'done',
    options: { ...(DEFAULTS as PruneOptions), model: '/m', out: `/o/${id}`, calib: '/c', eval: null },
    outAuto: true,
    parent: null,
    createdAt: '2026-01-01T00:00:00Z',
    startedAt: null,
    finishedAt: null,
    reportPath: null,
    summary: null,
    error: null,
    hostPid: null,
    ...patch,
  };
}

describe('RunStore', () => {
  it('persists runs across instances (a reload), newest first', () => {
    const dir = fresh();
    const s = new RunStore(dir);
    s.add(record('a'));
    s.add(record('b'));
    s.update('a', { status: 'failed', error: { code: 'X', message: 'boom' } });
    const t = new RunStore(dir);
    assert.deepEqual(
      t.list().map((r) => r.id),
      ['b', 'a'],
    );
    assert.equal(t.get('a')?.error?.message, 'boom');
    t.remove('b');
    assert.deepEqual(
      new RunStore(dir).list().map((r) => r.id),
      ['a'],
    );
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary file left');
  });

  it("two stores on one folder (two windows) do not lose each other's runs", () => {
    const dir = fresh();
    const w1 = new RunStore(dir);
    const w2 = new RunStore(dir);
    w1.add(record('one'));
    w2.add(record('two'));
    w1.update('one', { label: 'changed' });
    const ids = new RunStore(dir)
      .list()
      .map((r) => r.id)
      .sort();
    assert.deepEqual(ids, ['one', 'two']);
    assert.equal(new RunStore(dir).get('one')?.label, 'changed');
  });

  it("marks runs of a dead host as interrupted, leaves a live host's runs alone", () => {
    const dir = fresh();
    const s = new RunStore(dir);
    s.add(record('dead-running', { status: 'running', hostPid: 111 }));
    s.add(record('dead-queued', { status: 'queued', hostPid: 111 }));
    s.add(record('live', { status: 'running', hostPid: 222 }));
    s.add(record('old', { status: 'done' }));
    const t = new RunStore(dir, (pid) => pid === 222);
    const found = t.recoverInterrupted();
    assert.deepEqual(found.map((r) => r.id).sort(), ['dead-queued', 'dead-running']);
    assert.equal(t.get('dead-running')?.status, 'failed');
    assert.equal(t.get('dead-running')?.error?.code, 'INTERRUPTED');
    assert.match(t.get('dead-queued')!.error!.message, /before this queued run started/);
    assert.equal(t.get('live')?.status, 'running');
    assert.equal(t.get('old')?.status, 'done');
  });

  it('keeps at most MAX_RUNS runs, dropping the oldest finished ones', () => {
    const dir = fresh();
    const runs = Array.from({ length: MAX_RUNS }, (_, i) => record(`r${i}`));
    runs[0].status = 'running';
    writeFileSync(path.join(dir, 'runs.json'), JSON.stringify({ format: 'trim-runs/1', runs }));
    const s = new RunStore(dir);
    s.add(record('new'));
    const ids = s.list().map((r) => r.id);
    assert.equal(ids.length, MAX_RUNS);
    assert.ok(ids.includes('r0'), 'a running run is never dropped');
    assert.ok(!ids.includes('r1'), 'the oldest finished run is dropped');
    assert.equal(ids[0], 'new');
  });

  it('sets a damaged file aside instead of failing', () => {
    const dir = fresh();
    writeFileSync(path.join(dir, 'runs.json'), '{not json');
    const s = new RunStore(dir);
    assert.deepEqual(s.list(), []);
    assert.ok(readdirSync(dir).some((f) => f.startsWith('runs.json.damaged-')));
    s.add(record('x'));
    assert.equal(JSON.parse(readFileSync(s.file, 'utf8')).runs.length, 1);
  });

  // Issue 16, class 11: a damaged store never throws; it is set aside with a notice.
  describe('a damaged store is set aside with a notice, never thrown', () => {
    const open = (dir: string): { s: RunStore; notices: string[] } => {
      const notices: string[] = [];
      const s = new RunStore(dir, undefined, (m) => notices.push(m));
      return { s, notices };
    };
    const aside = (dir: string): string[] => readdirSync(dir).filter((f) => /^runs\.json\.damaged-\d{4}-\d\d-\d\dT/.test(f));
    const entries: [string, unknown][] = [
      ['a null entry', null],
      ['a number', 7],
      ['an array', []],
      ['no id', { ...record('x'), id: undefined }],
      ['an unknown status', { ...record('x'), status: 'exploded' }],
      ['options null', { ...record('x'), options: null }],
      ['a summary without numbers', { ...record('x'), summary: { sparsity: 'high' } }],
      ['an error without a message', { ...record('x'), error: { code: 'X' } }],
      ['a huge id', { ...record('x'), id: 'i'.repeat(1000) }],
    ];
    for (const [name, bad] of entries) {
      it(`${name} among good runs: the good ones kept, the file as it was set aside`, () => {
        const dir = fresh();
        writeFileSync(
          path.join(dir, 'runs.json'),
          JSON.stringify({ format: 'trim-runs/1', runs: [record('good1'), bad, record('good2')] }),
        );
        const { s, notices } = open(dir);
        assert.deepEqual(
          s.list().map((r) => r.id),
          ['good2', 'good1'],
        );
        assert.equal(aside(dir).length, 1);
        assert.match(notices[0], /The TRIM runs list was damaged \(1 malformed entry\); it was set aside as .*runs\.json\.damaged-/);
        assert.equal(JSON.parse(readFileSync(path.join(dir, 'runs.json'), 'utf8')).runs.length, 2);
        s.recoverInterrupted(); // what activate() does next
        s.add(record('new'));
        assert.equal(new RunStore(dir).list().length, 3);
      });
    }
    for (const [name, make] of [
      [
        'a folder in its place',
        (f: string) => {
          mkdirSync(f);
          writeFileSync(path.join(f, 'x'), 'x');
        },
      ],
      [
        'a file of 40 MB (sparse)',
        (f: string) => {
          writeFileSync(f, '');
          truncateSync(f, 40 * 2 ** 20);
        },
      ],
      ['not JSON', (f: string) => writeFileSync(f, '\u0000\u0001')],
      ['JSON of another shape', (f: string) => writeFileSync(f, JSON.stringify({ format: 'trim-runs/1', runs: { a: 1 } }))],
      ['null', (f: string) => writeFileSync(f, 'null')],
    ] as const) {
      it(`${name}: set aside, an empty list, a notice, and the next change written`, () => {
        const dir = fresh();
        make(path.join(dir, 'runs.json'));
        const { s, notices } = open(dir);
        assert.deepEqual(s.list(), []);
        assert.equal(aside(dir).length, 1);
        assert.equal(notices.length, 1);
        assert.match(notices[0], /damaged/);
        s.add(record('x'));
        assert.equal(JSON.parse(readFileSync(s.file, 'utf8')).runs.length, 1);
      });
    }
    it('a store folder that cannot be created (a file in its place): runs kept in memory, with a notice', () => {
      const base = fresh();
      const file = path.join(base, 'storage');
      writeFileSync(file, 'not a folder');
      const { s, notices } = open(file);
      assert.match(notices[0], /cannot create .*; runs are kept for this session only/);
      s.add(record('m'));
      s.update('m', { label: 'changed' });
      assert.equal(s.get('m')?.label, 'changed');
      assert.equal(s.recoverInterrupted().length, 0);
      assert.equal(readFileSync(file, 'utf8'), 'not a folder');
    });
  });

  it('notifies listeners of every change', () => {
    const s = new RunStore(fresh());
    let n = 0;
    const sub = s.onDidChange(() => n++);
    s.add(record('a'));
    s.update('a', { label: 'b' });
    sub.dispose();
    s.remove('a');
    assert.equal(n, 2);
  });
});
