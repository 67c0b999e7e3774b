/**
 * Turns a job's event stream into a fraction done and a one-line message for the progress
 * notification and the Runs view. No `vscode` import.
 *
 * Phases get fixed shares of the bar; inside `blocks` the share grows with finished linears
 * (block b of B, linear l of L), inside other phases with their `progress` events.
 */
import type { Phase, TrimEvent } from '../contract';

const SHARES: Record<Phase, number> = {
  load: 0.02, calibration: 0.03, dense_eval: 0.1, allocation: 0.05, embed: 0.02, blocks: 0.6, write: 0.05, eval: 0.13,
};
const ORDER: Phase[] = ['load', 'calibration', 'dense_eval', 'allocation', 'embed', 'blocks', 'write', 'eval'];

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
        this.message = e.message;
        break;
      case 'progress':
        this.enter(e.phase);
        if (e.total > 0) this.within = Math.min(1, e.done / e.total);
        break;
      case 'block_start':
        this.enter('blocks');
        this.blocks = e.blocks;
        this.within = Math.max(this.within, e.block / e.blocks);
        this.message = `block ${e.block + 1}/${e.blocks} · target ${pct(e.target)}`;
        break;
      case 'layer': {
        this.enter('blocks');
        const blocks = this.blocks ?? e.block + 1;
        const within = (e.block + Math.min(1, this.layerCount(e.block) / this.linears)) / blocks;
        this.within = Math.max(this.within, within);
        this.message = `block ${e.block + 1}/${blocks} · ${e.layer.name} ${pct(e.layer.achieved)}`;
        break;
      }
      case 'block_end':
        this.enter('blocks');
        this.blocks = e.blocks;
        this.within = (e.block + 1) / e.blocks;
        this.message = `block ${e.block + 1}/${e.blocks} done · ${pct(e.report.achieved)}`;
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
  private layersSeen = new Map<number, number>();

  private layerCount(block: number): number {
    const n = (this.layersSeen.get(block) ?? 0) + 1;
    this.layersSeen.set(block, n);
    return n;
  }

  private enter(phase: Phase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.within = 0;
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
