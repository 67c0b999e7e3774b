/**
 * The baseline of a TRIM run: the same job with TRIM off (plain Wanda or magnitude at each layer's
 * target, same allocation, calibration and evaluation protocol), so that a report can say what
 * TRIM bought over it. Pruned into a folder inside the TRIM job's partial folder that is removed
 * afterwards (only its report is kept, summarised), or reused from the cache: keyed by the model's and texts' files (paths,
 * sizes, modification times, as the dense perplexity) and every option that changes a result
 * without TRIM.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialDirFor, type BaselineReport, type PruneOptions, type TrimEvent, type TrimReport } from '../../contract';
import { Checkpoint } from '../model/checkpoint';
import { cacheDir, readJson, writeJson } from '../cacheFiles';

/** Options that only matter with TRIM on, or only for where and how the job runs. */
const IGNORED: (keyof PruneOptions)[] = [
  'model',
  'out',
  'overwrite',
  'resume',
  'trim',
  'iterations',
  'layerMetric',
  'rowMetric',
  'forbidNegLr',
  'inputRecalc',
  'batch',
  'gpuMemory',
  'blocksPerRun',
  'baseline',
  'saveMasks',
  'calib',
  'eval',
];

function stamp(file: string): string {
  const st = fs.statSync(file);
  return `${path.resolve(file)}:${st.size}:${st.mtimeMs}`;
}

export function baselineKey(o: PruneOptions): string {
  const ckpt = Checkpoint.open(o.model);
  const h = createHash('sha256');
  for (const f of ckpt.shardFiles) h.update(stamp(path.join(ckpt.dir, f)));
  h.update(stamp(path.join(ckpt.dir, 'tokenizer.json')));
  h.update(stamp(o.calib));
  h.update(o.eval ? stamp(o.eval) : 'no-eval');
  const rest = Object.fromEntries(
    Object.entries(o)
      .filter(([k]) => !(IGNORED as string[]).includes(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  h.update(`${JSON.stringify(rest)}:v1`);
  return h.digest('hex').slice(0, 32);
}

/** The part of a plain run's report a TRIM report carries. */
export function summarise(r: TrimReport, cached: boolean): BaselineReport {
  return {
    score: r.options.score,
    perplexity: r.perplexity.pruned,
    sparsity: r.sparsity,
    blocks: r.blocks.map((b) => ({
      index: b.index,
      target: b.target,
      achieved: b.achieved,
      layers: b.layers.map((l) => ({ name: l.name, achieved: l.achieved })),
    })),
    seconds: r.seconds.total,
    createdAt: r.createdAt,
    cached,
  };
}

function readCache(key: string): BaselineReport | null {
  const r = readJson<BaselineReport>(path.join(cacheDir(), `baseline-${key}.json`));
  return r && Array.isArray(r.blocks) && Number.isFinite(r.sparsity) ? { ...r, cached: true } : null;
}

function writeCache(key: string, r: BaselineReport): void {
  writeJson(path.join(cacheDir(), `baseline-${key}.json`), r);
}

type Prune = (o: PruneOptions, emit: (e: TrimEvent) => void) => Promise<unknown>;

/**
 * The baseline of `o` (a TRIM job): from the cache, or by running `prune` with TRIM off into a
 * folder inside the job's partial folder. Its events are told as phases and progress of the
 * TRIM job ("Baseline (TRIM off): …"), not as blocks of it. Cancelling cancels it (through
 * `prune`'s control), and its folder goes either way.
 */
export async function runBaseline(o: PruneOptions, emit: (e: TrimEvent) => void, prune: Prune): Promise<BaselineReport> {
  const key = baselineKey(o);
  const hit = readCache(key);
  if (hit) {
    emit({
      type: 'log',
      level: 'info',
      message: `Baseline (TRIM off, same protocol): reused from the cache (perplexity ${hit.perplexity?.perplexity.toFixed(2) ?? '—'}).`,
    });
    return hit;
  }
  // Inside the TRIM job's partial folder, which whoever kills the job (Cancel, a crash) removes:
  // a baseline interrupted by a killed worker leaves nothing behind either.
  const holder = partialDirFor(o.out);
  const existed = fs.existsSync(holder);
  const out = path.join(holder, 'baseline');
  try {
    emit({ type: 'phase', phase: 'blocks', message: 'Baseline: pruning with TRIM off (same score, allocation and protocol)' });
    await prune({ ...o, trim: false, baseline: false, saveMasks: false, resume: false, out, overwrite: true }, (e) => {
      if (e.type === 'phase') emit({ ...e, message: `Baseline: ${e.message}` });
      else if (e.type === 'progress' || e.type === 'log') emit(e);
    });
    const report = JSON.parse(fs.readFileSync(path.join(out, 'trim-report.json'), 'utf8')) as TrimReport;
    const b = summarise(report, false);
    writeCache(key, b);
    return b;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(partialDirFor(out), { recursive: true, force: true });
    if (!existed) fs.rmSync(holder, { recursive: true, force: true });
  }
}
