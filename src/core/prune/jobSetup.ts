/**
 * A pruning job's setting up, before anything is written: the protocol checked against the model
 * (seqlen, block targets), the execution provider, precision and the fused plan
 * sized to the device, and the calibration (and evaluation) text tokenized.
 */
import type { ModelSummary, PruneOptions, TrimEvent } from '../../contract';
import type { Checkpoint } from '../model/checkpoint';
import { Engine } from '../ort/engine';
import { TrimError } from '../errors';
import { canFuse, planFused, type FusedPlan } from './fused/fusedPruner';
import { autoGpuMemory, resolvePrecision } from '../gpu/budget';
import { checkOutputPath } from '../io/outputPath';
import { Runner } from '../ort/runner';
import { checkIds, readText, TextTokenizer, tokenizerSource } from '../text/tokenizer';

/** The seqlen rule of the reference: 512 for models with ≤ 1024 positions, else 2048. */
export function defaultSeqlen(maxPositions: number): number {
  return maxPositions <= 1024 ? 512 : 2048;
}

export interface JobSetup {
  engine: Engine;
  summary: ModelSummary;
  /** The output folder. */
  dst: string;
  seqlen: number;
  /** The options as they run: precision and, on CUDA, gpuMemory resolved. */
  ro: PruneOptions;
  precision: 'float32' | 'float16';
  /** The fused path's plan; null for the block-by-block path. */
  fusedPlan: FusedPlan | null;
  /** Windows per chunk (fused) or per batch. */
  batch: number;
}

export async function setUp(o: PruneOptions, ckpt: Checkpoint, emit: (e: TrimEvent) => void, job: string): Promise<JobSetup> {
  const cfg = ckpt.config;
  const dst = checkOutputPath(ckpt.dir, o.out, o.overwrite);
  const seqlen = o.seqlen ?? defaultSeqlen(cfg.maxPositions);
  if (seqlen > cfg.maxPositions) throw new TrimError('E_OPTION', `--seqlen ${seqlen} exceeds the model's ${cfg.maxPositions} positions.`);
  if (o.blockSparsity && o.blockSparsity.length !== cfg.layers) {
    throw new TrimError('E_OPTION', `blockSparsity has ${o.blockSparsity.length} entries but the model has ${cfg.layers} blocks.`);
  }
  const engine = await Engine.create(o.ep);
  const summary = ckpt.summary();
  emit({ type: 'start', job, ep: engine.ep, epNotice: engine.notice, model: summary, options: o, device: engine.why });

  // CUDA: chunk and blocks per run sized to --gpu-memory (auto: the card's free memory less a
  // margin). CPU: one block per run, chunks of the block-by-block path's batch (host memory is the
  // limit there, and nothing crosses a bus). --precision auto: float16 on CUDA for 16-bit weights.
  const cuda = engine.ep === 'cuda';
  const memory = cuda ? (o.gpuMemory != null ? { gib: o.gpuMemory, why: `--gpu-memory ${o.gpuMemory}` } : autoGpuMemory(engine.gpu)) : null;
  const { precision, why: precisionWhy } = resolvePrecision(
    o.precision,
    engine.ep,
    summary.dtype,
    canFuse(o),
    ckpt.config.features?.float16Overflows ?? false,
  );
  if (memory) emit({ type: 'log', level: 'info', message: `${memory.why}; ${precisionWhy}.` });
  else if (o.precision === 'auto') emit({ type: 'log', level: 'info', message: `${precisionWhy}.` });
  const ro: PruneOptions = { ...o, precision, gpuMemory: memory ? memory.gib : o.gpuMemory };
  const fusedPlan = canFuse(o)
    ? planFused(
        ckpt,
        seqlen,
        o.nsamples,
        memory?.gib ?? 24,
        o.batch ?? (cuda ? null : Runner.autoBatch(ckpt, seqlen)),
        o.blocksPerRun ?? (cuda ? null : 1),
      )
    : null;
  if (cuda && fusedPlan && fusedPlan.estimate > fusedPlan.budget) {
    emit({
      type: 'log',
      level: 'warn',
      message: `A run of ${fusedPlan.blocksPerRun} block(s), ${fusedPlan.chunkWindows} window(s) per chunk, is estimated at ${(fusedPlan.estimate / 2 ** 30).toFixed(1)} GiB, more than the ${(fusedPlan.budget / 2 ** 30).toFixed(1)} GiB it was sized for; it may run out of device memory (fewer --blocks-per-run, --nsamples or a shorter --seqlen need less).`,
    });
  }
  const batch = fusedPlan ? fusedPlan.chunkWindows : (o.batch ?? Runner.autoBatch(ckpt, seqlen));
  return { engine, summary, dst, seqlen, ro, precision, fusedPlan, batch };
}

/**
 * Calibration windows: the first nsamples consecutive windows of the text tokenized as one string
 * (`tokenized`: already under way, fusedBlocks.ts); and the evaluation text's ids.
 */
export async function tokenizeTexts(
  o: PruneOptions,
  ckpt: Checkpoint,
  seqlen: number,
  tokenized: Promise<Int32Array> | null,
  timed: <T>(f: () => Promise<T>) => Promise<T>,
): Promise<{ windows: Int32Array; evalIds: Int32Array | null }> {
  const vocab = ckpt.config.vocab;
  const source = tokenizerSource(o.model);
  let tok: TextTokenizer | null = null;
  const tokenizer = (): TextTokenizer => (tok ??= TextTokenizer.fromFolder(o.model));
  const calibIds = await timed(async () =>
    checkIds(await (tokenized ?? tokenizer().encode(readText(o.calib, 'Calibration'))), vocab, source),
  );
  const need = o.nsamples * seqlen;
  if (calibIds.length < need) {
    throw new TrimError(
      'E_OPTION',
      `--nsamples ${o.nsamples} × --seqlen ${seqlen} needs ${need} calibration tokens but ${o.calib} has ${calibIds.length}; lower --nsamples or --seqlen, or use a longer text.`,
    );
  }
  const evalIds = o.eval ? checkIds(tokenizer().encode(readText(o.eval, 'Evaluation')), vocab, source) : null;
  return { windows: calibIds.subarray(0, need), evalIds };
}
