/**
 * What this machine has for CUDA, probed: each CUDA library the provider needs, searched in order
 * in $LD_LIBRARY_PATH, the dynamic loader's cache (`ldconfig -p`), /usr/local/cuda*, the nvidia-*
 * wheels of a Python install (site-packages/nvidia/X/lib: where PyTorch users' CUDA libraries
 * usually are) and the usual system folders; and nvidia-smi's card names and memory. The verdict
 * on what was found is doctor.ts's.
 *
 * The search roots are injectable (tests build fake trees).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

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

/** The folders of a colon-separated list ($LD_LIBRARY_PATH). */
export function dirs(list: string | undefined): string[] {
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
