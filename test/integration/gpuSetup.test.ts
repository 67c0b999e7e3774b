// `gpu setup` and `gpu doctor` through the real CLI (dist/cli.js). A local npm registry on
// 127.0.0.1 serves a small synthetic provider package whose sha512 integrity the test computes:
// install, a second call that does nothing, a download cut off mid-way and a setup killed mid-way
// (no install, and the next call completes), a tampered tarball (--from, and from the registry),
// no network, --provider-dir of the right and a wrong version. Then the real package from
// registry.npmjs.org (downloaded once into .cache/gpu/ and reused from there), and, on this
// machine without an NVIDIA driver, `gpu doctor`'s one line and `prune --ep auto` on the CPU.
import { test, after, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as tar from 'tar';
import { ensureBuilt, ROOT, tmp } from './cli';

const NAME = 'trim-synthetic-provider';
const VERSION = '1.0.0';
const FOLDER = 'package/Plugins/Linux/x64';
const work = tmp('trim-gpu-setup-');
after(() => fs.rmSync(work, { recursive: true, force: true }));

// The synthetic package: the provider libraries (with ORT's version string in the CUDA one) and
// one file that must not be extracted.
const pkgDir = path.join(work, 'pkg');
const cudaLib = Buffer.concat([Buffer.from('\x7fELF fake provider\0'), Buffer.alloc(300_000, 1), Buffer.from('\0Replay\x001.29.0\0')]);
const sharedLib = Buffer.from('\x7fELF fake shared provider');
fs.mkdirSync(path.join(pkgDir, FOLDER), { recursive: true });
fs.writeFileSync(path.join(pkgDir, 'package/package.json'), JSON.stringify({ name: NAME, version: VERSION }));
fs.writeFileSync(path.join(pkgDir, FOLDER, 'libonnxruntime_providers_cuda.so'), cudaLib);
fs.writeFileSync(path.join(pkgDir, FOLDER, 'libonnxruntime_providers_shared.so'), sharedLib);
fs.writeFileSync(path.join(pkgDir, FOLDER, 'libonnxruntime_providers_tensorrt.so'), 'not wanted');
const tgz = path.join(work, `${NAME}-${VERSION}.tgz`);
let bytes = Buffer.alloc(0);
let integrity = '';
const pkgEnv = (): string => JSON.stringify({ name: NAME, version: VERSION, integrity });

type Mode = 'ok' | 'cut' | 'stall' | 'tampered';
let mode: Mode = 'ok';
let tarballRequests = 0;
let server: http.Server;
let registry = '';
const sockets = new Set<import('node:net').Socket>();

before(async () => {
  ensureBuilt();
  await tar.c({ gzip: true, file: tgz, cwd: pkgDir, portable: true }, ['package']);
  bytes = fs.readFileSync(tgz);
  integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
  server = http.createServer((req, res) => {
    if (req.url === `/${NAME}`) {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name: NAME,
          versions: { [VERSION]: { dist: { tarball: `${registry}/${NAME}/-/${NAME}-${VERSION}.tgz`, integrity } } },
        }),
      );
      return;
    }
    if (req.url === `/${NAME}/-/${NAME}-${VERSION}.tgz`) {
      tarballRequests++;
      res.setHeader('content-length', String(bytes.length));
      if (mode === 'ok') return void res.end(bytes);
      if (mode === 'tampered') {
        const t = Buffer.from(bytes);
        t[t.length >> 1] ^= 0xff;
        return void res.end(t);
      }
      res.write(bytes.subarray(0, bytes.length >> 1));
      if (mode === 'cut') setTimeout(() => res.socket?.destroy(), 50);
      return; // stall: the rest never comes
    }
    res.statusCode = 404;
    res.end('{}');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  for (const s of sockets) s.destroy();
  server?.close();
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking this process (which serves the registry). */
function cli(args: string[], env: NodeJS.ProcessEnv, opts: { killWhen?: () => boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    // Polled: SIGKILL once the condition holds (and the child had a moment to write what it got).
    const poll = opts.killWhen
      ? setInterval(() => {
          if (opts.killWhen!()) {
            clearInterval(poll);
            setTimeout(() => child.kill('SIGKILL'), 300);
          }
        }, 50)
      : undefined;
    child.on('close', (status) => {
      clearInterval(poll);
      resolve({ status, stdout, stderr });
    });
  });
}

function cacheEnv(name: string): NodeJS.ProcessEnv {
  return { TRIM_CACHE_DIR: path.join(work, name), TRIM_GPU_PACKAGE: pkgEnv(), npm_config_registry: registry };
}
const installOf = (env: NodeJS.ProcessEnv): string => path.join(env.TRIM_CACHE_DIR!, 'gpu', 'onnxruntime-1.29.0-cuda');
const binOf = (env: NodeJS.ProcessEnv): string => path.join(installOf(env), 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
const leftovers = (env: NodeJS.ProcessEnv): string[] => {
  try {
    return fs.readdirSync(path.join(env.TRIM_CACHE_DIR!, 'gpu')).filter((n) => n.startsWith('.'));
  } catch {
    return [];
  }
};

function assertRefused(r: Run, message: RegExp): void {
  assert.equal(r.status, 2, `exit ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1], /^error: /, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+/m, `a stack trace:\n${r.stderr}`);
}

function assertInstalled(env: NodeJS.ProcessEnv): void {
  const m = JSON.parse(fs.readFileSync(path.join(installOf(env), 'trim-gpu.json'), 'utf8')) as {
    ortVersion: string;
    source: { integrity?: string };
  };
  assert.equal(m.ortVersion, '1.29.0');
  assert.deepEqual(fs.readFileSync(path.join(binOf(env), 'libonnxruntime_providers_cuda.so')), cudaLib);
  assert.deepEqual(fs.readFileSync(path.join(binOf(env), 'libonnxruntime_providers_shared.so')), sharedLib);
  assert.ok(!fs.existsSync(path.join(binOf(env), 'libonnxruntime_providers_tensorrt.so')));
  // The private copy of onnxruntime-node's binding, byte for byte.
  const npmBin = path.join(ROOT, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
  for (const f of ['libonnxruntime.so.1', 'onnxruntime_binding.node'])
    assert.ok(fs.readFileSync(path.join(binOf(env), f)).equals(fs.readFileSync(path.join(npmBin, f))), f);
  assert.deepEqual(leftovers(env), []);
}

test('from the registry: integrity checked, installed; a second call does nothing and says so', async () => {
  const env = cacheEnv('ok');
  mode = 'ok';
  const r = await cli(['gpu', 'setup'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Installed ONNX Runtime 1\.29\.0's CUDA provider/);
  assertInstalled(env);
  const before = tarballRequests;
  const stamp = fs.statSync(path.join(installOf(env), 'trim-gpu.json')).mtimeMs;
  const again = await cli(['gpu', 'setup'], env);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already installed .*nothing to do/);
  assert.equal(tarballRequests, before, 'downloaded again');
  assert.equal(fs.statSync(path.join(installOf(env), 'trim-gpu.json')).mtimeMs, stamp);
});

test('a download cut off mid-way: E_NETWORK naming --from, no install, no partial folder; the next call completes', async () => {
  const env = cacheEnv('cut');
  mode = 'cut';
  const r = await cli(['gpu', 'setup', '--json'], env);
  assertRefused(r, /--from FILE/);
  assert.equal((JSON.parse(r.stdout.trim().split('\n').pop()!) as { error: { code: string } }).error.code, 'E_NETWORK');
  assert.ok(!fs.existsSync(installOf(env)));
  assert.deepEqual(leftovers(env), []);
  mode = 'ok';
  const r2 = await cli(['gpu', 'setup'], env);
  assert.equal(r2.status, 0, r2.stderr);
  assertInstalled(env);
});

test('a setup killed mid-download (SIGKILL): no install; the next call removes its partial folder and completes', async () => {
  const env = cacheEnv('killed');
  mode = 'stall';
  const n = tarballRequests;
  const r = await cli(['gpu', 'setup'], env, { killWhen: () => tarballRequests > n });
  assert.equal(r.status, null);
  assert.ok(!fs.existsSync(installOf(env)));
  assert.equal(leftovers(env).length, 1, 'the killed setup left its partial folder (removed by the next call)');
  mode = 'ok';
  const r2 = await cli(['gpu', 'setup'], env);
  assert.equal(r2.status, 0, r2.stderr);
  assertInstalled(env);
});

test('a tampered tarball is refused: --from a modified copy, and modified bytes from the registry', async () => {
  const env = cacheEnv('tampered');
  const bad = path.join(work, 'tampered.tgz');
  const t = Buffer.from(bytes);
  t[t.length - 10] ^= 0x01;
  fs.writeFileSync(bad, t);
  const r = await cli(['gpu', 'setup', '--from', bad, '--json'], env);
  assertRefused(r, /does not match the integrity published/);
  assert.equal((JSON.parse(r.stdout.trim().split('\n').pop()!) as { error: { code: string } }).error.code, 'E_INTEGRITY');
  assert.ok(!fs.existsSync(installOf(env)));
  assert.deepEqual(leftovers(env), []);
  mode = 'tampered';
  assertRefused(await cli(['gpu', 'setup'], env), /does not match the integrity published/);
  assert.ok(!fs.existsSync(installOf(env)));
  mode = 'ok';
  // The untouched tarball, brought in by hand, installs.
  const ok = await cli(['gpu', 'setup', '--from', tgz], env);
  assert.equal(ok.status, 0, ok.stderr);
  assertInstalled(env);
});

test('no network: a clear E_NETWORK error that says how to bring the package in with --from', async () => {
  const env = { ...cacheEnv('offline'), npm_config_registry: 'http://127.0.0.1:9' };
  const r = await cli(['gpu', 'setup'], env);
  assertRefused(r, /Could not reach the npm registry .*npm pack trim-synthetic-provider@1\.0\.0.*--from FILE/);
  assert.ok(!fs.existsSync(installOf(env)));
});

test('--provider-dir: ONNX Runtime 1.29.0 is installed; another version is refused with a clear message', async () => {
  const good = path.join(work, 'existing-1.29');
  fs.mkdirSync(good);
  fs.writeFileSync(path.join(good, 'libonnxruntime_providers_cuda.so'), cudaLib);
  fs.writeFileSync(path.join(good, 'libonnxruntime_providers_shared.so'), sharedLib);
  const env = cacheEnv('dir');
  const r = await cli(['gpu', 'setup', '--provider-dir', good], env);
  assert.equal(r.status, 0, r.stderr);
  assertInstalled(env);
  const old = path.join(work, 'existing-1.28');
  fs.mkdirSync(old);
  fs.writeFileSync(path.join(old, 'libonnxruntime_providers_cuda.so'), Buffer.from('\0Replay\x001.28.0\0'));
  fs.writeFileSync(path.join(old, 'libonnxruntime_providers_shared.so'), sharedLib);
  fs.writeFileSync(path.join(old, 'libonnxruntime.so.1.28.0'), '');
  const env2 = cacheEnv('dir-old');
  assertRefused(
    await cli(['gpu', 'setup', '--provider-dir', old], env2),
    /it is ONNX Runtime 1\.28\.0; TRIM uses onnxruntime-node 1\.29\.0/,
  );
  assert.ok(!fs.existsSync(installOf(env2)));
  assert.deepEqual(leftovers(env2), []);
});

// The real package (about 171 MiB): downloaded from the registry once into .cache/gpu/ (kept by
// --save-tarball), then installed from there. Sizes from `tar tzvf` of the published tarball.
const REAL = path.join(ROOT, '.cache', 'gpu', 'com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz');
const realEnv = { TRIM_CACHE_DIR: path.join(work, 'real') };

test(
  'the real package from registry.npmjs.org (cached in .cache/gpu/): integrity checked, installed, loaded by the CLI',
  { timeout: 600_000 },
  async (t) => {
    const cached = fs.existsSync(REAL);
    fs.mkdirSync(path.dirname(REAL), { recursive: true });
    const t0 = performance.now();
    const r = await cli(['gpu', 'setup', '--json', ...(cached ? ['--from', REAL] : ['--save-tarball', REAL])], {
      ...realEnv,
      npm_config_registry: '',
    });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { downloaded: number; status: string };
    t.diagnostic(
      `${cached ? 'installed from the cached tarball' : `downloaded ${res.downloaded} bytes`} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (!cached) assert.equal(res.downloaded, 179145956);
    const bin = path.join(realEnv.TRIM_CACHE_DIR, 'gpu/onnxruntime-1.29.0-cuda/node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
    assert.equal(fs.statSync(path.join(bin, 'libonnxruntime_providers_cuda.so')).size, 229780440);
    assert.equal(fs.statSync(path.join(bin, 'libonnxruntime_providers_shared.so')).size, 14632);
    const d = await cli(['gpu', 'doctor', '--json'], realEnv);
    const diag = JSON.parse(d.stdout) as { provider: { present: boolean; binDir: string } };
    assert.equal(diag.provider.present, true);
    assert.equal(diag.provider.binDir, bin);
  },
);

const hasDriver = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1'].some((f) =>
  fs.existsSync(f),
);

test(
  'no NVIDIA driver here: `gpu doctor` says so in one line; `prune --ep auto` notes it and runs on the CPU',
  { skip: hasDriver && 'this machine has an NVIDIA driver' },
  async () => {
    const d = await cli(['gpu', 'doctor'], { TRIM_CACHE_DIR: path.join(work, 'none') });
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout, 'No NVIDIA driver: libcuda.so.1 was not found and there is no nvidia-smi; TRIM runs on the CPU.\n');
    // With the real provider installed too: still the CPU, with the same one-line notice.
    for (const env of [{ TRIM_CACHE_DIR: path.join(work, 'none') }, realEnv]) {
      const out = path.join(work, `demo-${path.basename(env.TRIM_CACHE_DIR)}`);
      const r = await cli(['prune', '--ep', 'auto', '--nsamples', '4', '--no-eval', '--out', out, '--json'], env);
      assert.equal(r.status, 0, r.stderr);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const start = events.find((e) => e.type === 'start')!;
      assert.equal(start.ep, 'cpu');
      assert.equal(start.epNotice, 'CUDA unavailable (no NVIDIA driver); running on the CPU.');
      const summary = events[events.length - 1];
      assert.equal(summary.ep, 'cpu');
      assert.equal(summary.precision, 'float32');
      const report = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8')) as {
        options: { precision: string };
        device: string;
      };
      assert.equal(report.options.precision, 'float32');
      assert.equal(report.device, 'CPU: no NVIDIA driver');
    }
  },
);
