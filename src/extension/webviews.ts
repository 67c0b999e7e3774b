/**
 * Hosts the two webviews: the results panel (a WebviewPanel, restored after a reload by a
 * serializer) and the sidebar visualization (a WebviewView). Both speak src/webviewProtocol.ts:
 * on `ready` they get the run list and their slots; live events of the runs they show are
 * forwarded as they arrive; what the user asks for comes back as FromWebview messages.
 */
import * as vscode from 'vscode';
import type { PersistedWebviewState, WebviewKind } from '../webviewProtocol';
import type { JobManager } from './jobManager';
import type { RunSnapshots } from './runSnapshots';
import { Connection, type RevealTarget, type WebviewActions } from './webviewConnection';
import { buildWebviewHtml, makeNonce, webviewResourceRoots } from './webviewHtml';

export type { WebviewActions } from './webviewConnection';

export const PANEL_VIEW_TYPE = 'trim.results';
export const SIDEBAR_VIEW_ID = 'trim.layers';

/**
 * A webview's connection (webviewConnection.ts) over `webview`, whose HTML and options are set
 * here; saving an export and opening the README are done here (they need the editor).
 */
function connect(
  webview: vscode.Webview,
  kind: WebviewKind,
  snapshots: RunSnapshots,
  jobs: JobManager,
  actions: WebviewActions,
  extensionUri: vscode.Uri,
  log: vscode.LogOutputChannel,
): Connection {
  webview.options = { enableScripts: true, localResourceRoots: webviewResourceRoots(extensionUri, vscode.Uri.joinPath) };
  webview.html = buildWebviewHtml({ webview, extensionUri, joinPath: vscode.Uri.joinPath, kind, nonce: makeNonce() });
  return new Connection(
    webview,
    kind,
    { snapshots, jobs },
    {
      ...actions,
      export: async (m) => {
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
        const target = await vscode.window.showSaveDialog({
          defaultUri: folder ? vscode.Uri.joinPath(folder, m.name) : undefined,
          filters: m.format === 'csv' ? { 'CSV table': ['csv'] } : { 'PNG image': ['png'] },
          title: m.format === 'csv' ? 'Save the per-layer table' : 'Save the heatmap',
        });
        if (!target) return;
        const bytes =
          m.format === 'csv' ? Buffer.from(m.data, 'utf8') : Buffer.from(m.data.slice('data:image/png;base64,'.length), 'base64');
        await vscode.workspace.fs.writeFile(target, bytes);
        void vscode.window.showInformationMessage(`TRIM: saved ${target.fsPath}`);
      },
      help: async (section) => {
        const readme = vscode.Uri.joinPath(extensionUri, 'README.md').with({ fragment: section });
        await vscode.commands.executeCommand('markdown.showPreview', readme);
      },
    },
    log,
  );
}

/** What both webviews are built with, and their connection over a webview of either kind. */
abstract class WebviewHost {
  constructor(
    protected readonly extensionUri: vscode.Uri,
    protected readonly snapshots: RunSnapshots,
    protected readonly jobs: JobManager,
    private readonly actions: WebviewActions,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  protected connect(webview: vscode.Webview, kind: WebviewKind): Connection {
    return connect(webview, kind, this.snapshots, this.jobs, this.actions, this.extensionUri, this.log);
  }
}

/** The results panel (one at a time) and its serializer. */
export class ResultsPanel extends WebviewHost implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private conn: Connection | null = null;
  private readonly subs: vscode.Disposable[] = [];

  constructor(...deps: ConstructorParameters<typeof WebviewHost>) {
    super(...deps);
    this.subs.push(
      vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const s = (state ?? {}) as Partial<PersistedWebviewState>;
          this.adopt(panel);
          await this.conn!.show('primary', typeof s.primaryRunId === 'string' ? s.primaryRunId : null);
          await this.conn!.show('compare', typeof s.compareRunId === 'string' ? s.compareRunId : null);
        },
      }),
    );
  }

  /**
   * Opens (or reveals) the panel on a run; `at`: the block (and linear) to show; `compareWith`:
   * the run to show beside it (after Run again: the run it came from).
   */
  async open(runId: string, at?: RevealTarget, compareWith?: string): Promise<void> {
    if (!this.panel) {
      this.adopt(vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'TRIM Results', vscode.ViewColumn.Active, { enableScripts: true }));
    } else {
      this.panel.reveal();
    }
    const label = this.snapshots.list().find((r) => r.id === runId)?.label;
    if (label) this.panel!.title = `TRIM: ${label}`;
    await this.conn!.open(runId, at, compareWith);
  }

  get connection(): Connection | null {
    return this.conn;
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.conn?.dispose();
    this.panel = panel;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'trim.svg');
    this.conn = this.connect(panel.webview, 'panel');
    // A panel in a background tab loses its script; the next reveal's focus must wait for the new one.
    panel.onDidChangeViewState(() => {
      if (this.panel === panel && !panel.visible) this.conn?.hidden();
    });
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
export class SidebarView extends WebviewHost implements vscode.WebviewViewProvider, vscode.Disposable {
  private conn: Connection | null = null;
  private view: vscode.WebviewView | null = null;
  private selected: string | null = null;

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.conn = this.connect(view.webview, 'sidebar');
    const initial = this.selected ?? this.jobs.activeId ?? this.snapshots.list()[0]?.id ?? null;
    void this.conn.show('primary', initial);
    view.onDidChangeVisibility(() => {
      if (this.view === view && !view.visible) this.conn?.hidden();
    });
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
