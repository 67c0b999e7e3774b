/**
 * The defaults that fit the device: `--gpu-memory auto` and `--precision auto`.
 */
import type { Ep, ModelSummary } from '../../contract';
import type { GpuInfo } from './probe';
import { OPTION_BOUNDS } from '../options';

/** The least `--gpu-memory` the options allow (the schema's minimum): auto never sizes below it. */
const LEAST_GIB = OPTION_BOUNDS.gpuMemory.minimum ?? 1;

/** GiB kept back from the card's free memory: the CUDA context, cuBLAS's workspace. */
export const CONTEXT_GIB = 1;
/**
 * Share of the rest that a plan is sized for. ONNX Runtime's CUDA arena grows by doubling its
 * extensions, so a run's peak exceeds the plan's estimate: a plan for 24 GiB peaked at 26.95 GiB
 * (float16, 7B shape, H200; ../shared/gpu/README.md), 12% above. 0.8 leaves room for that.
 */
export const ARENA_SHARE = 0.8;
/** What runs are sized for when the card's memory cannot be read (no nvidia-smi): a 24 GB card. */
export const FALLBACK_GIB = 24;

/** `--gpu-memory auto`: the card's free memory less a margin (GiB), and a line that says so. */
export function autoGpuMemory(gpu: GpuInfo | null): { gib: number; why: string } {
  if (!gpu)
    return {
      gib: FALLBACK_GIB,
      why: `--gpu-memory auto: the card's free memory is unknown (no nvidia-smi); sized for ${FALLBACK_GIB} GiB, a 24 GB card (--gpu-memory sets it)`,
    };
  const free = gpu.freeMiB / 1024;
  const gib = Math.max(LEAST_GIB, Math.floor((free - CONTEXT_GIB) * ARENA_SHARE * 10) / 10);
  return {
    gib,
    why: `--gpu-memory auto: sized for ${gib.toFixed(1)} GiB of the ${free.toFixed(1)} GiB free on ${gpu.name} (less ${CONTEXT_GIB} GiB for CUDA, × ${ARENA_SHARE} for ONNX Runtime's arena)`,
  };
}

/**
 * `--precision auto`: float16 block passes on CUDA for a 16-bit checkpoint (as the authors run
 * their model) where the fused path runs; float32 on the CPU, for float32 checkpoints and on the
 * block-by-block path (which computes in float32 only).
 */
export function resolvePrecision(
  choice: 'auto' | 'float32' | 'float16' | undefined,
  ep: Ep,
  dtype: ModelSummary['dtype'],
  fused: boolean,
  /** The family's activations overflow float16 (Gemma 2/3: FamilyFeatures.float16Overflows). */
  float16Overflows = false,
): { precision: 'float32' | 'float16'; why: string } {
  if (!fused && choice !== 'float32')
    return {
      precision: 'float32',
      why: `--precision ${choice ?? 'float32'}: float32 (N:M and --input-recalc run block by block, in float32)`,
    };
  if (choice === 'float32' || choice === 'float16' || choice === undefined) {
    return { precision: choice ?? 'float32', why: `--precision ${choice ?? 'float32'}` };
  }
  if (ep !== 'cuda') return { precision: 'float32', why: '--precision auto: float32 on the CPU' };
  if (dtype === 'float32') return { precision: 'float32', why: '--precision auto: float32 for a float32 checkpoint' };
  if (float16Overflows)
    return {
      precision: 'float32',
      why: `--precision auto: float32 on CUDA for this ${dtype} checkpoint, whose family's activations overflow float16 (Gemma 2/3)`,
    };
  return { precision: 'float16', why: `--precision auto: float16 on CUDA for a ${dtype} checkpoint` };
}
