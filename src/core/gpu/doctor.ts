/**
 * `gpu doctor`: what a CUDA run needs and where each piece was found. The NVIDIA driver
 * (libcuda.so.1, nvidia-smi's card name and memory), the CUDA provider beside the ONNX Runtime
 * that this process loads, and each CUDA library the provider needs, searched in order in
 * $LD_LIBRARY_PATH, the dynamic loader's cache (`ldconfig -p`), /usr/local/cuda*, the nvidia-*
 * wheels of a Python install (site-packages/nvidia/X/lib: where PyTorch users' CUDA libraries
 * usually are) and the usual system folders.
 *
 * The dynamic loader reads LD_LIBRARY_PATH once, when a process starts: the folders found outside
 * its cache and the current LD_LIBRARY_PATH (`libraryPath`) are put on the LD_LIBRARY_PATH of the
 * process that runs the job (the extension's worker; the CLI runs the job in a child of itself).
 *
 * The search roots are injectable (tests build fake trees).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ORT_PINNED, PROVIDER_FILES, readInstall } from './paths';

export interface CudaLib {
  name: string;
  what: string;
  /** Needed to load the provider (an ELF NEEDED entry of it), or loaded by ORT only for some kernels. */
  required: boolean;
}

/**
 * The CUDA libraries of the provider in com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, read
 * from libonnxruntime_providers_cuda.so's NEEDED entries (`objdump -p`): libcublasLt.so.13,
 * libcublas.so.13, libcurand.so.10, libcudart.so.13 and the driver's libcuda.so.1 (checked
 * apart). It links no cuFFT; cuDNN is not a NEEDED entry but its name is in the library (loaded
 * at run time by the kernels that use it), so cuDNN 9 is reported as wanted, not required.
 */
export const CUDA_LIBS: CudaLib[] = [
  { name: 'libcudart.so.13', what: 'CUDA 13 runtime', required: true },
  { name: 'libcublas.so.13', what: 'cuBLAS 13', required: true },
  { name: 'libcublasLt.so.13', what: 'cuBLASLt 13', required: true },
  { name: 'libcurand.so.10', what: 'cuRAND (CUDA 13)', required: true },
  { name: 'libcudnn.so.9', what: 'cuDNN 9 (loaded by some kernels)', required: false },
];
export const DRIVER_LIB = 'libcuda.so.1';

export type Via = 'LD_LIBRARY_PATH' | 'ldconfig' | 'cuda' | 'python' | 'system';

export interface Found {
  dir: string;
  via: Via;
}

export interface SearchRoots {
  /** $LD_LIBRARY_PATH's folders. */
  ldLibraryPath: string[];
  /** `ldconfig -p`'s output (null when ldconfig could not run). */
  ldconfig: string | null;
  /** CUDA installs: /usr/local/cuda, /usr/local/cuda-13.0, $CUDA_HOME … (lib64 and targets/x86_64-linux/lib are searched). */
  cudaHomes: string[];
  /** Python site-packages folders (nvidia/X/lib is searched in each). */
  sitePackages: string[];
  /** Other folders: the driver's usual places, a conda env's lib. */
  systemDirs: string[];
}

export interface GpuInfo {
  name: string;
  /** MiB as nvidia-smi reports them. */
  freeMiB: number;
  totalMiB: number;
  driver: string;
}

export interface LibStatus extends CudaLib {
  found: Found | null;
}

export interface Diagnosis {
  driver: { libcuda: Found | null; gpus: GpuInfo[] | null };
  provider: { binDir: string; present: boolean; install: string | null };
  libs: LibStatus[];
  /** Folders to put first on the job's LD_LIBRARY_PATH (found outside the loader's cache and $LD_LIBRARY_PATH). */
  libraryPath: string[];
  /** What is missing, each with what to do; empty when CUDA can run. */
  missing: { piece: string; fix: string }[];
  /** The driver, the provider and every required library are there. */
  ready: boolean;
  /** One line: what runs where, or the first missing piece. */
  summary: string;
}

function dirs(list: string | undefined): string[] {
  return (list ?? '').split(':').filter((d) => d !== '');
}

function globDirs(parent: string, re: RegExp): string[] {
  try {
    return fs
      .readdirSync(parent)
      .filter((n) => re.test(n))
      .sort()
      .reverse()
      .map((n) => path.join(parent, n));
  } catch {
    return [];
  }
}

function run(cmd: string, args: string[], timeout = 10_000): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 && typeof r.stdout === 'string' ? r.stdout : null;
}

function ldconfigOutput(): string | null {
  for (const c of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const out = run(c, ['-p']);
    if (out !== null) return out;
  }
  return null;
}

/** Python site-packages folders: python3's own (if present) and the usual venv/conda/user places. */
function sitePackageDirs(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const py = run('python3', ['-c', 'import site,json;print(json.dumps(site.getsitepackages()+[site.getusersitepackages()]))'], 5000);
  if (py) {
    try {
      out.push(...(JSON.parse(py) as string[]));
    } catch {
      // not JSON: ignored
    }
  }
  const home = env.HOME ?? os.homedir();
  const prefixes = [
    env.VIRTUAL_ENV,
    env.CONDA_PREFIX,
    path.join(home, '.local'),
    path.join(home, '.venv'),
    path.join(process.cwd(), '.venv'),
    path.join(process.cwd(), 'venv'),
  ].filter((p): p is string => !!p);
  for (const c of ['miniconda3', 'anaconda3', 'miniforge3', 'mambaforge']) {
    prefixes.push(path.join(home, c), ...globDirs(path.join(home, c, 'envs'), /./));
  }
  for (const p of prefixes) for (const lib of globDirs(path.join(p, 'lib'), /^python3/)) out.push(path.join(lib, 'site-packages'));
  out.push(...globDirs('/usr/local/lib', /^python3/).map((d) => path.join(d, 'dist-packages')), '/usr/lib/python3/dist-packages');
  return [...new Set(out)].filter((d) => fs.existsSync(d));
}

export function defaultRoots(env: NodeJS.ProcessEnv = process.env): SearchRoots {
  const cudaHomes = [env.CUDA_HOME, env.CUDA_PATH].filter((p): p is string => !!p);
  cudaHomes.push(...globDirs('/usr/local', /^cuda(-\d+(\.\d+)*)?$/), ...globDirs('/opt', /^cuda(-\d+(\.\d+)*)?$/));
  return {
    ldLibraryPath: dirs(env.LD_LIBRARY_PATH),
    ldconfig: ldconfigOutput(),
    cudaHomes: [...new Set(cudaHomes)],
    sitePackages: sitePackageDirs(env),
    systemDirs: [
      '/usr/lib/x86_64-linux-gnu',
      '/usr/lib64',
      '/usr/lib/wsl/lib',
      ...(env.CONDA_PREFIX ? [path.join(env.CONDA_PREFIX, 'lib')] : []),
    ],
  };
}

/** Where `name` is found first, in the loader's order then ours (see the module's comment). */
export function findLibrary(name: string, roots: SearchRoots): Found | null {
  const has = (d: string): boolean => fs.existsSync(path.join(d, name));
  for (const d of roots.ldLibraryPath) if (has(d)) return { dir: d, via: 'LD_LIBRARY_PATH' };
  if (roots.ldconfig) {
    const esc = name.replace(/[.]/g, '\\.');
    // "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1" (32-bit ones say "(libc6)").
    for (const m of roots.ldconfig.matchAll(new RegExp(`^\\s*${esc} \\(([^)]*)\\) => (\\S+)$`, 'gm'))) {
      if (/x86-64/.test(m[1])) return { dir: path.dirname(m[2]), via: 'ldconfig' };
    }
  }
  for (const h of roots.cudaHomes) {
    for (const sub of ['targets/x86_64-linux/lib', 'lib64', 'lib'])
      if (has(path.join(h, sub))) return { dir: path.join(h, sub), via: 'cuda' };
  }
  for (const sp of roots.sitePackages) {
    for (const pkg of globDirs(path.join(sp, 'nvidia'), /./))
      if (has(path.join(pkg, 'lib'))) return { dir: path.join(pkg, 'lib'), via: 'python' };
  }
  for (const d of roots.systemDirs) if (has(d)) return { dir: d, via: 'system' };
  return null;
}

/** nvidia-smi's view of the cards (null when nvidia-smi is absent or fails). */
export function queryGpus(): GpuInfo[] | null {
  const out = run('nvidia-smi', ['--query-gpu=name,memory.free,memory.total,driver_version', '--format=csv,noheader,nounits']);
  return out === null ? null : parseNvidiaSmi(out);
}

export function parseNvidiaSmi(out: string): GpuInfo[] {
  return out
    .split('\n')
    .map((l) => l.split(',').map((s) => s.trim()))
    .filter((f) => f.length >= 4 && Number.isFinite(Number(f[1])))
    .map(([name, free, total, driver]) => ({ name, freeMiB: Number(free), totalMiB: Number(total), driver }));
}

const VIA: Record<Via, string> = {
  LD_LIBRARY_PATH: '$LD_LIBRARY_PATH',
  ldconfig: 'ldconfig',
  cuda: 'CUDA install',
  python: 'Python nvidia wheels',
  system: 'system folder',
};

export function describeFound(f: Found | null): string {
  return f ? `${f.dir} (${VIA[f.via]})` : 'not found';
}

export function gib(mib: number): string {
  return (mib / 1024).toFixed(1);
}

export interface DiagnoseOptions {
  /** The folder of the libonnxruntime.so.1 that jobs load (the provider must be beside it). */
  providerBin: string;
  /** The install that folder belongs to, if any (for the message). */
  install?: string | null;
  /** How to run the setup, for the messages ("trim gpu setup" or the command's name). */
  setupHint?: string;
  roots?: SearchRoots;
  /** nvidia-smi's answer (default: run it). */
  gpus?: GpuInfo[] | null;
}

const CUDA_FIX =
  "install CUDA 13 (NVIDIA's CUDA Toolkit 13.x, or the cuda-libraries-13-0 package) or a PyTorch built for CUDA 13 (its nvidia-* wheels are found), or put the folder that holds it on LD_LIBRARY_PATH";

export function diagnose(o: DiagnoseOptions): Diagnosis {
  const roots = o.roots ?? defaultRoots();
  const setup = o.setupHint ?? '`trim gpu setup` (or "TRIM: Set Up GPU (CUDA)" in VS Code)';
  const libcuda = findLibrary(DRIVER_LIB, roots);
  const gpus = o.gpus !== undefined ? o.gpus : libcuda ? queryGpus() : null;
  const present = PROVIDER_FILES.every((f) => fs.existsSync(path.join(o.providerBin, f)));
  const libs = CUDA_LIBS.map((l) => ({ ...l, found: findLibrary(l.name, roots) }));
  const known = new Set(roots.ldLibraryPath);
  const libraryPath = [
    ...new Set(
      libs
        .map((l) => l.found)
        .filter((f): f is Found => f !== null && f.via !== 'LD_LIBRARY_PATH' && f.via !== 'ldconfig')
        .map((f) => f.dir),
    ),
  ].filter((d) => !known.has(d));
  const missing: Diagnosis['missing'] = [];
  if (!libcuda)
    missing.push({
      piece: `the NVIDIA driver (${DRIVER_LIB})`,
      fix: 'install the NVIDIA driver for the card (a CUDA 13 build needs driver 580 or newer); without it TRIM runs on the CPU',
    });
  if (!present) missing.push({ piece: `ONNX Runtime ${ORT_PINNED}'s CUDA provider`, fix: `run ${setup}` });
  for (const l of libs) {
    if (!l.found && l.required) missing.push({ piece: `${l.name} (${l.what})`, fix: CUDA_FIX });
  }
  const ready = missing.length === 0;
  const wanted = libs.filter((l) => !l.found && !l.required);
  let summary: string;
  if (!libcuda) {
    summary = `No NVIDIA driver: ${DRIVER_LIB} was not found${gpus === null ? ' and there is no nvidia-smi' : ''}; TRIM runs on the CPU.`;
  } else if (!ready) {
    summary = `CUDA cannot run: ${missing[0].piece} is missing; ${missing[0].fix}.${missing.length > 1 ? ` (${missing.length - 1} more missing piece${missing.length > 2 ? 's' : ''}: \`trim gpu doctor\`.)` : ''}`;
  } else {
    const g = gpus?.[0];
    summary = `CUDA ready${g ? `: ${g.name}, ${gib(g.freeMiB)} of ${gib(g.totalMiB)} GiB free` : ''}${wanted.length ? ` (${wanted.map((l) => l.name).join(', ')} not found: ${wanted.map((l) => l.what).join(', ')})` : ''}.`;
  }
  const install = o.install !== undefined ? o.install : installOf(o.providerBin);
  return { driver: { libcuda, gpus }, provider: { binDir: o.providerBin, present, install }, libs, libraryPath, missing, ready, summary };
}

/** The install (paths.ts) whose binding folder is `bin` (…/node_modules/onnxruntime-node/bin/napi-v6/linux/x64), or null. */
function installOf(bin: string): string | null {
  const root = path.resolve(bin, '..', '..', '..', '..', '..', '..');
  return readInstall(root) ? root : null;
}

/**
 * The environment of a process that runs a job: `env` with the diagnosis's library folders first
 * on LD_LIBRARY_PATH; null when there is nothing to add.
 */
export function jobEnv(d: Diagnosis, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv | null {
  if (d.libraryPath.length === 0) return null;
  return { ...env, LD_LIBRARY_PATH: [...d.libraryPath, ...dirs(env.LD_LIBRARY_PATH)].join(':') };
}

/** The doctor's report as lines of text (CLI, the extension's output channel). */
export function doctorLines(d: Diagnosis): string[] {
  const lines = [d.summary];
  if (!d.driver.libcuda && !d.provider.present) return lines;
  const g = d.driver.gpus;
  lines.push(`  NVIDIA driver   ${DRIVER_LIB}: ${describeFound(d.driver.libcuda)}`);
  if (g && g.length)
    for (const c of g) lines.push(`  card            ${c.name}: ${gib(c.freeMiB)} of ${gib(c.totalMiB)} GiB free (driver ${c.driver})`);
  else lines.push('  card            nvidia-smi not found or failed: the card and its memory are unknown');
  lines.push(`  CUDA provider   ${d.provider.present ? `ONNX Runtime ${ORT_PINNED}, ${d.provider.binDir}` : 'not installed'}`);
  const w = Math.max(...d.libs.map((l) => l.name.length));
  for (const l of d.libs)
    lines.push(`  ${l.name.padEnd(w)}  ${l.what.padEnd(34)} ${describeFound(l.found)}${!l.found && !l.required ? ' (optional)' : ''}`);
  if (d.libraryPath.length) lines.push(`  jobs run with LD_LIBRARY_PATH += ${d.libraryPath.join(':')}`);
  for (const m of d.missing) lines.push(`  missing: ${m.piece}: ${m.fix}.`);
  return lines;
}
