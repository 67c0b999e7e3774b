/**
 * Turns a job's event stream into a fraction done and a one-line message for the progress
 * notification and the Runs view. No `vscode` import.
 *
 * Phases get fixed shares of the bar; inside `blocks` the share grows with finished linears
 * (block b of B, linear l of L), inside other phases with their `progress` events. Every phase
 * that reports units (blocks pruned, evaluation steps, allocation blocks) says how many are done
 * of how many, and, once one is done, about how long the rest will take at the rate so far:
 * "Evaluating the dense model (310 windows × 512 tokens) · 12/26 steps · ~40 s left".
 */
import { formatEta, type Phase, type TrimEvent } from '../contract';

export { formatEta };

const SHARES: Record<Phase, number> = {
  load: 0.02,
  calibration: 0.03,
  dense_eval: 0.1,
  allocation: 0.05,
  embed: 0.02,
  blocks: 0.6,
  write: 0.05,
  eval: 0.13,
};
const ORDER: Phase[] = ['load', 'calibration', 'dense_eval', 'allocation', 'embed', 'blocks', 'write', 'eval'];
/** What a phase's `progress` units are. */
const UNITS: Partial<Record<Phase, string>> = { dense_eval: 'steps', eval: 'steps', allocation: 'blocks', blocks: 'blocks' };

export interface ProgressState {
  /** 0..1, never decreasing. */
  fraction: number;
  message: string;
}

export class ProgressTracker {
  private phase: Phase | null = null;
  private within = 0;
  private message = 'starting the worker…';
  private fraction = 0;
  private linears = 7;
  /** The current phase's own message ("Evaluating the dense model …"), and its units so far. */
  private phaseMessage = '';
  private units: { done: number; total: number; firstAt: number; firstDone: number } | null = null;

  /** `now`: milliseconds (a clock of the test's own in tests). */
  constructor(private readonly now: () => number = () => Date.now()) {}

  /** "12/26 steps · ~40 s left": units done of all, and the time left at the rate since the phase's first unit. */
  private unitText(done: number, total: number, unit: string): string {
    const t = this.now();
    if (!this.units || done < this.units.done) this.units = { done, total, firstAt: t, firstDone: done };
    this.units.done = done;
    this.units.total = total;
    const u = this.units;
    const rate = (u.done - u.firstDone) / Math.max(1e-3, (t - u.firstAt) / 1000);
    const eta = u.done > u.firstDone && u.done < total ? formatEta((total - u.done) / rate) : '';
    return `${done}/${total} ${unit}${eta ? ` · ${eta}` : ''}`;
  }

  /** Folds one event in; returns the new state. */
  update(e: TrimEvent): ProgressState {
    switch (e.type) {
      case 'start':
        this.linears = Math.max(1, e.model.linears.length);
        this.blocks = e.model.blocks;
        this.message = `${e.model.architecture} · ${e.model.blocks} blocks · ${e.ep.toUpperCase()}`;
        break;
      case 'phase':
        this.enter(e.phase);
        this.phaseMessage = e.message;
        this.message = e.message;
        break;
      case 'progress':
        this.enter(e.phase);
        if (e.total > 0) {
          this.within = Math.min(1, e.done / e.total);
          this.message = `${this.phaseMessage || e.phase} · ${this.unitText(e.done, e.total, UNITS[e.phase] ?? 'done')}`;
        }
        break;
      case 'block_start': {
        this.enter('blocks');
        this.blocks = e.blocks;
        this.started.add(e.block);
        this.within = Math.max(this.within, e.block / e.blocks);
        // Blocks done so far drive the estimate; the first start begins its clock.
        this.message = `Pruning · block ${e.block + 1}/${e.blocks} · ${this.blockEta(e.block, e.blocks)}`.replace(/ · $/, '');
        break;
      }
      case 'layer': {
        this.enter('blocks');
        const blocks = this.blocks ?? e.block + 1;
        const within = (e.block + Math.min(1, this.layerCount(e.block) / this.linears)) / blocks;
        this.within = Math.max(this.within, within);
        this.message = `Pruning · block ${e.block + 1}/${blocks} · ${e.layer.name} · ${this.blockEta(this.blocksDone, blocks)}`.replace(
          / · $/,
          '',
        );
        break;
      }
      case 'block_end':
        this.enter('blocks');
        this.blocks = e.blocks;
        this.within = (e.block + 1) / e.blocks;
        this.blocksDone = e.block + 1;
        if (!this.started.has(e.block)) {
          // A block finished before this job started (--resume replays them): not part of the rate.
          this.units = null;
          this.message = `Pruning · block ${e.block + 1}/${e.blocks} done`;
        } else
          this.message = `Pruning · block ${e.block + 1}/${e.blocks} done · ${this.blockEta(e.block + 1, e.blocks)}`.replace(/ · $/, '');
        break;
      case 'eval':
        this.message = `perplexity ${e.which}: ${e.result.perplexity.toFixed(2)}`;
        break;
      case 'done':
        this.phase = null;
        this.fraction = 1;
        this.message = 'done';
        return { fraction: 1, message: this.message };
      case 'error':
        this.message = e.error.message;
        break;
      default:
        break;
    }
    this.fraction = Math.max(this.fraction, this.base() + (this.phase ? SHARES[this.phase] * this.within : 0));
    return { fraction: this.fraction, message: this.message };
  }

  get state(): ProgressState {
    return { fraction: this.fraction, message: this.message };
  }

  private blocks: number | null = null;
  private blocksDone = 0;
  private readonly started = new Set<number>();
  private layersSeen = new Map<number, number>();

  /** The time left for the blocks, at the rate since the first block started (resumed blocks excluded). */
  private blockEta(done: number, total: number): string {
    const t = this.now();
    if (!this.units || this.units.total !== total || done < this.units.firstDone) this.units = { done, total, firstAt: t, firstDone: done };
    this.units.done = Math.max(this.units.done, done);
    const u = this.units;
    if (u.done <= u.firstDone || u.done >= total) return '';
    return formatEta(((total - u.done) * ((t - u.firstAt) / 1000)) / (u.done - u.firstDone));
  }

  private layerCount(block: number): number {
    const n = (this.layersSeen.get(block) ?? 0) + 1;
    this.layersSeen.set(block, n);
    return n;
  }

  private enter(phase: Phase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.within = 0;
    this.units = null;
    this.phaseMessage = '';
  }

  /** Shares of the phases before the current one. */
  private base(): number {
    if (!this.phase) return this.fraction;
    let sum = 0;
    for (const p of ORDER) {
      if (p === this.phase) break;
      sum += SHARES[p];
    }
    return sum;
  }
}

export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
