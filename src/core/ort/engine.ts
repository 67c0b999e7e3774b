/**
 * ONNX Runtime sessions on the chosen execution provider. `auto` tries CUDA and falls back to the
 * CPU with a one-line notice; `cuda` fails clearly when the provider cannot start; `cpu` is the
 * CPU. Whichever ran is reported by every job.
 */
import * as ort from 'onnxruntime-node';
import type { Ep, EpChoice } from '../../contract';
import { TrimError } from '../errors';
import { GraphBuilder, T } from './graphs/builder';
import { diagnose, type Diagnosis } from '../gpu/doctor';
import type { GpuInfo } from '../gpu/probe';
import { loadedOrtBinDir } from '../gpu/paths';

export type Session = ort.InferenceSession;
export type Feeds = Record<string, ort.Tensor>;

export class Engine {
  /**
   * `gpu`: the card CUDA runs on as nvidia-smi reports it (null on the CPU, or when nvidia-smi is
   * absent). `why`: one line on why this device runs the job.
   */
  private constructor(
    readonly ep: Ep,
    readonly notice: string | null,
    readonly gpu: GpuInfo | null = null,
    readonly why = 'CPU chosen (--ep cpu)',
  ) {}

  static async create(choice: EpChoice, diag: () => Diagnosis = () => diagnose({ providerBin: loadedOrtBinDir() })): Promise<Engine> {
    if (choice === 'cpu') return new Engine('cpu', null);
    // ORT's CUDA provider lets cuBLAS use TF32 for float32 products, which moves the 80%-sparsity
    // results by ~4% (measured on the H200: demo Wanda 80% 630.8 with TF32, 656.7 without, the
    // float32 reference being 656.69). Exact float32 unless the user opts in with TRIM_ALLOW_TF32=1;
    // cuBLAS reads this variable when the provider starts, so it is set before the first session.
    if (process.env.TRIM_ALLOW_TF32 !== '1' && process.env.NVIDIA_TF32_OVERRIDE === undefined) process.env.NVIDIA_TF32_OVERRIDE = '0';
    // The doctor's diagnosis names what is missing; without a driver or a provider the probe is not
    // even tried (it could only fail).
    const d = diag();
    const first = d.missing[0];
    const hopeless = !d.driver.libcuda || !d.provider.present;
    const why = hopeless ? `${first.piece} is missing: ${first.fix}` : await cudaProbe();
    if (why === null) {
      const g = d.driver.gpus?.[0] ?? null;
      return new Engine(
        'cuda',
        null,
        g,
        `CUDA: ${g ? `${g.name}, ${(g.freeMiB / 1024).toFixed(1)} of ${(g.totalMiB / 1024).toFixed(1)} GiB free` : 'the card did not say its memory (no nvidia-smi)'}`,
      );
    }
    // The probe failed with everything in place that we look for: name a missing library if any.
    const unset = d.libraryPath.filter((dir) => !(process.env.LD_LIBRARY_PATH ?? '').split(':').includes(dir));
    const reason = hopeless
      ? why
      : first
        ? `${first.piece} is missing: ${first.fix}; ONNX Runtime said: ${why}`
        : unset.length
          ? `${why} (the CUDA libraries in ${unset.join(', ')} are not on this process's LD_LIBRARY_PATH: run it through \`trim\` or the extension, which add them, or add them yourself)`
          : why;
    if (choice === 'cuda') {
      throw new TrimError('E_EP', `The CUDA execution provider could not start: ${reason}. Use --ep cpu (or auto) to run on the CPU.`);
    }
    const short = !d.driver.libcuda ? 'no NVIDIA driver' : first ? `${first.piece} is missing: ${first.fix}` : reason;
    return new Engine('cpu', `CUDA unavailable (${short}); running on the CPU.`, null, `CPU: ${short}`);
  }

  /**
   * A failed run told apart: the device ran out of memory (a typed error that says what to lower),
   * or anything else as it came. `what` names the run ("blocks 0–3"), `lower` the options to lower.
   */
  runError(e: unknown, what: string, lower: string): unknown {
    if (this.ep !== 'cuda') return e;
    const msg = String((e as Error)?.message ?? e)
      .split('\n')[0]
      .slice(0, 300);
    if (
      /out of memory|failed to allocate|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation|BFCArena/i.test(msg)
    ) {
      return new TrimError('E_EP', `The GPU ran out of memory in ${what} (${msg}). ${lower}`);
    }
    return e;
  }

  options(): ort.InferenceSession.SessionOptions {
    return {
      executionProviders: this.ep === 'cuda' ? [{ name: 'cuda', deviceId: 0 } as ort.InferenceSession.ExecutionProviderConfig] : ['cpu'],
      graphOptimizationLevel: (process.env.TRIM_ORT_OPT as 'all' | 'basic' | 'extended' | 'disabled' | undefined) ?? 'all',
      // TRIM_ORT_LOG=verbose shows ORT's own log, including which provider each node was placed on.
      enableCpuMemArena: process.env.TRIM_CPU_ARENA !== '0',
      logSeverityLevel: process.env.TRIM_ORT_LOG === 'verbose' ? 0 : 3,
      logVerbosityLevel: 0,
      // TRIM_ORT_PROFILE=PREFIX writes ORT's per-node profile (PREFIX_<date>.json) when a session ends;
      // node names carry their (sub)graph's name, e.g. "step_52/Gemm_61" (scripts/gpu/profile-summary.mjs).
      ...(process.env.TRIM_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.TRIM_ORT_PROFILE } : {}),
    };
  }

  /**
   * `externalFolder`: the folder that the model's external-data locations are relative to (its
   * initializers are then read from those files while the session is created).
   */
  async session(model: Uint8Array, externalFolder?: string, profilePrefix?: string): Promise<Session> {
    if (process.env.TRIM_ORT_LOG === 'verbose') ort.env.logLevel = 'verbose';
    const options = this.options();
    // A per-node profile that the caller reads (phaseProfile.ts) instead of TRIM_ORT_PROFILE's.
    if (profilePrefix !== undefined) Object.assign(options, { enableProfiling: true, profileFilePrefix: profilePrefix });
    const session: Record<string, string> = {};
    // TRIM_DETERMINISTIC=1: ORT's deterministic CUDA kernels, the same bytes from run to run.
    // Without it, CUDA's sums vary in their last bits between processes: on the H200 the demo's
    // TRIM 70% gave 220.70 in 3 of 4 runs and 222.53 in one (reference 222.53, tolerance 3%),
    // 220.70 in 4 of 4 with it; at 7B it cost 3.1 s (device run 21.3 → 24.4 s, one warm run each).
    if (process.env.TRIM_DETERMINISTIC === '1') session.use_deterministic_compute = '1';
    if (externalFolder !== undefined) session.model_external_initializers_file_folder_path = externalFolder;
    if (Object.keys(session).length > 0)
      options.extra = {
        session,
        // Constant folding would evaluate the subgraphs that read only initializers (the blocks'
        // weights concatenated, the embedding table's finiteness check) on the host while the
        // session is created: the whole model in host memory, which is what external data avoids.
        ...(externalFolder !== undefined ? { optimization: { disable_specified_optimizers: 'ConstantFolding' } } : {}),
      };
    return ort.InferenceSession.create(model, options);
  }
}

/** Returns null when a CUDA session can be created, else a short reason. */
async function cudaProbe(): Promise<string | null> {
  // ORT prints a failed provider load at error level through its process-wide logger; the reason
  // is reported through our own notice instead.
  ort.env.logLevel = 'fatal';
  const g = new GraphBuilder('probe');
  const x = g.input('x', T.FLOAT, [1]);
  g.output(g.op('Relu', [x]), 'y');
  try {
    const s = await ort.InferenceSession.create(g.build(), {
      executionProviders: [{ name: 'cuda', deviceId: 0 } as ort.InferenceSession.ExecutionProviderConfig],
      logSeverityLevel: 4,
    });
    await s.release();
    return null;
  } catch (e) {
    const msg = String((e as Error).message ?? e);
    if (/Failed to load|cannot open shared object|libonnxruntime_providers/i.test(msg)) return 'its libraries are not installed';
    if (/no CUDA-capable device|CUDA failure 100|cudaErrorNoDevice/i.test(msg)) return 'no CUDA device';
    return msg.split('\n')[0].slice(0, 160);
  }
}

export function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function i64(data: BigInt64Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', data, dims);
}

export const ORT_VERSION: string = (() => {
  try {
    return ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();
