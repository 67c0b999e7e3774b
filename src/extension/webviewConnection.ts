/**
 * One webview's connection to the host: the runs its slots show and the messages both ways
 * (src/webviewProtocol.ts), and what the webviews ask the host to do. No runtime `vscode` import:
 * the webview is reached through the few members of `vscode.Webview` it uses, so the routing
 * (a sidebar cell's `reveal` → the panel's `focus`, messages held until the script is ready) is
 * tested without an editor (test/unit/webviewConnection.test.ts). webviews.ts hosts it.
 */
import type { TrimEvent } from '../contract';
import {
  parseFromWebview,
  type FromWebview,
  type RunListItem,
  type RunOverrides,
  type RunSnapshot,
  type Slot,
  type ToWebview,
  type WebviewKind,
} from '../webviewProtocol';
import type { RunRecord } from './runStore';

/** The part of `vscode.Webview` a connection uses. */
export interface WebviewPort {
  postMessage(message: ToWebview): PromiseLike<boolean>;
  onDidReceiveMessage(listener: (message: unknown) => unknown): { dispose(): unknown };
}

/** What a connection reads of the host: the run list and snapshots, and whether a job is queued or running. */
export interface ConnectionSources {
  snapshots: { list(): RunListItem[]; get(id: string): Promise<RunSnapshot | null> };
  jobs: { readonly busy: boolean };
}

/** Where a run is opened: a block and, when given, one of its linears. */
export interface RevealTarget {
  block: number;
  layer: string | null;
}

export interface WebviewActions {
  runAgain(runId: string, overrides: RunOverrides): Promise<void>;
  /** A sidebar cell: open the results panel on run `runId` at this block and linear. */
  reveal(runId: string, block: number, layer: string | null): Promise<void>;
  cancel(runId: string): Promise<void>;
  /** The panel now shows `runId` as its primary run (the sidebar follows it). */
  shown?(runId: string): void;
  /** Save CSV text or a PNG data URL under a name the user picks (a save dialog). */
  export?(m: Extract<FromWebview, { type: 'export' }>): Promise<void>;
  /** Open a section of the README. */
  help?(section: string): Promise<void>;
}

export interface LogLike {
  warn(message: string): void;
  error(message: string): void;
}

/** One webview's connection: its slots and the messages in both directions. */
export class Connection {
  readonly slots: Record<Slot, string | null> = { primary: null, compare: null };
  private ready = false;
  private readonly subs: Array<{ dispose(): unknown }> = [];
  private pendingFocus: Extract<ToWebview, { type: 'focus' }> | null = null;

  constructor(
    private readonly webview: WebviewPort,
    readonly kind: WebviewKind,
    private readonly sources: ConnectionSources,
    private readonly actions: WebviewActions,
    private readonly log: LogLike,
  ) {
    this.subs.push(webview.onDidReceiveMessage((m) => this.receive(m)));
  }

  /**
   * Panel: shows `runId` as the primary run, `compareWith` beside it, and lands on `at` (a block
   * and linear). Before the webview's script is ready, all of it waits for its `ready`.
   */
  async open(runId: string, at?: RevealTarget, compareWith?: string): Promise<void> {
    await this.show('primary', runId);
    if (compareWith && compareWith !== runId) await this.show('compare', compareWith);
    if (at) await this.focus(runId, at.block, at.layer);
  }

  /**
   * Shows a run in a slot (null clears it). A run is never compared with itself: opening the
   * compared run as the primary one swaps the two; comparing the primary run clears the slot.
   */
  async show(slot: Slot, runId: string | null): Promise<void> {
    const previous = this.slots.primary;
    if (slot === 'compare' && runId !== null && runId === this.slots.primary) runId = null;
    this.slots[slot] = runId;
    if (slot === 'primary' && runId !== null && this.slots.compare === runId) {
      this.slots.compare = previous !== runId ? previous : null;
      if (this.ready) await this.sendSlot('compare');
    }
    if (this.ready) await this.sendSlot(slot);
    if (slot === 'primary' && runId !== null && this.kind === 'panel') this.actions.shown?.(runId);
  }

  /**
   * The webview was hidden, and with it its script discarded (neither webview retains its context
   * when hidden): what is sent now would be lost, so everything waits for the next `ready`, which
   * the new script sends when the webview is shown again (a reveal's focus included).
   */
  hidden(): void {
    this.ready = false;
  }

  /** Panel: show block (and linear) of the primary run; sent once the script is ready. */
  async focus(runId: string, block: number, layer: string | null): Promise<void> {
    this.pendingFocus = { type: 'focus', runId, block, layer };
    if (this.ready) await this.flushFocus();
  }

  private async flushFocus(): Promise<void> {
    const f = this.pendingFocus;
    this.pendingFocus = null;
    if (f) await this.post(f);
  }

  shows(runId: string): boolean {
    return this.slots.primary === runId || this.slots.compare === runId;
  }

  event(runId: string, event: TrimEvent): void {
    if (this.ready && this.shows(runId)) void this.post({ type: 'event', runId, event });
  }

  /** The run list changed, or a run shown here finished (then its whole snapshot is re-sent). */
  async runsChanged(changedRunId?: string): Promise<void> {
    if (!this.ready) return;
    await this.post({ type: 'runs', runs: this.sources.snapshots.list(), busy: this.sources.jobs.busy });
    for (const slot of ['primary', 'compare'] as const) {
      if (changedRunId && this.slots[slot] === changedRunId) await this.sendSlot(slot);
    }
  }

  private async sendSlot(slot: Slot): Promise<void> {
    const id = this.slots[slot];
    const run = id ? await this.sources.snapshots.get(id) : null;
    await this.post({ type: 'run', slot, run });
  }

  private async receive(raw: unknown): Promise<void> {
    const m = parseFromWebview(raw);
    if (!m) {
      this.log.warn(`${this.kind} webview sent a message of unknown shape: ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    try {
      switch (m.type) {
        case 'ready':
          this.ready = true;
          await this.post({ type: 'runs', runs: this.sources.snapshots.list(), busy: this.sources.jobs.busy });
          await this.sendSlot('primary');
          if (this.kind === 'panel') await this.sendSlot('compare');
          await this.flushFocus();
          break;
        case 'runAgain':
          await this.actions.runAgain(m.runId, m.overrides);
          break;
        case 'compare':
          if (this.kind === 'panel') await this.show('compare', m.runId);
          break;
        case 'reveal':
          await this.actions.reveal(m.runId, m.block, m.layer);
          break;
        case 'cancel':
          await this.actions.cancel(m.runId);
          break;
        case 'export':
          await this.actions.export?.(m);
          break;
        case 'help':
          await this.actions.help?.(m.section);
          break;
      }
    } catch (e) {
      this.log.error(`handling ${m.type} from the ${this.kind} webview: ${(e as Error).stack ?? e}`);
    }
  }

  private post(m: ToWebview): PromiseLike<boolean> {
    return this.webview.postMessage(m);
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}

/** What the webviews ask for, in host terms. */
export function webviewActions(
  d: {
    store: { get(id: string): RunRecord | undefined };
    manager: { cancel(id: string): Promise<unknown> };
    launcher: { startFromRun(run: RunRecord, overrides: RunOverrides, source: string): Promise<RunRecord | null> };
    /** A warning for the user (a message box). */
    warn(message: string): void;
  },
  views: () => {
    panel: { open(runId: string, at?: RevealTarget, compareWith?: string): Promise<void> };
    sidebar: { select(runId: string): Promise<void> };
  },
): WebviewActions {
  return {
    runAgain: async (runId, overrides) => {
      const run = d.store.get(runId);
      if (!run) return void d.warn('TRIM: that run is no longer in the Runs list.');
      const next = await d.launcher.startFromRun(run, overrides, 'Run again');
      // The new run opens beside the one it came from, ready to compare.
      if (next) await views().panel.open(next.id, undefined, run.id);
    },
    // A sidebar cell: the panel opens on that run, at that block and linear.
    reveal: async (runId, block, layer) => {
      await views().panel.open(runId, { block, layer });
    },
    cancel: async (runId) => {
      await d.manager.cancel(runId);
    },
    shown: (runId) => {
      void views().sidebar.select(runId);
    },
  };
}
