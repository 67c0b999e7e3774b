/**
 * The host's side of the webviews without an editor (src/extension/webviewConnection.ts): a
 * sidebar cell's `reveal` carries a run, a block and a linear, and the results panel is opened on
 * that run and sent a `focus` on that block and linear, after the run itself, also when the
 * panel's script is not ready yet (a panel just created, or one whose script was discarded in a
 * background tab). Expected messages are written out here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, webviewActions, type RevealTarget, type WebviewPort } from '../../src/extension/webviewConnection';
import type { RunRecord } from '../../src/extension/runStore';
import { emptyRun, type RunSnapshot, type ToWebview } from '../../src/webviewProtocol';

/** A webview as the host sees it: what was posted to it, and a way to send it a message. */
class FakeWebview implements WebviewPort {
  readonly posted: ToWebview[] = [];
  private listener: ((m: unknown) => unknown) | null = null;
  postMessage(m: ToWebview): Promise<boolean> {
    this.posted.push(m);
    return Promise.resolve(true);
  }
  onDidReceiveMessage(listener: (m: unknown) => unknown): { dispose(): void } {
    this.listener = listener;
    return {
      dispose: () => {
        this.listener = null;
      },
    };
  }
  /** The webview's script posts `m`; resolves once the host has handled it. */
  async send(m: unknown): Promise<void> {
    await this.listener?.(m);
  }
  /** The posted messages in short form: `run primary b`, `focus b 3 k_proj`, … */
  summary(): string[] {
    return this.posted.map((m) => {
      switch (m.type) {
        case 'run':
          return `run ${m.slot} ${m.run?.id ?? 'none'}`;
        case 'focus':
          return `focus ${m.runId} ${m.block} ${m.layer ?? 'block'}`;
        case 'runs':
          return `runs ${m.runs.map((r) => r.id).join(',')}`;
        case 'event':
          return `event ${m.runId}`;
      }
    });
  }
}

const runs: Record<string, RunSnapshot> = { a: emptyRun('a', 'run a'), b: emptyRun('b', 'run b') };
const sources = {
  snapshots: {
    list: () => Object.values(runs).map((r) => ({ id: r.id, label: r.label, status: r.status })),
    get: async (id: string) => runs[id] ?? null,
  },
  jobs: { busy: false },
};

/** A sidebar and a results panel wired as views.ts wires them (webviewActions). */
function wire() {
  const warnings: string[] = [];
  const selected: string[] = [];
  const opened: Array<{ runId: string; at?: RevealTarget; compareWith?: string }> = [];
  const log = { warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
  const panelView = new FakeWebview();
  const sidebarView = new FakeWebview();
  let panel: Connection | null = null;
  const actions = webviewActions(
    {
      store: { get: (id) => (runs[id] ? ({ id, label: runs[id].label } as RunRecord) : undefined) },
      manager: { cancel: async () => true },
      launcher: { startFromRun: async () => null },
      warn: (m) => warnings.push(m),
    },
    () => ({
      // ResultsPanel.open: the panel is created (or revealed) and its connection opened there.
      panel: {
        open: async (runId, at, compareWith) => {
          opened.push({ runId, at, compareWith });
          panel ??= new Connection(panelView, 'panel', sources, actions, log);
          await panel.open(runId, at, compareWith);
        },
      },
      sidebar: {
        select: async (id) => {
          selected.push(id);
        },
      },
    }),
  );
  const sidebar = new Connection(sidebarView, 'sidebar', sources, actions, log);
  return { panelView, sidebarView, sidebar, opened, selected, warnings, panel: () => panel };
}

describe('webview connection: the sidebar reveal target reaches the panel', () => {
  it('a panel just created gets the run, then the focus on the block and linear, once its script is ready', async () => {
    const w = wire();
    await w.sidebarView.send({ type: 'ready', kind: 'sidebar' });
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 3, layer: 'k_proj' });
    assert.deepEqual(w.opened, [{ runId: 'b', at: { block: 3, layer: 'k_proj' }, compareWith: undefined }]);
    // Nothing is posted before the panel's script says it is ready.
    assert.deepEqual(w.panelView.summary(), []);
    await w.panelView.send({ type: 'ready', kind: 'panel' });
    assert.deepEqual(w.panelView.summary(), ['runs a,b', 'run primary b', 'run compare none', 'focus b 3 k_proj']);
    // The sidebar follows the panel's primary run.
    assert.deepEqual(w.selected, ['b']);
    assert.deepEqual(w.warnings, []);
  });

  it('a panel already showing another run is switched to it and then focused; a whole block (no linear) too', async () => {
    const w = wire();
    await w.sidebarView.send({ type: 'reveal', runId: 'a', block: 0, layer: 'q_proj' });
    await w.panelView.send({ type: 'ready', kind: 'panel' });
    w.panelView.posted.length = 0;
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 5, layer: 'down_proj' });
    assert.deepEqual(w.panelView.summary(), ['run primary b', 'focus b 5 down_proj']);
    w.panelView.posted.length = 0;
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 2, layer: null });
    assert.deepEqual(w.panelView.summary(), ['run primary b', 'focus b 2 block']);
    assert.deepEqual(w.selected, ['a', 'b', 'b']);
  });

  it('revealing the run the panel compares swaps the two, then focuses', async () => {
    const w = wire();
    await w.sidebarView.send({ type: 'reveal', runId: 'a', block: 0, layer: null });
    await w.panelView.send({ type: 'ready', kind: 'panel' });
    await w.panelView.send({ type: 'compare', runId: 'b' });
    w.panelView.posted.length = 0;
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 1, layer: 'v_proj' });
    assert.deepEqual(w.panelView.summary(), ['run compare a', 'run primary b', 'focus b 1 v_proj']);
    assert.deepEqual(w.panel()!.slots, { primary: 'b', compare: 'a' });
  });

  it('a panel in a background tab (its script discarded) gets the reveal: the focus waits for the new script', async () => {
    const w = wire();
    await w.sidebarView.send({ type: 'reveal', runId: 'a', block: 0, layer: null });
    await w.panelView.send({ type: 'ready', kind: 'panel' });
    // The panel goes to a background tab: VS Code discards its script (no retained context).
    w.panel()!.hidden();
    w.panelView.posted.length = 0;
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 5, layer: 'k_proj' });
    // Posted now, it would be lost with the old script: nothing goes out until the new one is ready.
    assert.deepEqual(w.panelView.summary(), []);
    await w.panelView.send({ type: 'ready', kind: 'panel' });
    assert.deepEqual(w.panelView.summary(), ['runs a,b', 'run primary b', 'run compare none', 'focus b 5 k_proj']);
    // Live events of a hidden webview's runs are not posted either (its next ready re-sends the run).
    w.panel()!.hidden();
    w.panelView.posted.length = 0;
    w.panel()!.event('b', { type: 'block_start', block: 1 } as never);
    assert.deepEqual(w.panelView.summary(), []);
  });

  it('a reveal of the wrong shape is logged and opens nothing', async () => {
    const w = wire();
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: -1, layer: 'k_proj' });
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 1.5, layer: null });
    await w.sidebarView.send({ type: 'reveal', runId: 'b', block: 1, layer: 7 });
    assert.deepEqual(w.opened, []);
    assert.equal(w.warnings.length, 3);
    assert.match(w.warnings[0], /^sidebar webview sent a message of unknown shape: /);
  });

  it('Run again of a run no longer listed warns and opens nothing', async () => {
    const w = wire();
    await w.sidebarView.send({ type: 'runAgain', runId: 'gone', overrides: {} });
    assert.deepEqual(w.warnings, ['TRIM: that run is no longer in the Runs list.']);
    assert.deepEqual(w.opened, []);
  });
});
