// The CUDA library search of `gpu doctor` (core/gpu/probe.ts, doctor.ts) against fake trees: a Python
// site-packages with NVIDIA's wheels (nvidia/X/lib), a /usr/local/cuda-13.0 layout, an ldconfig
// cache listing, $LD_LIBRARY_PATH; what is missing and what the job's LD_LIBRARY_PATH becomes;
// the provider's version as told from its files; --ep auto's notice; the auto defaults.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { diagnose, jobEnv } from '../../src/core/gpu/doctor';
import { findLibrary, parseNvidiaSmi, type SearchRoots } from '../../src/core/gpu/probe';
import { providerVersions } from '../../src/core/gpu/paths';
import { autoGpuMemory, resolvePrecision } from '../../src/core/gpu/budget';
import { Engine } from '../../src/core/ort/engine';
import { isTrimError } from '../../src/core/errors';
import { planFused } from '../../src/core/prune/fused/fusedPruner';
import type { Checkpoint } from '../../src/core/model/checkpoint';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-doctor-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

function touch(...parts: string[]): string {
  const f = path.join(root, ...parts);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, 'x');
  return path.dirname(f);
}

// site-packages of a PyTorch install (cu13-era wheels: one folder per library).
const sp = path.join(root, 'venv', 'lib', 'python3.12', 'site-packages');
const wheel = {
  cudart: touch('venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13'),
  cublas: touch('venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.13'),
  curand: touch('venv/lib/python3.12/site-packages/nvidia/curand/lib/libcurand.so.10'),
  cudnn: touch('venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9'),
};
touch('venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublasLt.so.13');
fs.mkdirSync(path.join(sp, 'nvidia', 'nccl'), { recursive: true }); // a wheel without lib/
// /usr/local/cuda-13.0: the runtime under targets/x86_64-linux/lib, cuBLAS under lib64.
const cuda = path.join(root, 'usr', 'local', 'cuda-13.0');
const targets = touch('usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13');
const lib64 = touch('usr/local/cuda-13.0/lib64/libcublas.so.13');
// The provider beside a binding folder.
const bin = touch('install/bin/libonnxruntime_providers_cuda.so');
touch('install/bin/libonnxruntime_providers_shared.so');
const ldconfig = [
  "1234 libs found in cache `/etc/ld.so.cache'",
  '\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1',
  '\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1',
  '\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda-12.8/lib64/libcudart.so.12',
].join('\n');

const none: SearchRoots = { ldLibraryPath: [], ldconfig: null, cudaHomes: [], sitePackages: [], systemDirs: [] };
const smi = [{ name: 'NVIDIA GeForce RTX 4090', freeMiB: 23000, totalMiB: 24564, driver: '580.65.06' }];

test("nvidia-* wheels of a Python install: each library in its nvidia/X/lib, put on the job's LD_LIBRARY_PATH", () => {
  const roots: SearchRoots = { ...none, ldconfig, sitePackages: [sp] };
  assert.deepEqual(findLibrary('libcudart.so.13', roots), { dir: wheel.cudart, via: 'python' });
  assert.deepEqual(findLibrary('libcublasLt.so.13', roots), { dir: wheel.cublas, via: 'python' });
  const d = diagnose({ providerBin: bin, roots, gpus: smi, install: null });
  assert.deepEqual(d.driver.libcuda, { dir: '/usr/lib/x86_64-linux-gnu', via: 'ldconfig' }); // the 64-bit entry, not i386
  assert.equal(d.ready, true, JSON.stringify(d.missing));
  assert.deepEqual(d.missing, []);
  assert.deepEqual(new Set(d.libraryPath), new Set([wheel.cudart, wheel.cublas, wheel.curand, wheel.cudnn]));
  assert.match(d.summary, /^CUDA ready: NVIDIA GeForce RTX 4090, 22\.5 of 24\.0 GiB free/);
  const env = jobEnv(d, { LD_LIBRARY_PATH: '/opt/other', PATH: '/bin' })!;
  assert.deepEqual(env.LD_LIBRARY_PATH!.split(':').slice(-1), ['/opt/other']);
  assert.deepEqual(new Set(env.LD_LIBRARY_PATH!.split(':').slice(0, -1)), new Set(d.libraryPath));
  assert.equal(env.PATH, '/bin');
});

test('/usr/local/cuda-13.0: targets/x86_64-linux/lib, then lib64; a CUDA install is searched before the wheels', () => {
  const roots: SearchRoots = { ...none, ldconfig, cudaHomes: [cuda], sitePackages: [sp] };
  assert.deepEqual(findLibrary('libcudart.so.13', roots), { dir: targets, via: 'cuda' });
  assert.deepEqual(findLibrary('libcublas.so.13', roots), { dir: lib64, via: 'cuda' });
  assert.deepEqual(findLibrary('libcurand.so.10', roots), { dir: wheel.curand, via: 'python' });
  // The CUDA 12 runtime in the ldconfig cache does not count for the CUDA 13 one.
  assert.equal(findLibrary('libcudart.so.13', { ...none, ldconfig }), null);
});

test('$LD_LIBRARY_PATH is searched first and not added again', () => {
  const roots: SearchRoots = { ...none, ldconfig, ldLibraryPath: [wheel.cublas], cudaHomes: [cuda], sitePackages: [sp] };
  assert.deepEqual(findLibrary('libcublas.so.13', roots), { dir: wheel.cublas, via: 'LD_LIBRARY_PATH' });
  const d = diagnose({ providerBin: bin, roots, gpus: smi, install: null });
  assert.ok(!d.libraryPath.includes(wheel.cublas));
  assert.ok(d.libraryPath.includes(targets));
});

test('nothing installed: one line says there is no NVIDIA driver; every missing piece is named with what to do', () => {
  const d = diagnose({ providerBin: path.join(root, 'nowhere'), roots: none, gpus: null, install: null });
  assert.equal(d.ready, false);
  assert.equal(d.summary, 'No NVIDIA driver: libcuda.so.1 was not found and there is no nvidia-smi; TRIM runs on the CPU.');
  assert.deepEqual(
    d.missing.map((m) => m.piece.split(' ')[0]),
    ['the', 'ONNX', 'libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10'],
  );
  assert.match(d.missing[1].fix, /gpu setup/);
  for (const m of d.missing) assert.ok(m.fix.length > 20, m.piece);
  // cuDNN is loaded by some kernels only: reported, not required.
  assert.equal(d.libs.find((l) => l.name === 'libcudnn.so.9')!.required, false);
});

test('a driver but no provider: the summary names the provider and the setup command', () => {
  const d = diagnose({
    providerBin: path.join(root, 'nowhere'),
    roots: { ...none, ldconfig, sitePackages: [sp] },
    gpus: smi,
    install: null,
  });
  assert.match(d.summary, /^CUDA cannot run: ONNX Runtime 1\.29\.0's CUDA provider is missing; run `trim gpu setup`/);
});

test("nvidia-smi's CSV: name, free and total MiB, driver", () => {
  assert.deepEqual(parseNvidiaSmi('NVIDIA H200, 142000, 143771, 580.82.07\nNVIDIA H200, 1, 143771, 580.82.07\n'), [
    { name: 'NVIDIA H200', freeMiB: 142000, totalMiB: 143771, driver: '580.82.07' },
    { name: 'NVIDIA H200', freeMiB: 1, totalMiB: 143771, driver: '580.82.07' },
  ]);
  assert.deepEqual(parseNvidiaSmi('No devices were found\n'), []);
});

test("the provider's version, told from its embedded version string or a libonnxruntime.so.X.Y.Z beside it", () => {
  const mk = (name: string, body: string, extra?: string): string => {
    const d = path.join(root, name);
    fs.mkdirSync(d, { recursive: true });
    // The version string ORT compiles in, among other strings (a bundled library's 1.3.9 too).
    fs.writeFileSync(
      path.join(d, 'libonnxruntime_providers_cuda.so'),
      Buffer.concat([Buffer.alloc(9 << 20, 7), Buffer.from(`\0cudaGraphDestroy(graph)\0Replay\0${body}\0Failed\0 1.3.9\0`)]),
    );
    if (extra) fs.writeFileSync(path.join(d, extra), '');
    return d;
  };
  assert.deepEqual(providerVersions(mk('p129', '1.29.0')), ['1.29.0']);
  assert.deepEqual(providerVersions(mk('p128', '1.28.1')), ['1.28.1']);
  assert.deepEqual(providerVersions(mk('p129b', '1.29.0', 'libonnxruntime.so.1.28.0')), ['1.28.0', '1.29.0']);
  assert.deepEqual(providerVersions(mk('pnone', 'v-none')), []);
});

test('--ep auto with no driver: the CPU, a notice naming the missing driver, no probe; --ep cuda: a typed E_EP', async () => {
  const noDriver = () => diagnose({ providerBin: path.join(root, 'nowhere'), roots: none, gpus: null, install: null });
  const e = await Engine.create('auto', noDriver);
  assert.equal(e.ep, 'cpu');
  assert.equal(e.notice, 'CUDA unavailable (no NVIDIA driver); running on the CPU.');
  assert.equal(e.why, 'CPU: no NVIDIA driver');
  const noProvider = () =>
    diagnose({ providerBin: path.join(root, 'nowhere'), roots: { ...none, ldconfig, sitePackages: [sp] }, gpus: smi, install: null });
  const e2 = await Engine.create('auto', noProvider);
  assert.match(e2.notice!, /^CUDA unavailable \(ONNX Runtime 1\.29\.0's CUDA provider is missing: run `trim gpu setup`/);
  await assert.rejects(
    Engine.create('cuda', noDriver),
    (err: unknown) => isTrimError(err) && err.code === 'E_EP' && /NVIDIA driver/.test(err.message),
  );
});

test("--gpu-memory auto leaves room for the arena: a 24 GiB card plans the 7B shape so that the H200's measured 12% overshoot stays under 24 GiB", () => {
  const shapes: [number, number][] = [
    [3584, 3584],
    [512, 3584],
    [512, 3584],
    [3584, 3584],
    [18944, 3584],
    [18944, 3584],
    [3584, 18944],
  ];
  const q7 = {
    config: { hidden: 3584, intermediate: 18944, layers: 28, heads: 28, kvHeads: 4, headDim: 128, dtype: 'bfloat16' },
    linearShapes: () => shapes,
  } as unknown as Checkpoint;
  const card = autoGpuMemory({ name: 'a 24 GB card', freeMiB: 24 * 1024, totalMiB: 24 * 1024, driver: '' });
  assert.ok(card.gib < 24 && card.gib > 12, String(card.gib));
  const p = planFused(q7, 2048, 128, card.gib, null, null);
  // The plan for 24 GiB peaked at 26.95 GiB on the H200 (float16): 1.123 × its budget.
  assert.ok(p.budget * 1.123 < 24 * 2 ** 30, `${(p.budget / 2 ** 30).toFixed(1)} GiB`);
  assert.ok(p.estimate <= p.budget, `estimate ${(p.estimate / 2 ** 30).toFixed(1)} of ${(p.budget / 2 ** 30).toFixed(1)} GiB`);
  assert.equal(autoGpuMemory(null).gib, 24);
});

test('--precision auto: float16 on CUDA for 16-bit checkpoints on the fused path; float32 on the CPU, for float32 weights and block by block', () => {
  assert.equal(resolvePrecision('auto', 'cuda', 'bfloat16', true).precision, 'float16');
  assert.equal(resolvePrecision('auto', 'cuda', 'float16', true).precision, 'float16');
  assert.equal(resolvePrecision('auto', 'cuda', 'float32', true).precision, 'float32');
  assert.equal(resolvePrecision('auto', 'cuda', 'float16', false).precision, 'float32');
  assert.equal(resolvePrecision('auto', 'cpu', 'float16', true).precision, 'float32');
  assert.equal(resolvePrecision('float16', 'cpu', 'float16', true).precision, 'float16');
  assert.equal(resolvePrecision(undefined, 'cuda', 'float16', true).precision, 'float32');
  assert.equal(resolvePrecision('float16', 'cuda', 'float16', false).precision, 'float32'); // block by block computes in float32
  // Gemma 2/3: auto keeps float32 on CUDA (their activations overflow float16); an explicit float16 is honoured.
  assert.equal(resolvePrecision('auto', 'cuda', 'bfloat16', true, true).precision, 'float32');
  assert.match(resolvePrecision('auto', 'cuda', 'bfloat16', true, true).why, /overflow float16/);
  assert.equal(resolvePrecision('float16', 'cuda', 'bfloat16', true, true).precision, 'float16');
});
