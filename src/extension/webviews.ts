/**
 * Hosts the two webviews: the results panel (a WebviewPanel, restored after a reload by a
 * serializer) and the sidebar visualization (a WebviewView). Both speak src/webviewProtocol.ts:
 * on `ready` they get the run list and their slots; live events of the runs they show are
 * forwarded as they arrive; what the user asks for comes back as FromWebview messages.
 */
import * as vscode from 'vscode';
import type { TrimEvent } from '../contract';
import {
  parseFromWebview, type FromWebview, type PersistedWebviewState, type Slot, type ToWebview, type WebviewKind,
} from '../webviewProtocol';
import type { JobManager } from './jobManager';
import type { RunSnapshots } from './runSnapshots';
import { buildWebviewHtml, makeNonce, webviewResourceRoots } from './webviewHtml';

export const PANEL_VIEW_TYPE = 'trim.results';
export const SIDEBAR_VIEW_ID = 'trim.layers';

export interface WebviewActions {
  runAgain(runId: string, overrides: Extract<FromWebview, { type: 'runAgain' }>['overrides']): Promise<void>;
  reveal(runId: string, block: number, layer: string | null): Promise<void>;
  cancel(runId: string): Promise<void>;
  /** The panel now shows `runId` as its primary run (the sidebar follows it). */
  shown?(runId: string): void;
}

/** One webview's connection: its slots and the messages in both directions. */
class Connection implements vscode.Disposable {
  readonly slots: Record<Slot, string | null> = { primary: null, compare: null };
  private ready = false;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly webview: vscode.Webview,
    readonly kind: WebviewKind,
    private readonly snapshots: RunSnapshots,
    private readonly jobs: JobManager,
    private readonly actions: WebviewActions,
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    webview.options = { enableScripts: true, localResourceRoots: webviewResourceRoots(extensionUri, vscode.Uri.joinPath) };
    webview.html = buildWebviewHtml({ webview, extensionUri, joinPath: vscode.Uri.joinPath, kind, nonce: makeNonce() });
    this.subs.push(webview.onDidReceiveMessage((m) => this.receive(m)));
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

  private pendingFocus: Extract<ToWebview, { type: 'focus' }> | null = null;

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
    await this.post({ type: 'runs', runs: this.snapshots.list(), busy: this.jobs.busy });
    for (const slot of ['primary', 'compare'] as const) {
      if (changedRunId && this.slots[slot] === changedRunId) await this.sendSlot(slot);
    }
  }

  private async sendSlot(slot: Slot): Promise<void> {
    const id = this.slots[slot];
    const run = id ? await this.snapshots.get(id) : null;
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
          await this.post({ type: 'runs', runs: this.snapshots.list(), busy: this.jobs.busy });
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
        case 'export': {
          const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
          const target = await vscode.window.showSaveDialog({
            defaultUri: folder ? vscode.Uri.joinPath(folder, m.name) : undefined,
            filters: m.format === 'csv' ? { 'CSV table': ['csv'] } : { 'PNG image': ['png'] },
            title: m.format === 'csv' ? 'Save the per-layer table' : 'Save the heatmap',
          });
          if (!target) break;
          const bytes = m.format === 'csv' ? Buffer.from(m.data, 'utf8') : Buffer.from(m.data.slice('data:image/png;base64,'.length), 'base64');
          await vscode.workspace.fs.writeFile(target, bytes);
          void vscode.window.showInformationMessage(`TRIM: saved ${target.fsPath}`);
          break;
        }
        case 'help': {
          const readme = vscode.Uri.joinPath(this.extensionUri, 'README.md').with({ fragment: m.section });
          await vscode.commands.executeCommand('markdown.showPreview', readme);
          break;
        }
      }
    } catch (e) {
      this.log.error(`handling ${m.type} from the ${this.kind} webview: ${(e as Error).stack ?? e}`);
    }
  }

  private post(m: ToWebview): Thenable<boolean> {
    return this.webview.postMessage(m);
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}

/** The results panel (one at a time) and its serializer. */
export class ResultsPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private conn: Connection | null = null;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly snapshots: RunSnapshots,
    private readonly jobs: JobManager,
    private readonly actions: WebviewActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subs.push(vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        const s = (state ?? {}) as Partial<PersistedWebviewState>;
        this.adopt(panel);
        await this.conn!.show('primary', typeof s.primaryRunId === 'string' ? s.primaryRunId : null);
        await this.conn!.show('compare', typeof s.compareRunId === 'string' ? s.compareRunId : null);
      },
    }));
  }

  /**
   * Opens (or reveals) the panel on a run; `at`: the block (and linear) to show; `compareWith`:
   * the run to show beside it (after Run again: the run it came from).
   */
  async open(runId: string, at?: { block: number; layer: string | null }, compareWith?: string): Promise<void> {
    if (!this.panel) {
      this.adopt(vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'TRIM Results', vscode.ViewColumn.Active, { enableScripts: true }));
    } else {
      this.panel.reveal();
    }
    const label = this.snapshots.list().find((r) => r.id === runId)?.label;
    if (label) this.panel!.title = `TRIM: ${label}`;
    await this.conn!.show('primary', runId);
    if (compareWith && compareWith !== runId) await this.conn!.show('compare', compareWith);
    if (at) await this.conn!.focus(runId, at.block, at.layer);
  }

  get connection(): Connection | null {
    return this.conn;
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.conn?.dispose();
    this.panel = panel;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'trim.svg');
    this.conn = new Connection(panel.webview, 'panel', this.snapshots, this.jobs, this.actions, this.extensionUri, this.log);
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.conn?.dispose();
        this.conn = null;
        this.panel = null;
      }
    });
  }

  dispose(): void {
    this.conn?.dispose();
    this.panel?.dispose();
    for (const s of this.subs) s.dispose();
  }
}

/** The sidebar visualization: the per-layer heatmap of the selected (or running) run. */
export class SidebarView implements vscode.WebviewViewProvider, vscode.Disposable {
  private conn: Connection | null = null;
  private view: vscode.WebviewView | null = null;
  private selected: string | null = null;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly snapshots: RunSnapshots,
    private readonly jobs: JobManager,
    private readonly actions: WebviewActions,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.conn = new Connection(view.webview, 'sidebar', this.snapshots, this.jobs, this.actions, this.extensionUri, this.log);
    const initial = this.selected ?? this.jobs.activeId ?? this.snapshots.list()[0]?.id ?? null;
    void this.conn.show('primary', initial);
    view.onDidDispose(() => {
      this.conn?.dispose();
      this.conn = null;
      this.view = null;
    });
  }

  /** Shows a run (tree selection, a job that starts). */
  async select(runId: string): Promise<void> {
    this.selected = runId;
    if (this.view) this.view.description = this.snapshots.list().find((r) => r.id === runId)?.label;
    await this.conn?.show('primary', runId);
  }

  get connection(): Connection | null {
    return this.conn;
  }

  dispose(): void {
    this.conn?.dispose();
  }
}

/** Fans job events and run changes out to whichever webviews are open. */
export function connectionsOf(...views: Array<{ connection: Connection | null }>): Connection[] {
  return views.map((v) => v.connection).filter((c): c is Connection => c !== null);
}
