// Issue 16, classes 4, 6, 7, 8 and 9 through the real CLI (dist/cli.js) on a tiny checkpoint:
//  4. a --resume run that fails (disk full at a rename or an fsync, injected by
//     test/fixtures/kill-hook.js) keeps the last good checkpoint, and the next --resume finishes
//     it byte for byte;
//  6. a FIFO or /dev/zero in place of any file the CLI reads is refused at once (no hang), and
//     option bounds come from the schema; a second SIGTERM stops a long device run at once;
//  7. numbers that make NaN (rms_norm_eps ≤ 0, rope_theta ≤ 0, …) are E_CONFIG, and activations
//     that overflow are E_NONFINITE naming the block, on both paths;
//  8. the dense perplexity cache follows config.json's content;
//  9. one `error:` line (no stack) for a closed output pipe, an --out name too long or under a
//     file, deeply nested JSON, a newline in a path, a 10 MB name.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { partialDirFor } from '../../src/contract';
import { readAll, rewriteHeader, setConfig, tinyModel, writeAll } from '../unit/badInputs';
import { ensureBuilt, ROOT, tmp } from './cli';

const root = tmp('trim-rel16-');
const model = path.join(root, 'tiny');
const calib = path.join(root, 'calib.txt');
const HOOK = path.join(ROOT, 'test', 'fixtures', 'kill-hook.js');
const SMALL = ['--nsamples', '4', '--seqlen', '32', '--ep', 'cpu'];
let cases = 0;
after(() => {
  console.log(`issue 16 (classes 4, 6, 7, 8, 9) CLI cases: ${cases}`);
  fs.rmSync(root, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cliRun(args: string[], env: NodeJS.ProcessEnv = {}, hook = false, timeout = 60_000): Run {
  const r = spawnSync(process.execPath, [...(hook ? ['--require', HOOK] : []), path.join(ROOT, 'dist', 'cli.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TRIM_CACHE_DIR: path.join(root, 'cache'), ...env },
    timeout,
    maxBuffer: 64 * 2 ** 20,
  });
  assert.notEqual(r.error && (r.error as NodeJS.ErrnoException).code, 'ETIMEDOUT', `hung: ${args.join(' ')}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2, exactly one line, starting with `error:`, matching `message`; no stack. */
function assertOneLine(r: Run, message: RegExp): string {
  assert.equal(r.status, 2, `exit ${r.status} ${r.signal}: ${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], message);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+/m, `a stack trace:\n${r.stderr}`);
  assert.ok(errors[0].length <= 4100, `an error of ${errors[0].length} characters`);
  cases++;
  return errors[0];
}

function copyModel(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(model, dir, { recursive: true });
  return dir;
}

before(() => {
  ensureBuilt();
  tinyModel(model);
  fs.writeFileSync(calib, fs.readFileSync(path.join(ROOT, 'media', 'data', 'calib.txt'), 'utf8').slice(0, 6000));
});

describe('class 4: a failed --resume keeps the last good checkpoint', () => {
  it('disk full at each rename and fsync of a resumed run: exit 2, checkpoint kept, the next --resume is byte-identical', () => {
    const args = ['prune', '--model', model, '--calib', calib, '--trim', '--iterations', '2', ...SMALL, '--no-eval', '--json'];
    const ref = path.join(root, 'ref');
    assert.equal(cliRun([...args, '--out', ref]).status, 0);
    // How many renames and fsyncs a run resumed after block 0 makes.
    const probe = path.join(root, 'probe');
    assert.equal(cliRun([...args, '--out', probe], { TRIM_TEST_KILL: 'event:12' }, true).signal, 'SIGKILL');
    const countFile = path.join(root, 'counts.json');
    assert.equal(cliRun([...args, '--out', probe, '--resume'], { TRIM_TEST_COUNT: countFile }, true).status, 0);
    const counts = JSON.parse(fs.readFileSync(countFile, 'utf8')) as { rename: number; fsync: number };
    let n = 0;
    for (const kind of ['rename', 'fsync'] as const) {
      for (let k = 1; k <= counts[kind]; k++) {
        const out = path.join(root, `full-${kind}-${k}`);
        assert.equal(cliRun([...args, '--out', out], { TRIM_TEST_KILL: 'event:12' }, true).signal, 'SIGKILL');
        const r = cliRun([...args, '--out', out, '--resume'], { TRIM_TEST_FAIL: `${kind}:${k}` }, true);
        if (r.status === 0) continue; // the failing call came after the output was in place
        const line = assertOneLine(r, /no space left on device|disk is full/);
        if (/moving the result/.test(line)) {
          // Failed while moving the finished result into place: the result is kept whole instead.
          assert.match(line, /Nothing was lost: the pruned checkpoint is complete in .*\.trim-partial; move it to /);
          for (const f of fs.readdirSync(ref)) {
            if (f !== 'trim-report.json')
              assert.ok(
                fs.readFileSync(path.join(partialDirFor(out), f)).equals(fs.readFileSync(path.join(ref, f))),
                `${kind} ${k}: ${f} differs`,
              );
          }
          n++;
          continue;
        }
        assert.match(
          line,
          /Nothing was lost: the finished blocks are kept in .*\.trim-partial\. Run again with --resume to continue once this is fixed\.$/,
        );
        assert.ok(fs.existsSync(path.join(partialDirFor(out), '.trim-resume', 'state.json')), `${kind} ${k}: the checkpoint is gone`);
        const again = cliRun([...args, '--out', out, '--resume']);
        assert.equal(again.status, 0, `${kind} ${k}: ${again.stderr}`);
        for (const f of fs.readdirSync(ref)) {
          if (f !== 'trim-report.json')
            assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f))), `${kind} ${k}: ${f} differs`);
        }
        n++;
      }
    }
    assert.ok(n >= 4, `${n} failures injected`);
  });
});

describe('class 6: special files and bounds', () => {
  const targets: [string, (dir: string) => string[]][] = [
    ['model.safetensors', () => []],
    ['config.json', () => []],
    ['tokenizer.json', () => []],
    ['tokenizer_config.json', () => []],
    ['--calib', (dir) => ['--calib', path.join(dir, 'special.txt')]],
    ['--eval', (dir) => ['--eval', path.join(dir, 'special.txt'), '--max-eval-windows', '1']],
  ];
  for (const [file, extra] of targets) {
    for (const kind of ['FIFO', '/dev/zero']) {
      it(`${file} as a ${kind}: refused at once`, () => {
        const dir = copyModel(`special-${file.replace(/\W/g, '')}-${kind.replace(/\W/g, '')}`);
        const target = file.startsWith('--') ? path.join(dir, 'special.txt') : path.join(dir, file);
        fs.rmSync(target, { force: true });
        if (kind === 'FIFO') execFileSync('mkfifo', [target]);
        else fs.symlinkSync('/dev/zero', target);
        const args = file.startsWith('--') ? [] : ['--calib', calib];
        const r = cliRun(
          [
            'prune',
            '--model',
            dir,
            '--out',
            path.join(dir, '..', `o-${path.basename(dir)}`),
            ...args,
            ...extra(dir),
            ...SMALL,
            ...(file === '--eval' ? [] : ['--no-eval']),
          ],
          {},
          false,
          30_000,
        );
        assertOneLine(r, kind === 'FIFO' ? /FIFO|not a regular file/ : /device|not a regular file/);
        assert.ok(!fs.existsSync(path.join(dir, '..', `o-${path.basename(dir)}`)));
      });
    }
  }

  it('a config.json over the size limit is refused without reading it all', () => {
    const dir = copyModel('huge-config');
    const f = path.join(dir, 'config.json');
    const text = fs.readFileSync(f, 'utf8');
    fs.writeFileSync(f, text + ' '.repeat(17 * 2 ** 20));
    assertOneLine(
      cliRun(['prune', '--model', dir, '--out', path.join(root, 'o-huge'), '--calib', calib, ...SMALL, '--no-eval']),
      /config\.json .* more than the \d+ bytes/,
    );
  });

  for (const [flag, value, message] of [
    ['--iterations', '1e12', /--iterations: must be an integer ≥ 0|--iterations: must be at most 1000/],
    ['--iterations', '1001', /--iterations: must be at most 1000, got 1001/],
    ['--nsamples', '4097', /--nsamples: must be at most 4096/],
    ['--seqlen', '131073', /--seqlen: must be at most 131072/],
    ['--owl-m', '2e6', /--owl-m: 2000000 is out of range \(0, 1000000\]/],
    ['--gpu-memory', '5000', /--gpu-memory: 5000 is out of range \[1, 4096\]/],
  ] as [string, string, RegExp][]) {
    it(`${flag} ${value}: the schema's bound`, () => {
      assertOneLine(
        cliRun(['prune', '--model', model, '--out', path.join(root, 'o-bound'), '--calib', calib, ...SMALL, '--no-eval', flag, value]),
        message,
      );
    });
  }

  it('two SIGTERMs during a long device run: stopped at once (the job process killed in its run, test/integration/stopLongRun.test.ts times it), before the next block, nothing left', async () => {
    const parent = path.join(root, 'sigterm');
    fs.mkdirSync(parent);
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist', 'cli.js'),
        'prune',
        '--out',
        path.join(parent, 'out'),
        '--trim',
        '--iterations',
        '1000',
        '--nsamples',
        '64',
        '--seqlen',
        '256',
        '--no-eval',
        '--ep',
        'cpu',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const started = new Promise<void>((resolve) =>
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('"block_start"')) resolve();
      }),
    );
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await started;
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const code = await closed;
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error: stopped at once by a second SIGTERM; nothing was written\.$/m);
    assert.ok(!stdout.split('\n').some((l) => /"type":"block_end","block":1,/.test(l)), 'a second block was finished');
    assert.deepEqual(fs.readdirSync(parent), []);
    cases++;
  });
});

describe('class 7: numbers that make NaN', () => {
  for (const [what, patch, message] of [
    ['rms_norm_eps -1', { rms_norm_eps: -1 }, /"rms_norm_eps" must be a small positive number/],
    ['rms_norm_eps 0', { rms_norm_eps: 0 }, /"rms_norm_eps" must be a small positive number/],
    ['rope_theta 0', { rope_theta: 0 }, /"rope_theta" must be positive, got 0/],
    ['rope_theta -10000', { rope_theta: -10000 }, /"rope_theta" must be positive/],
    ['rope_theta 1e-200', { rope_theta: 1e-200 }, /rotary frequency .* not finite/],
    ['linear factor 0', { rope_scaling: { type: 'linear', factor: 0 } }, /"factor" must be positive/],
    [
      'llama3 high = low',
      { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 1, original_max_position_embeddings: 64 } },
      /high_freq_factor > low_freq_factor/,
    ],
  ] as [string, Record<string, unknown>, RegExp][]) {
    it(`${what}: E_CONFIG`, () => {
      const dir = copyModel(`nan-${what.replace(/\W+/g, '-')}`);
      setConfig(dir, patch);
      const r = cliRun(['prune', '--model', dir, '--out', path.join(root, 'o-nan'), '--calib', calib, ...SMALL, '--no-eval', '--json']);
      assertOneLine(r, message);
      assert.match(r.stdout, /"code":"E_CONFIG"/);
    });
  }

  for (const p of ['fused', 'blocks']) {
    it(`activations that overflow to Inf/NaN (${p} path): E_NONFINITE naming the block`, () => {
      const dir = path.join(root, `overflow-${p}`);
      tinyModel(dir, { dtype: 'float32' });
      // A finite but enormous norm weight in block 1: its attention scores overflow float32.
      const file = path.join(dir, 'model.safetensors');
      const tensors = readAll(file).map((t) => {
        if (t.name !== 'model.layers.1.input_layernorm.weight') return t;
        return { ...t, data: new Uint8Array(new Float32Array(t.data.byteLength / 4).fill(1e30).buffer) };
      });
      writeAll(file, tensors);
      const r = cliRun(
        ['prune', '--model', dir, '--out', path.join(root, `o-overflow-${p}`), '--calib', calib, ...SMALL, '--no-eval', '--json'],
        { TRIM_FUSED: p === 'fused' ? '1' : '0' },
      );
      assertOneLine(r, /block 1 of .* produced NaN or infinite activations/);
      assert.match(r.stdout, /"code":"E_NONFINITE"/);
      assert.ok(!fs.existsSync(path.join(root, `o-overflow-${p}`)));
    });
  }
});

describe('class 8: the dense perplexity follows the checkpoint content', () => {
  it('editing rms_norm_eps (same size, same time) changes the dense perplexity; it equals an uncached evaluation', () => {
    const dir = copyModel('dense-cache');
    const f = path.join(dir, 'config.json');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/"rms_norm_eps": *[^,\n}]+/, '"rms_norm_eps": 0.00001'));
    const cache = path.join(root, 'dense-cache-dir');
    const args = (out: string): string[] => [
      'prune',
      '--model',
      dir,
      '--out',
      out,
      '--calib',
      calib,
      '--eval',
      calib,
      '--max-eval-windows',
      '2',
      ...SMALL,
      '--json',
    ];
    const dense = (r: Run): number => (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { dense_perplexity: number }).dense_perplexity;
    const a = cliRun(args(path.join(root, 'dc-a')), { TRIM_CACHE_DIR: cache });
    assert.equal(a.status, 0, a.stderr);
    const st = fs.statSync(f);
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('"rms_norm_eps": 0.00001', '"rms_norm_eps": 0.10000'));
    fs.utimesSync(f, st.atime, st.mtime);
    assert.equal(fs.statSync(f).size, st.size);
    const b = cliRun(args(path.join(root, 'dc-b')), { TRIM_CACHE_DIR: cache });
    const c = cliRun(args(path.join(root, 'dc-c')), { TRIM_CACHE_DIR: path.join(root, 'dense-cache-fresh') });
    assert.equal(b.status, 0, b.stderr);
    assert.equal(c.status, 0, c.stderr);
    assert.notEqual(dense(b), dense(a), "the old model's dense perplexity was reported");
    assert.equal(dense(b), dense(c));
    cases++;
  });
});

describe('class 9: one error line', () => {
  it('--json | head -1: exit 2, one line, nothing left', () => {
    const parent = path.join(root, 'pipe');
    fs.mkdirSync(parent);
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"${process.execPath}" "${path.join(ROOT, 'dist', 'cli.js')}" prune --model "${model}" --calib "${calib}" --out "${path.join(parent, 'out')}" ${SMALL.join(' ')} --no-eval --json 2>"${path.join(root, 'pipe.err')}" | head -1 >/dev/null; exit "\${PIPESTATUS[0]}"`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assertOneLine(
      { status: r.status, signal: r.signal, stdout: '', stderr: fs.readFileSync(path.join(root, 'pipe.err'), 'utf8') },
      /standard output failed \(EPIPE: its reader went away\); stopped; nothing was written\./,
    );
    assert.deepEqual(fs.readdirSync(parent), []);
  });

  it('--out with a name too long, or under a file: one line', () => {
    assertOneLine(
      cliRun(['prune', '--model', model, '--calib', calib, '--out', path.join(root, 'x'.repeat(300)), ...SMALL, '--no-eval']),
      /ENAMETOOLONG|too long/,
    );
    fs.writeFileSync(path.join(root, 'a-file'), '');
    assertOneLine(
      cliRun(['prune', '--model', model, '--calib', calib, '--out', path.join(root, 'a-file', 'out'), ...SMALL, '--no-eval']),
      /ENOTDIR|not a directory|not a folder/,
    );
  });

  // Written as text: the value cannot even be serialised by JSON.stringify (it recurses).
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const addKey = (text: string, key: string, value: string): string => text.replace(/^\s*\{/, `{"${key}": ${value}, `);
  for (const [what, damage] of [
    [
      'a safetensors header',
      (dir: string) => {
        const f = path.join(dir, 'model.safetensors');
        const buf = fs.readFileSync(f);
        const len = Number(buf.readBigUInt64LE(0));
        let json = addKey(buf.subarray(8, 8 + len).toString('utf8'), '__metadata__', `{"x": ${deep(100_000)}}`);
        while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
        const head = Buffer.alloc(8);
        head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
        fs.writeFileSync(f, Buffer.concat([head, Buffer.from(json), buf.subarray(8 + len)]));
      },
    ],
    [
      'config.json',
      (dir: string) => {
        const f = path.join(dir, 'config.json');
        fs.writeFileSync(f, addKey(fs.readFileSync(f, 'utf8'), 'extra', deep(100_000)));
      },
    ],
    [
      'tokenizer.json',
      (dir: string) => {
        const f = path.join(dir, 'tokenizer.json');
        fs.writeFileSync(f, addKey(fs.readFileSync(f, 'utf8'), 'extra', deep(100_000)));
      },
    ],
  ] as [string, (dir: string) => void][]) {
    it(`deeply nested JSON in ${what}: one line`, () => {
      const dir = copyModel(`deep-${what.replace(/\W+/g, '-')}`);
      damage(dir);
      assertOneLine(
        cliRun(['prune', '--model', dir, '--calib', calib, '--out', path.join(root, 'o-deep'), ...SMALL, '--no-eval']),
        /nested (more than \d+ levels|deeper)/,
      );
    });
  }

  it('a newline in a path cannot forge an error line; a 10 MB name is quoted in part', () => {
    const line = assertOneLine(
      cliRun([
        'prune',
        '--model',
        model,
        '--calib',
        path.join(root, 'no\nerror: forged'),
        '--out',
        path.join(root, 'o-nl'),
        ...SMALL,
        '--no-eval',
      ]),
      /no\\nerror: forged/,
    );
    assert.match(line, /^error: Calibration text/);
    const dir = copyModel('huge-name');
    rewriteHeader(path.join(dir, 'model.safetensors'), (h) => {
      (h as Record<string, unknown>)['n'.repeat(10 * 2 ** 20)] = { dtype: 'XX', shape: [1], data_offsets: [0, 1] };
    });
    const long = assertOneLine(
      cliRun(['prune', '--model', dir, '--calib', calib, '--out', path.join(root, 'o-long'), ...SMALL, '--no-eval']),
      /unknown dtype/,
    );
    assert.match(long, /characters\)…/);
  });
});
