/**
 * Phase times of the fused pruner's runs (phaseProfile.ts): which sessions are profiled, which of
 * their runs each profile covers, and each run's measured time split by its own profile or by the
 * shares of its session's sample.
 */
import type { Session } from '../../ort/engine';
import {
  phaseMode,
  SessionProfile,
  splitByShares,
  splitRun,
  type PhaseMode,
  type PhaseSplit,
  type RunPhases,
} from '../../ort/phaseProfile';

/** Phase times of a run's blocks: its measured time split by its own profile or by a sample's shares. */
export interface FusedRunPhases {
  source: 'profiled' | 'sampled';
  blocks: PhaseSplit[];
}

/** A session's profile: the runs it served while profiled, and the last of them, once read (the shares of its later runs). */
interface SessionPhases {
  profile: SessionProfile | null;
  runs: number[];
  shares: RunPhases | null;
}

export class FusedPhases {
  /** How runs are split into phases: every run profiled, a sample, or none. */
  readonly mode: PhaseMode;
  private readonly sessions = new Map<Session, SessionPhases>();
  /** Each run (by number): its measured time, its blocks, its own profile once read, its session's. */
  private readonly runs: { seconds: number; count: number; own: RunPhases | null; session: SessionPhases | null }[] = [];

  constructor(ep: 'cpu' | 'cuda') {
    this.mode = phaseMode(ep);
  }

  /** A profile for a session about to be created (null when none is taken); track() it once created, else dispose() it. */
  profile(): SessionProfile | null {
    return this.mode !== 'unsplit' ? new SessionProfile() : null;
  }

  track(s: Session, profile: SessionProfile): void {
    this.sessions.set(s, { profile, runs: [], shares: null });
  }

  /** Records a run of `count` blocks that `s` ran in `seconds`; returns its number (for of()). */
  ran(s: Session, seconds: number, count: number): number {
    const run = this.runs.length;
    const sp = this.sessions.get(s) ?? null;
    this.runs.push({ seconds, count, own: null, session: sp });
    if (sp?.profile) {
      sp.runs.push(run);
      // A sample: a session's first run (its warm-up) and its second (the shares of its later runs).
      if (this.mode === 'sampled' && sp.runs.length === 2) this.read(s, sp);
    }
    return run;
  }

  /**
   * Ends a session's profiling (ORT then profiles none of its later runs), reads the profile and
   * removes it: each run it covered gets its own split, and the last one's is the shares of the
   * session's later runs.
   */
  private read(s: Session, p: SessionPhases): void {
    const profile = p.profile;
    if (!profile) return;
    p.profile = null;
    let runs: RunPhases[] = [];
    try {
      s.endProfiling();
      runs = profile.read();
    } catch {
      // Phase times are a report, not a result: an unreadable profile leaves the runs unattributed.
      profile.dispose();
    }
    // One model_run per run of this session while profiled, in order; anything else leaves them unattributed.
    if (runs.length !== p.runs.length) return;
    p.runs.forEach((run, i) => (this.runs[run].own = runs[i]));
    p.shares = runs[runs.length - 1] ?? null;
  }

  /** Before a session is released: its profile, if still running, is written, read and removed. */
  end(s: Session): void {
    const p = this.sessions.get(s);
    if (p?.profile) this.read(s, p);
    else if (process.env.TRIM_ORT_PROFILE) s.endProfiling();
    this.sessions.delete(s);
  }

  /**
   * Phase times of the run numbered `run`: its time measured around session.run, split in the
   * proportions of its own profile ('profiled') or of its session's sample ('sampled'). Known once
   * that profile is read (at once for a session's runs after its second, else when the session
   * ends: at release() for one that serves several runs); null when not split.
   */
  of(run: number): FusedRunPhases | null {
    const r = this.runs[run];
    if (!r) return null;
    const own = r.own && r.own.blocks.length === r.count ? splitRun(r.seconds, r.own) : null;
    if (own) return { source: 'profiled', blocks: own };
    const shares = r.session?.shares ? splitByShares(r.seconds, r.count, r.session.shares) : null;
    return shares ? { source: 'sampled', blocks: shares } : null;
  }

  /** How many runs so far have been split by their own profile. */
  profiledRuns(): number {
    return this.runs.filter((r) => r.own).length;
  }

  dispose(): void {
    for (const p of this.sessions.values()) p.profile?.dispose();
    this.sessions.clear();
  }
}
