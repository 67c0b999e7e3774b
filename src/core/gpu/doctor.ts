/**
 * `gpu doctor`: what a CUDA run needs and where each piece was found (probe.ts searches). The
 * NVIDIA driver (libcuda.so.1, nvidia-smi's card name and memory), the CUDA provider beside the
 * ONNX Runtime that this process loads, and each CUDA library the provider needs; what is
 * missing, with what to do, and the report's lines.
 *
 * The dynamic loader reads LD_LIBRARY_PATH once, when a process starts: the folders found outside
 * its cache and the current LD_LIBRARY_PATH (`libraryPath`) are put on the LD_LIBRARY_PATH of the
 * process that runs the job (the extension's worker; the CLI runs the job in a child of itself).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ORT_PINNED, PROVIDER_FILES, readInstall } from './paths';
import {
  CUDA_LIBS,
  defaultRoots,
  dirs,
  DRIVER_LIB,
  findLibrary,
  queryGpus,
  type CudaLib,
  type Found,
  type GpuInfo,
  type SearchRoots,
  type Via,
} from './probe';

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
