/**
 * Phase times of the fused pruning graph (prune/fused/fusedGraph.ts), where statistics, the TRIM search and
 * propagation run inside one `session.run`: read from ONNX Runtime's per-node profile of the
 * run's session. The graph's node names carry their (sub)graph's name ("stats_12/Gemm_40"), and a
 * control node's time includes its body's, so each block of a run is split as:
 *
 *   statistics   the block body's Loop over chunks whose body is `stats`
 *   propagation  the block body's Loop over chunks whose body is `propagate`
 *   pruning      every other node of the block body (scores, ranks, the TRIM search, masks),
 *                plus the run's own nodes outside the block Loop (embedding, stacking), on block 0
 *   TRIM search  of that, the Loops over the learning rates (`sweep`)
 *
 * What is left of the run (the Loops' own machinery, copying inputs and outputs) is in no phase
 * of the profile; the reported seconds are the run's time measured around `session.run`, split in
 * the proportions of its nodes' times (splitRun), so the three phases add up to the run.
 * On the CPU every node's time is its work; on CUDA kernels are launched asynchronously, so a
 * node's time is its launch unless CUDA_LAUNCH_BLOCKING=1.
 *
 * Profiling costs time: ORT records every node it runs (the TRIM search runs tens of thousands of
 * small ones) and the profile is read afterwards. Measured on the 2-core CPU box, demo TRIM 70%,
 * 32 × 512, four interleaved pairs: statistics + pruning + propagation 9.9 → 11.2 s, the whole
 * job 10.7 → 13.2 s. So by default (phaseMode 'sampled', CPU) only the first two runs of each
 * session are profiled (the first run of a session carries its warm-up, mostly in the first Loop:
 * 2.0 s against 0.8 s for the demo's later runs, so it is profiled itself; the second gives the
 * shares of the session's later runs); TRIM_PHASES=1 profiles every run, TRIM_PHASES=0 none.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pidAlive } from '../processes';

export interface PhaseSplit {
  statistics: number;
  /** Scores, ranks, TRIM search and masks (and, for a whole run, its embedding and stacking). */
  prune: number;
  /** The TRIM search alone (part of prune). */
  trim: number;
  propagate: number;
}

export interface RunPhases extends PhaseSplit {
  /** The run as ONNX Runtime timed it (model_run). */
  seconds: number;
  /** The run's own nodes outside the block Loop (embedding, stacking): counted in blocks[0].prune. */
  outer: number;
  /** One per block of the run, in order. */
  blocks: PhaseSplit[];
}

/**
 * How the fused path attributes its runs' time to phases: 'profiled' profiles every run
 * (TRIM_PHASES=1); 'sampled' the first two runs of each session, whose shares split the session's
 * later runs (the default on the CPU); 'unsplit' none (TRIM_PHASES=0, and CUDA by default, where
 * node times are kernel launches).
 */
export type PhaseMode = 'profiled' | 'sampled' | 'unsplit';

export function phaseMode(ep: 'cpu' | 'cuda'): PhaseMode {
  const v = process.env.TRIM_PHASES;
  if (v === '1') return 'profiled';
  if (v === '0' || ep === 'cuda') return 'unsplit';
  return 'sampled';
}

/** Splits a run's measured time into its blocks' phases in the proportions of its own profile. */
export function splitRun(seconds: number, own: RunPhases): PhaseSplit[] | null {
  const total = own.blocks.reduce((a, b) => a + b.statistics + b.prune + b.propagate, 0);
  if (!(total > 0) || !(seconds >= 0)) return null;
  const f = seconds / total;
  return own.blocks.map((b) => ({ statistics: b.statistics * f, prune: b.prune * f, trim: b.trim * f, propagate: b.propagate * f }));
}

/**
 * Splits the measured time of a run of `count` blocks in the proportions of another run's profile
 * (`sample`, of the same session: the same graph), shared equally by its blocks. The sample's
 * own nodes outside the block Loop (an embedding) are left out of its proportions.
 */
export function splitByShares(seconds: number, count: number, sample: RunPhases): PhaseSplit[] | null {
  const s = sample.blocks.reduce(
    (a, b) => ({
      statistics: a.statistics + b.statistics,
      prune: a.prune + b.prune,
      trim: a.trim + b.trim,
      propagate: a.propagate + b.propagate,
    }),
    { statistics: 0, prune: 0, trim: 0, propagate: 0 },
  );
  s.prune -= sample.outer;
  const total = s.statistics + s.prune + s.propagate;
  if (!(total > 0) || !(seconds >= 0) || count < 1 || s.prune < 0) return null;
  const f = seconds / count / total;
  return Array.from({ length: count }, () => ({
    statistics: s.statistics * f,
    prune: s.prune * f,
    trim: s.trim * f,
    propagate: s.propagate * f,
  }));
}

interface Ev {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  /** Graph of a node event, without its counter ("block", "stats", …); '' for session events. */
  graph: string;
  op: string;
}

// ORT 1.29 writes `{"cat" : "Node","pid" :1,"tid" :1,"dur" :15,"ts" :10,"ph" : "X","name" :"…","args" : {…}}`.
const LINE = /\{"cat" : "(\w+)","pid" :\d+,"tid" :\d+,"dur" :(\d+),"ts" :(\d+),"ph" : "X","name" :"([^"]*)"/y;

/** The events of an ONNX Runtime profile (one JSON object per line), without their args. */
export function profileEvents(text: string): Ev[] {
  const out: Ev[] = [];
  let at = 0;
  while (at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    // Only the head of a line is read: the args that follow can be long.
    LINE.lastIndex = at;
    const m = LINE.exec(text);
    at = end + 1;
    if (!m) continue;
    const [, cat, dur, ts, name] = m;
    let graph = '';
    let op = '';
    if (cat === 'Node' && name.endsWith('_kernel_time')) {
      // "<graph>_<n>/<Op>_<n>", and "…/<Fusion>" after a node that ORT fused; the outputs'
      // Identity nodes ("out_<n>") carry no graph and take microseconds.
      const parts = name.slice(0, -'_kernel_time'.length).split('/');
      if (parts.length > 1) {
        graph = parts[0].replace(/_\d+$/, '');
        op = parts[1].replace(/_\d+$/, '');
      }
    } else if (cat === 'Node') continue;
    out.push({ cat, name, ts: Number(ts), dur: Number(dur), graph, op });
  }
  return out;
}

const SEARCH = new Set(['sweep', 'lr_run', 'step', 'lr_skip']);

/** Splits every run of a fused session's profile into its phases (seconds). */
export function attributeRuns(events: Ev[]): RunPhases[] {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const nodes = events.filter((e) => e.cat === 'Node').sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const s = (us: number): number => us / 1e6;
  let first = 0;
  return runs.map((run) => {
    const end = run.ts + run.dur;
    while (first < nodes.length && nodes[first].ts < run.ts) first++;
    let last = first;
    while (last < nodes.length && nodes[last].ts <= end) last++;
    const inRun = nodes.slice(first, last).filter((n) => n.ts + n.dur <= end);
    /** The graph of the first node that starts inside a control node: its body. */
    const bodyOf = (c: Ev, at: number): string => {
      for (let i = at + 1; i < inRun.length && inRun[i].ts < c.ts + c.dur; i++) {
        if (inRun[i].graph !== 'block' && inRun[i].graph !== '') return inRun[i].graph;
      }
      return '';
    };
    // A block starts at its statistics Loop (the nodes before it, its weights' slicing, and
    // after its propagation, its outputs, take microseconds: they go with the block before).
    const blocks: PhaseSplit[] = [];
    const fresh = (): PhaseSplit => {
      const b = { statistics: 0, prune: 0, trim: 0, propagate: 0 };
      blocks.push(b);
      return b;
    };
    let outer = 0;
    for (let i = 0; i < inRun.length; i++) {
      const n = inRun[i];
      if (n.graph === 'trim_fused') {
        // The run's own nodes; its block Loop contains everything else.
        if (n.op !== 'Loop') outer += n.dur;
        continue;
      }
      if (n.graph !== 'block') continue; // inside a body: counted with its control node
      let cur = blocks[blocks.length - 1] ?? fresh();
      if (n.op === 'Loop' || n.op === 'If') {
        const body = bodyOf(n, i);
        if (body === 'stats') {
          if (cur.statistics > 0 || cur.propagate > 0) cur = fresh();
          cur.statistics += n.dur;
          continue;
        }
        if (body === 'propagate') {
          cur.propagate += n.dur;
          continue;
        }
        if (SEARCH.has(body)) cur.trim += n.dur;
      }
      cur.prune += n.dur;
    }
    if (blocks.length) blocks[0].prune += outer;
    const total = blocks.reduce(
      (a, b) => ({
        statistics: a.statistics + b.statistics,
        prune: a.prune + b.prune,
        trim: a.trim + b.trim,
        propagate: a.propagate + b.propagate,
      }),
      { statistics: 0, prune: 0, trim: 0, propagate: 0 },
    );
    const sec = (p: PhaseSplit): PhaseSplit => ({
      statistics: s(p.statistics),
      prune: s(p.prune),
      trim: s(p.trim),
      propagate: s(p.propagate),
    });
    return { ...sec(total), seconds: s(run.dur), outer: blocks.length ? s(outer) : 0, blocks: blocks.map(sec) };
  });
}

const TMP_PREFIX = 'trim-phases-';
/** Folders of this process's profiles not read yet: removed when the process exits. */
const live = new Set<string>();
let hooked = false;

/**
 * Once per process: profiles are removed at exit (ORT also writes a session's profile when it is
 * destroyed without having ended it), and those of processes that were killed are swept.
 */
function housekeeping(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const d of live) fs.rmSync(d, { recursive: true, force: true });
  });
  try {
    for (const f of fs.readdirSync(os.tmpdir())) {
      const m = new RegExp(`^${TMP_PREFIX}(\\d+)-`).exec(f);
      if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1])))
        fs.rmSync(path.join(os.tmpdir(), f), { recursive: true, force: true });
    }
  } catch {
    // Housekeeping only.
  }
}

/**
 * A profile of one session: ONNX Runtime writes it into a folder of its own
 * (`<tmp>/trim-phases-<pid>-…`) when the session's profiling ends. With TRIM_ORT_PROFILE=PREFIX
 * set, a copy is kept as PREFIX_<date>.json.
 */
export class SessionProfile {
  readonly dir: string;

  constructor() {
    housekeeping();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${process.pid}-`));
    live.add(this.dir);
  }

  get prefix(): string {
    return path.join(this.dir, 'p');
  }

  /** Reads the profile written when the session's profiling ended, then removes it. */
  read(): RunPhases[] {
    try {
      const files = fs.readdirSync(this.dir).filter((f) => f.endsWith('.json'));
      const runs: RunPhases[] = [];
      for (const f of files) {
        const file = path.join(this.dir, f);
        const keep = process.env.TRIM_ORT_PROFILE;
        if (keep) fs.copyFileSync(file, `${keep}${f.slice(1)}`);
        runs.push(...attributeRuns(profileEvents(fs.readFileSync(file, 'utf8'))));
      }
      return runs;
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    live.delete(this.dir);
  }
}
