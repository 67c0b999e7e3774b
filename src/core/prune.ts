/**
 * The pruning job (REFERENCE.md §1-§3), readable in one sitting:
 *
 *   calibration windows → embeddings → for each block:
 *     statistics pass (Wanda sums of squares, last-token inputs X)
 *     → scores → per-linear target → TRIM search (or uniform / N:M) → masks applied
 *     → pruned weights written into the partial output → propagation pass
 *   → pruned checkpoint evaluated from the written files → report → renamed into place.
 */
import * as os from 'node:os';
import type {
  BlockReport, EvalResult, LayerReport, PhaseSeconds, PruneOptions, PruneSummary, TrimEvent, TrimReport,
} from '../contract';
import { partialDirFor, REPORT_FORMAT } from '../contract';
import { Checkpoint, type InputGroup } from './checkpoint';
import { runBaseline } from './baseline';
import { writeMasks } from './masks';
import { denseKey, readDense, writeDense } from './denseCache';
import { blockMeanAlpha, computeModelAlphas, alphaTargets } from './alpha';
import { Engine, ORT_VERSION } from './engine';
import { autoGpuMemory, resolvePrecision } from './gpu/budget';
import { isTrimError, TrimError } from './errors';
import { buildTrimEvalGraph } from './graphs/trimEval';
import { checkOutputPath, ioError, OutputWriter, summaryOfCommitted } from './output';
import { OutputLock } from './outputLock';
import { parseNM, validatePruneOptions } from './options';
import { outlierRatio, owlTargets } from './owl';
import { evaluatePerplexity, windowCount } from './perplexity';
import { concat, Runner, type Activations, type BlockStats } from './runner';
import { maskFromRanks, nmMask, prunedCounts, rowRanks, scoreMatrix, uniformCounts } from './scores';
import { fingerprint, firstNonFinite, RESUME_FORMAT, ResumeStore, type ResumeState } from './resume';
import { checkIds, encodeFileOffThread, readText, TextTokenizer, tokenizerSource } from './tokenizer';
import { trimSearch } from './trimSearch';
import { canFuse, FusedPruner, nonFiniteActivations, planFused } from './fused';
import { f32 } from './engine';
import { collectGarbage } from './gc';
import { formatReportJson } from './reportJson';

export const TRIM_VERSION = '0.1.0';

export interface JobControl {
  /** Throws E_CANCELLED when the job should stop. */
  check(): void;
  /**
   * Resolves once the events emitted so far have reached their reader (the worker's IPC): awaited
   * after the commit and before the output's lock is released, so that whoever watches the lock
   * (the job manager) has the `done` event whenever the lock is gone.
   */
  flush?(): Promise<void>;
  /**
   * Receives, once the output is being written, a function that settles it synchronously as a
   * cancel would (a --resume run keeps its checkpoint, any other run removes its partial folder)
   * and says what it did; null once the job has settled it itself. The CLI calls it to stop at
   * once, in the middle of a block (a second Ctrl-C, a closed output pipe).
   */
  onStopNow?(settle: (() => string) | null): void;
  /**
   * Told when the job has taken the lock of an output (`held`, before anything of it is touched)
   * and when it is about to release it (with whether it committed): the CLI's supervising process
   * (cliSupervisor.ts) settles the outputs a job held when it had to kill it.
   */
  onLock?(note: { out: string; job: string; resume: boolean; held: boolean; committed?: boolean }): void;
}

const never: JobControl = { check: () => {} };

function zeroPhases(): PhaseSeconds {
  return { load: 0, calibration: 0, allocation: 0, embed: 0, statistics: 0, trim: 0, prune: 0, propagate: 0, write: 0, dense_eval: 0, eval: 0, total: 0 };
}

/** The seqlen rule of the reference: 512 for models with ≤ 1024 positions, else 2048. */
export function defaultSeqlen(maxPositions: number): number {
  return maxPositions <= 1024 ? 512 : 2048;
}

/** Fraction of zeros, the one definition of achieved sparsity. */
export function zeroFraction(zeros: number, total: number): number {
  return total === 0 ? 0 : zeros / total;
}

/**
 * Runs a pruning job under the lock of its output (outputLock.ts): the output path is checked
 * against the source first (nothing is written before), then the lock is taken before anything of
 * the output is touched, an earlier job's interrupted commit is finished or rolled back, and the
 * lock is released at the end, with the parent folders this job created unless it committed.
 */
export async function runPrune(o: PruneOptions, emit: (e: TrimEvent) => void, ctl: JobControl = never, job = 'prune'): Promise<PruneSummary> {
  validatePruneOptions(o);
  const guarded = [o.calib, ...(o.eval ? [o.eval] : [])];
  const out = checkOutputPath(o.model, o.out, o.overwrite, guarded);
  const lock = OutputLock.acquire(out, job);
  ctl.onLock?.({ out, job, resume: !!o.resume, held: true });
  // Stopping at once (JobControl.onStopNow: a closed output pipe, a second Ctrl-C) settles what the
  // job wrote, then releases the lock, so that nothing is left behind. Once the job hands settling
  // back (null: its commit is under way) a stop at once is like a kill: the next job on this output
  // finishes or rolls back the commit under the lock.
  const withLock = (settle: (() => string) | null): (() => string) | null =>
    settle && ((): string => { const what = settle(); lock.release(false); return what; });
  ctl.onStopNow?.(withLock(() => 'nothing was written.'));
  const inner: JobControl = ctl.onStopNow ? { ...ctl, onStopNow: (settle) => ctl.onStopNow!(withLock(settle)) } : ctl;
  let committed = false;
  try {
    const recovered = lock.recover();
    if (recovered !== 'none') {
      emit({ type: 'log', level: 'warn', message: recovered === 'committed'
        ? `An earlier run on ${out} was stopped while moving its result into place; its result was put in place.`
        : `An earlier run on ${out} was stopped while moving its result into place; the previous ${out} was put back.` });
    }
    if (recovered === 'committed' && o.resume) {
      // The interrupted run had decided its commit (its checkpoint was already superseded by the
      // whole result): that result is now in place, so there is nothing left to resume.
      const done = summaryOfCommitted(out);
      if (done) {
        committed = true;
        emit({ type: 'log', level: 'info', message: `Nothing to resume: the interrupted run had finished; its result is in ${out}.` });
        emit({ type: 'done', summary: done });
        await ctl.flush?.();
        return done;
      }
    }
    checkOutputPath(o.model, o.out, o.overwrite, guarded);
    const r = await pruneLocked(o, emit, inner, job);
    committed = true;
    await ctl.flush?.();
    return r;
  } finally {
    ctl.onLock?.({ out, job, resume: !!o.resume, held: false, committed });
    lock.release(committed);
  }
}

async function pruneLocked(o: PruneOptions, emit: (e: TrimEvent) => void, ctl: JobControl, job: string): Promise<PruneSummary> {
  const tAll = performance.now();
  const sec = zeroPhases();
  const timed = async <T>(phase: keyof PhaseSeconds, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      sec[phase] += (performance.now() - t) / 1000;
    }
  };

  validatePruneOptions(o);
  // The baseline (TRIM off, same protocol) first, so the report is written once, whole.
  const baseline = o.baseline && o.trim ? await runBaseline(o, emit, (b, e) => runPrune(b, e, ctl, `${job}-baseline`)) : null;
  const ckpt = await timed('load', () => Checkpoint.open(o.model));
  const cfg = ckpt.config;
  const dst = checkOutputPath(ckpt.dir, o.out, o.overwrite);
  const seqlen = o.seqlen ?? defaultSeqlen(cfg.maxPositions);
  if (seqlen > cfg.maxPositions) throw new TrimError('E_OPTION', `--seqlen ${seqlen} exceeds the model's ${cfg.maxPositions} positions.`);
  if (cfg.slidingWindow !== null && seqlen > cfg.slidingWindow) {
    throw new TrimError('E_OPTION', `--seqlen ${seqlen} exceeds the model's sliding window of ${cfg.slidingWindow} tokens; use --seqlen ${cfg.slidingWindow} or less.`);
  }
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
  const { precision, why: precisionWhy } = resolvePrecision(o.precision, engine.ep, summary.dtype, canFuse(o));
  if (memory) emit({ type: 'log', level: 'info', message: `${memory.why}; ${precisionWhy}.` });
  else if (o.precision === 'auto') emit({ type: 'log', level: 'info', message: `${precisionWhy}.` });
  const ro: PruneOptions = { ...o, precision, gpuMemory: memory ? memory.gib : o.gpuMemory };
  const fusedPlan = canFuse(o)
    ? planFused(ckpt, seqlen, o.nsamples, memory?.gib ?? 24, o.batch ?? (cuda ? null : Runner.autoBatch(ckpt, seqlen)), o.blocksPerRun ?? (cuda ? null : 1))
    : null;
  if (cuda && fusedPlan && fusedPlan.estimate > fusedPlan.budget) {
    emit({ type: 'log', level: 'warn', message: `A run of ${fusedPlan.blocksPerRun} block(s), ${fusedPlan.chunkWindows} window(s) per chunk, is estimated at ${(fusedPlan.estimate / 2 ** 30).toFixed(1)} GiB, more than the ${(fusedPlan.budget / 2 ** 30).toFixed(1)} GiB it was sized for; it may run out of device memory (fewer --blocks-per-run, --nsamples or a shorter --seqlen need less).` });
  }
  // The fused path's first run needs only the token ids: its weights are read while the text is
  // tokenized, when pruning follows at once (no dense evaluation or allocation pass in between,
  // during which they would only hold host memory).
  // Calibration windows: the first nsamples consecutive windows of the text tokenized as one string.
  emit({ type: 'phase', phase: 'calibration', message: `Tokenizing ${o.calib}` });
  let fused: FusedPruner | null = null;
  let tokenized: Promise<Int32Array> | null = null;
  if (fusedPlan && !o.resume && !o.eval && (o.allocation === 'uniform' || o.blockSparsity)) {
    fused = new FusedPruner(ckpt, engine, seqlen, fusedPlan, ro);
    const count = Math.min(fusedPlan.blocksPerRun, cfg.layers);
    fused.prefetch(0, count);
    // Building the graph and creating its session hold this thread (0.3-0.7 s at 7B; with the
    // weights in the session, their reading too: 2-3 s): the text is tokenized meanwhile on a
    // worker thread, and fed weights are read on libuv's.
    tokenized = encodeFileOffThread(o.model, o.calib, 'Calibration');
    tokenized.catch(() => {}); // awaited below
    const f = fused;
    await timed('prune', () => f.prepare(0, count, true, count < cfg.layers));
  }

  const source = tokenizerSource(o.model);
  let tok: TextTokenizer | null = null;
  const tokenizer = (): TextTokenizer => (tok ??= TextTokenizer.fromFolder(o.model));
  const calibIds = await timed('calibration', async () => checkIds(await (tokenized ?? tokenizer().encode(readText(o.calib, 'Calibration'))), cfg.vocab, source));
  const need = o.nsamples * seqlen;
  if (calibIds.length < need) {
    throw new TrimError('E_OPTION', `--nsamples ${o.nsamples} × --seqlen ${seqlen} needs ${need} calibration tokens but ${o.calib} has ${calibIds.length}; lower --nsamples or --seqlen, or use a longer text.`);
  }
  const evalIds = o.eval ? checkIds(tokenizer().encode(readText(o.eval, 'Evaluation')), cfg.vocab, source) : null;
  ctl.check();

  // Checkpoints per finished block, in the partial folder: --resume continues from the last one.
  const batch = fusedPlan ? fusedPlan.chunkWindows : o.batch ?? Runner.autoBatch(ckpt, seqlen);
  const fp = fingerprint(o, { seqlen, batch, ep: engine.ep, version: TRIM_VERSION, path: fusedPlan ? 'fused' : 'blocks' }, ckpt);
  const store = new ResumeStore(partialDirFor(dst));
  const actFloats = o.nsamples * seqlen * cfg.hidden;
  const actLengths = fusedPlan ? [actFloats] : Array.from({ length: Math.ceil(o.nsamples / batch) }, (_, i) => Math.min(batch, o.nsamples - i * batch) * seqlen * cfg.hidden);
  const resumed = o.resume ? store.load(fp, { layers: cfg.layers, linears: summary.linearShapes, actLengths }) : null;
  if (o.resume) {
    emit({ type: 'log', level: 'info', message: resumed
      ? `Resuming the interrupted run from block ${resumed.state.nextBlock} of ${cfg.layers}.`
      : 'Nothing to resume: no checkpoint of an interrupted run beside --out; starting from the first block.' });
  }
  const writer = OutputWriter.begin(ckpt, o.out, o.overwrite, resumed !== null);
  ctl.onStopNow?.(() => {
    if (o.resume && store.exists()) {
      writer.keep();
      return `the finished blocks are kept in ${writer.partial}. Run again with --resume to continue.`;
    }
    writer.abort();
    return 'nothing was written.';
  });
  const runner = new Runner(ckpt, engine, seqlen, batch);
  const blocks: BlockReport[] = resumed ? resumed.blocks : [];
  const resumedSeconds = resumed ? resumed.state.seconds.total : 0;
  if (resumed) for (const k of Object.keys(sec) as (keyof PhaseSeconds)[]) sec[k] = (sec[k] ?? 0) + (resumed.state.seconds[k] ?? 0);
  if (resumed?.state.seconds.device !== undefined) sec.device = (sec.device ?? 0) + resumed.state.seconds.device;
  try {
    // Dense perplexity (cached per model, text and protocol).
    let dense: EvalResult | null = resumed ? resumed.state.dense : null;
    if (dense) emit({ type: 'eval', which: 'dense', result: dense });
    else if (evalIds && o.eval) {
      const key = denseKey(ckpt, o.eval, seqlen, o.maxEvalWindows, engine.ep);
      dense = readDense(key);
      if (!dense) {
        emit({ type: 'phase', phase: 'dense_eval', message: `Evaluating the dense model (${windowCount(evalIds.length, seqlen, o.maxEvalWindows)} windows × ${seqlen} tokens)` });
        dense = await timed('dense_eval', () => evaluatePerplexity(ckpt, runner, evalIds, o.maxEvalWindows, (d, t) => emit({ type: 'progress', phase: 'dense_eval', done: d, total: t }), ctl.check));
        writeDense(key, dense);
      }
      emit({ type: 'eval', which: 'dense', result: dense });
    }

    const windows = calibIds.subarray(0, need);
    const embed = (): Promise<Activations> => timed('embed', () => runner.embed(
      windows, ckpt.readF32(ckpt.layout.embed), ckpt.layout.positions ? ckpt.readF32(ckpt.layout.positions) : null));

    // Layer allocation: a target per block.
    let targets: number[] = new Array(cfg.layers).fill(o.sparsity);
    let ratios: number[] | null = null;
    let alphas: number[][] | null = null;
    if (resumed) ({ targets, ratios, alphas } = resumed.state);
    else if (o.blockSparsity) targets = o.blockSparsity.slice();
    else if (o.allocation === 'owl') {
      emit({ type: 'phase', phase: 'allocation', message: 'OWL: outlier ratios from a dense pass' });
      ratios = await timed('allocation', async () => {
        let acts = await embed();
        const D: number[] = [];
        for (let b = 0; b < cfg.layers; b++) {
          ctl.check();
          const { f32: w } = ckpt.readBlock(b);
          const r = await runner.runBlock(w, acts, { stats: true, propagate: true });
          const scores = ckpt.layout.linears.map((l, i) => {
            const [rows, cols] = summary.linearShapes[i];
            return scoreMatrix(w.get(`${l}.weight`)!, rows, cols, o.score, norm2(r.stats!, ckpt.layout.linearInput[i], o.nsamples));
          });
          D.push(outlierRatio(scores, o.owlM));
          acts = r.out!;
          if (acts.some((a) => firstNonFinite(a) >= 0)) throw nonFiniteActivations(ckpt, b);
          emit({ type: 'progress', phase: 'allocation', done: b + 1, total: cfg.layers });
        }
        return D;
      });
      targets = owlTargets(ratios, o.sparsity, o.owlLambda);
      emit({ type: 'log', level: 'info', message: `OWL block targets: ${targets.map((t) => t.toFixed(3)).join(' ')}` });
    } else if (o.allocation === 'alpha') {
      // AlphaPruning: per-linear alpha_peak of the weights' spectra (cached per checkpoint), block means → targets.
      emit({ type: 'phase', phase: 'allocation', message: 'AlphaPruning: heavy-tail α of every linear (Gram on the EP, eigenvalues on the CPU)' });
      const r = await timed('allocation', () => computeModelAlphas(ckpt, engine, {
        check: ctl.check,
        onBlock: (b) => emit({ type: 'progress', phase: 'allocation', done: b + 1, total: cfg.layers }),
      }));
      alphas = r.alphas;
      const blockParams = alphas.map(() => summary.linearShapes.reduce((a, [rows, cols]) => a + rows * cols, 0));
      targets = alphaTargets(alphas.map(blockMeanAlpha), blockParams, o.sparsity, o.alphaEpsilon);
      emit({ type: 'log', level: 'info', message: `AlphaPruning (ε ${o.alphaEpsilon}${r.cachedBlocks ? `, α of ${r.cachedBlocks}/${cfg.layers} blocks from the cache` : ''}) block α: ${alphas.map((a) => blockMeanAlpha(a).toFixed(3)).join(' ')}; block targets: ${targets.map((t) => t.toFixed(3)).join(' ')}` });
    }
    const bad = targets.findIndex((t) => !(t >= 0 && t < 1));
    if (bad >= 0) throw new TrimError('E_OPTION', `block ${bad} would get sparsity ${targets[bad].toFixed(3)}, outside [0, 1); lower --owl-lambda or the target.`);

    // Sequential block-wise pruning, from the first block or the one after the last checkpoint.
    emit({ type: 'phase', phase: 'blocks', message: `Pruning ${cfg.layers} blocks (${o.nsamples} windows × ${seqlen} tokens, ${batch} per batch${fusedPlan ? `, ${fusedPlan.blocksPerRun} block${fusedPlan.blocksPerRun > 1 ? 's' : ''} per run${cuda ? `, ~${(fusedPlan.estimate / 2 ** 30).toFixed(1)} of ${(fusedPlan.budget / 2 ** 30).toFixed(0)} GiB of GPU memory` : ''}` : ''})` });
    const start = resumed ? resumed.state.nextBlock : 0;
    for (const report of blocks) emit({ type: 'block_end', block: report.index, blocks: cfg.layers, report });
    // A checkpoint before block 0 (or after the last) stores no inputs: block 0's are the embeddings.
    let acts = resumed?.acts ?? (fusedPlan || start >= cfg.layers ? [] : await embed());
    let zeros = resumed ? resumed.state.zeros : 0;
    let weights = resumed ? resumed.state.weights : 0;
    const checkpoint = (nextBlock: number, report: BlockReport | readonly BlockReport[] | null, next: Activations | null): void => {
      const state: ResumeState = {
        format: RESUME_FORMAT, fingerprint: fp, nextBlock, targets, ratios, alphas, dense, zeros, weights,
        seconds: { ...sec, total: resumedSeconds + (performance.now() - tAll) / 1000 }, acts: null,
      };
      store.save(state, report, next);
    };
    if (!resumed) checkpoint(0, null, null);
    if (fusedPlan) {
      // Runs of blocks on the device (graphs/fused.ts): statistics, scores, ranks, TRIM search,
      // masks and propagation inside one session.run per run of blocks.
      const fp_ = fused ?? new FusedPruner(ckpt, engine, seqlen, fusedPlan, ro);
      fused = null;
      let lastSave = performance.now();
      // Phase times of each run from its session's per-node profile (phaseProfile.ts), known when
      // the session ends: at once where a session serves one run, else when the pruner is released.
      const unattributed: { run: number; at: number; count: number }[] = [];
      const attribute = (): void => {
        for (let i = 0; i < unattributed.length;) {
          const u = unattributed[i];
          const ph = fp_.phasesOf(u.run);
          if (!ph) { i++; continue; }
          unattributed.splice(i, 1);
          sec.statistics += ph.statistics;
          sec.propagate += ph.propagate;
          sec.trim += ph.trim;
          sec.prune -= ph.statistics + ph.propagate;
          sec.device = (sec.device ?? 0) + ph.seconds;
          if (ph.blocks.length === u.count) {
            ph.blocks.forEach((p, k) => (blocks[u.at + k].seconds = { statistics: p.statistics, prune: p.prune, propagate: p.propagate }));
          }
        }
      };
      try {
        let input: { h: Float32Array } | { ids: Int32Array } = resumed?.acts ? { h: concat(resumed.acts) } : { ids: windows };
        acts = [];
        for (let b = start; b < cfg.layers;) {
          ctl.check();
          const count = Math.min(fusedPlan.blocksPerRun, cfg.layers - b);
          for (let k = 0; k < count; k++) emit({ type: 'block_start', block: b + k, blocks: cfg.layers, target: targets[b + k] });
          const last = b + count >= cfg.layers;
          // The previous run's inputs and the outputs' copies are garbage now: free them before
          // this run allocates as much again (V8 would collect them later; host memory, not time).
          if ('h' in input && input.h.byteLength >= 64 * 2 ** 20) collectGarbage();
          const r = await fp_.run(b, count, targets, input, !last);
          sec.load += r.readSeconds;
          sec.prune += r.seconds + r.sessionSeconds + r.applySeconds;

          // Pruned weights, two blocks at a time: while one block's are written, the next block's
          // are made (read and zeroed, where the session held the weights).
          const start = (k: number): Promise<Uint8Array>[] => r.blocks[k].linears.map((l) => {
            const p = l.pruned();
            p.catch(() => {}); // awaited below, in order
            return p;
          });
          let ahead = start(0);
          for (let k = 0; k < count; k++) {
            const blk = b + k;
            const layers: LayerReport[] = [];
            const made = ahead;
            if (k + 1 < count) ahead = start(k + 1);
            for (let i = 0; i < r.blocks[k].linears.length; i++) {
              const lr_ = r.blocks[k].linears[i];
              const [rows, cols] = summary.linearShapes[i];
              const info = ckpt.tensors.get(ckpt.blockName(blk, `${lr_.name}.weight`))!;
              const bytes = await timed('prune', () => made[i]);
              await timed('write', () => writer.writeTensor(info, bytes));
              let layerZeros = 0;
              for (const z of lr_.zeros) layerZeros += z;
              zeros += layerZeros;
              weights += rows * cols;
              const t = lr_.trim;
              const layer: LayerReport = {
                name: lr_.name.split('.').pop()!, rows, cols, target: targets[blk],
                achieved: zeroFraction(layerZeros, rows * cols),
                rowSparsity: Array.from(lr_.zeros, (z) => Math.round((z / cols) * 1e6) / 1e6),
                metricBefore: t ? t[0] : null,
                metricAfter: t ? t[4] : null,
                lr: t ? t[2] : null,
                iteration: t ? t[3] : null,
                alpha: alphas ? alphas[blk][i] : null,
                seconds: r.seconds / (count * r.blocks[k].linears.length),
              };
              layers.push(layer);
              emit({ type: 'layer', block: blk, layer });
            }
            // One run does statistics, pruning and propagation together: its time, shared by its blocks.
            const report = blockReport(blk, targets[blk], layers, { statistics: 0, prune: r.seconds / count, propagate: 0 }, ratios, alphas);
            blocks.push(report);
            if (k < count - 1) emit({ type: 'block_end', block: blk, blocks: cfg.layers, report });
          }
          unattributed.push({ run: r.run, at: blocks.length - count, count });
          attribute();
          b += count;
          if (r.h) input = { h: r.h };
          // Checkpoint for --resume: always for small activations, else at most once a minute.
          const next = r.h ? [r.h] : null;
          const actBytes = r.h ? r.h.byteLength : 0;
          await timed('write', () => {
            writer.sync();
            if (actBytes <= 256 * 2 ** 20 || performance.now() - lastSave > 60_000 || !next) {
              // Every block of the run (and of runs whose checkpoint was skipped), not only the last.
              checkpoint(b, blocks, next);
              lastSave = performance.now();
            }
          });
          emit({ type: 'block_end', block: b - 1, blocks: cfg.layers, report: blocks[blocks.length - 1] });
          const gb = (n: number): string => (n / 1e9).toFixed(2);
          emit({ type: 'log', level: 'info', message: `Blocks ${b - count}–${b - 1}: weights read in ${r.readSeconds.toFixed(2)} s, session ${r.sessionSeconds.toFixed(2)} s, device run ${r.seconds.toFixed(2)} s (${gb(r.bytesIn)} GB in, ${gb(r.bytesOut)} GB out)${r.applySeconds > 0 ? `, pruned weights zeroed from the device's keep bits in ${r.applySeconds.toFixed(2)} s` : ''}.` });
        }
      } finally {
        await fp_.release();
      }
      attribute();
    } else {
      for (let b = start; b < cfg.layers; b++) {
        ctl.check();
        const tBlock = performance.now();
        const T_ = targets[b];
        emit({ type: 'block_start', block: b, blocks: cfg.layers, target: T_ });
        const { f32: w, raw } = ckpt.readBlock(b, true);
        const s0 = performance.now();
        const stats = (await runner.runBlock(w, acts, { stats: true, propagate: false })).stats!;
        if ([...stats.sumsq.values()].some((s) => s.some((v) => !Number.isFinite(v)))) throw nonFiniteActivations(ckpt, b);
        const statSeconds = (performance.now() - s0) / 1000;
        sec.statistics += statSeconds;
        const layers: LayerReport[] = [];
        let group: InputGroup | null = null;
        let lastStats = stats;
        const p0 = performance.now();
        for (let i = 0; i < ckpt.layout.linears.length; i++) {
          ctl.check();
          const tLayer = performance.now();
          const name = ckpt.layout.linears[i];
          const g = ckpt.layout.linearInput[i];
          if (o.inputRecalc && o.trim && g !== group && group !== null) {
            // Refresh X with the earlier linears of this block already pruned (scores stay).
            const t = performance.now();
            lastStats = (await runner.runBlock(w, acts, { stats: true, propagate: false })).stats!;
            sec.statistics += (performance.now() - t) / 1000;
          }
          group = g;
          const [rows, cols] = summary.linearShapes[i];
          const W = w.get(`${name}.weight`)!;
          const score = scoreMatrix(W, rows, cols, o.score, norm2(stats, g, o.nsamples));
          let mask: Uint8Array;
          let search: Awaited<ReturnType<typeof trimSearch>> | null = null;
          let metricAfter: number | null = null;
          if (o.nm) {
            const { n, m } = parseNM(o.nm);
            mask = nmMask(score, rows, cols, n, m);
          } else {
            const rank = rowRanks(score, rows, cols);
            if (o.trim) {
              const t = performance.now();
              const X = lastStats.last.get(g)!;
              const session = await engine.session(buildTrimEvalGraph({ W, rank, X, rows, cols, samples: X.length / cols }, o.layerMetric, o.rowMetric));
              try {
                const evaluate = async (s: Float32Array) => {
                  const r = await session.run({ s: f32(s, [rows]) });
                  return { q: r.q.data as Float64Array, Q: Number((r.Q.data as Float64Array)[0]) };
                };
                search = await trimSearch(T_, rows, evaluate, { iterations: o.iterations, forbidNegLr: o.forbidNegLr });
                metricAfter = (await evaluate(search.s)).Q;
              } finally {
                await session.release();
              }
              sec.trim += (performance.now() - t) / 1000;
              mask = maskFromRanks(rank, rows, cols, prunedCounts(search.s, cols));
            } else {
              mask = maskFromRanks(rank, rows, cols, uniformCounts(rows, cols, T_));
            }
          }
          const rowSparsity = applyMask(W, raw.get(name)!.bytes, mask, rows, cols, raw.get(name)!.info.dtype);
          let layerZeros = 0;
          for (const v of rowSparsity) layerZeros += v * cols;
          layerZeros = Math.round(layerZeros);
          zeros += layerZeros;
          weights += rows * cols;
          const layer: LayerReport = {
            name: name.split('.').pop()!,
            rows, cols, target: T_,
            achieved: zeroFraction(layerZeros, rows * cols),
            rowSparsity: Array.from(rowSparsity, (v) => Math.round(v * 1e6) / 1e6),
            metricBefore: search ? search.before : null,
            metricAfter,
            lr: search ? search.lr : null,
            iteration: search ? search.iteration : null,
            alpha: alphas ? alphas[b][i] : null,
            seconds: (performance.now() - tLayer) / 1000,
          };
          layers.push(layer);
          emit({ type: 'layer', block: b, layer });
        }
        sec.prune += (performance.now() - p0) / 1000;
        await timed('write', () => {
          for (const { info, bytes } of raw.values()) writer.writeTensor(info, bytes);
        });
        const q0 = performance.now();
        acts = (await runner.runBlock(w, acts, { stats: false, propagate: true })).out!;
        if (acts.some((a) => firstNonFinite(a) >= 0)) throw nonFiniteActivations(ckpt, b);
        const propSeconds = (performance.now() - q0) / 1000;
        sec.propagate += propSeconds;
        const report = blockReport(b, T_, layers, { statistics: statSeconds, prune: (performance.now() - tBlock) / 1000 - statSeconds - propSeconds, propagate: propSeconds }, ratios, alphas);
        blocks.push(report);
        // The block's pruned weights reach the disk before the checkpoint that says they are there.
        await timed('write', () => {
          writer.sync();
          checkpoint(b + 1, report, b + 1 < cfg.layers ? acts : null);
        });
        emit({ type: 'block_end', block: b, blocks: cfg.layers, report });
      }
    }
    acts = [];
    writer.flush();
    await runner.release();

    // Evaluate exactly what was written.
    let pruned: EvalResult | null = null;
    if (evalIds) {
      emit({ type: 'phase', phase: 'eval', message: `Evaluating the pruned model (${windowCount(evalIds.length, seqlen, o.maxEvalWindows)} windows × ${seqlen} tokens)` });
      const written = Checkpoint.open(writer.partial);
      const r2 = new Runner(written, engine, seqlen, batch);
      try {
        pruned = await timed('eval', () => evaluatePerplexity(written, r2, evalIds, o.maxEvalWindows, (d, t) => emit({ type: 'progress', phase: 'eval', done: d, total: t }), ctl.check));
      } finally {
        await r2.release();
      }
      emit({ type: 'eval', which: 'pruned', result: pruned });
    }
    if (o.saveMasks) {
      emit({ type: 'phase', phase: 'write', message: 'Writing the keep masks (bit-packed)' });
      await timed('write', () => writeMasks(Checkpoint.open(writer.partial), writer.partial));
    }
    ctl.check();
    sec.total = resumedSeconds + (performance.now() - tAll) / 1000;
    const sparsity = zeroFraction(zeros, weights);
    const report: TrimReport = {
      format: REPORT_FORMAT,
      createdAt: new Date().toISOString(),
      versions: { trim: TRIM_VERSION, onnxruntime: ORT_VERSION, node: process.version },
      ep: engine.ep,
      model: summary,
      options: { ...ro, seqlen, batch },
      device: engine.why,
      sparsity,
      perplexity: { dense, pruned },
      blocks,
      seconds: sec,
      out: writer.out,
      ...(baseline ? { baseline } : {}),
    };
    writer.writeFile('trim-report.json', formatReportJson(report));
    ctl.onStopNow?.(null);
    store.remove();
    try {
      writer.commit();
    } catch (e) {
      // The checkpoint was superseded by the whole result: a resumed run keeps that instead.
      if (!o.resume || !isTrimError(e)) throw e;
      writer.keep();
      throw new TrimError(e.code, `${e.message.replace(/[;,]? ?the partial output was removed\.?$/, '.').replace(/\.?$/, '.')} Nothing was lost: the pruned checkpoint is complete in ${writer.partial}; move it to ${writer.out} yourself, or run again once this is fixed.`);
    }
    const result: PruneSummary = {
      type: 'summary',
      perplexity: pruned ? pruned.perplexity : null,
      dense_perplexity: dense ? dense.perplexity : null,
      sparsity,
      seconds: sec,
      ep: engine.ep,
      precision,
      device: engine.why,
      out: writer.out,
      report: `${writer.out}/trim-report.json`,
      ...(baseline ? { baseline_perplexity: baseline.perplexity?.perplexity ?? null } : {}),
    };
    emit({ type: 'done', summary: result });
    return result;
  } catch (e) {
    ctl.onStopNow?.(null);
    // A --resume run that stops, for any reason, leaves its last good checkpoint as it was (state.json
    // names only complete files; a block in progress is pruned again from the source). Anything
    // else leaves nothing behind.
    if (o.resume && store.exists()) {
      writer.keep();
      const kept = `the finished blocks are kept in ${writer.partial}. Run again with --resume to continue`;
      if (isTrimError(e) && e.code === 'E_CANCELLED') throw new TrimError('E_CANCELLED', `Cancelled; ${kept}.`);
      const te = isTrimError(e) ? e : systemError(e) ? ioError('continuing the interrupted run', e) : null;
      if (te) throw new TrimError(te.code, `${te.message.replace(/[;,]? ?the partial output was removed\.?$/, '.').replace(/\.?$/, '.')} Nothing was lost: ${kept} once this is fixed.`);
      throw e;
    }
    writer.abort();
    throw e;
  } finally {
    await runner.release();
  }
}

/** An error of the system (errno code and system call: a full disk, a name too long), not a bug. */
export function systemError(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException;
  return typeof x?.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) && typeof x.syscall === 'string';
}

/** A block's report from its layers' (achieved sparsity counted over all its weights). */
function blockReport(index: number, target: number, layers: LayerReport[], seconds: BlockReport['seconds'], ratios: number[] | null, alphas: number[][] | null): BlockReport {
  const blockZeros = layers.reduce((a, l) => a + Math.round(l.achieved * l.rows * l.cols), 0);
  const blockWeights = layers.reduce((a, l) => a + l.rows * l.cols, 0);
  return {
    index, target, achieved: zeroFraction(blockZeros, blockWeights),
    outlierRatio: ratios ? ratios[index] : null,
    alpha: alphas ? blockMeanAlpha(alphas[index]) : null,
    seconds,
    layers,
  };
}

/** Wanda's norm2: the mean over windows of each channel's sum of squares. */
function norm2(stats: BlockStats, g: InputGroup, nsamples: number): Float64Array {
  const s = stats.sumsq.get(g)!;
  const out = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s[i] / nsamples;
  return out;
}

/**
 * Zeroes the masked weights in the float32 copy (for propagation) and in the stored bytes (for
 * the output: zero is all-zero bits in float16, bfloat16 and float32). Returns each row's
 * fraction of zeros.
 */
function applyMask(W: Float32Array, bytes: Buffer, mask: Uint8Array, rows: number, cols: number, dtype: string): Float64Array {
  const width = dtype === 'F32' ? 4 : 2;
  const rowSparsity = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const i = o + c;
      if (mask[i]) {
        W[i] = 0;
        bytes.fill(0, i * width, i * width + width);
      }
      if (W[i] === 0) z++;
    }
    rowSparsity[r] = z / cols;
  }
  return rowSparsity;
}

export const _forTests = { applyMask, norm2 };
export const hostInfo = (): string => `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}`;
