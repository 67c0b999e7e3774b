/**
 * Issue 19 in a real VS Code (code-server + Chromium, the packaged VSIX): "Prune the demo model"
 * runs TRIM with its baseline and the panel's perplexity line carries the numbers of the report
 * on disk; a click on a cell of the sidebar's heatmap opens the panel on that block and linear
 * (also when the panel is in a background tab: issue 18);
 * "Run again" with TRIM switched off records it in the new run's report, and the new run opens
 * beside the one it came from. Needs scripts/e2e/setup.sh (E2E_CACHE). Screenshots:
 * .artifacts/e2e-results/.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import * as fmt from '../../webview/shared/format';
import { ROOT, readRuns, startCodeServer, type RunRecordLite, type Sandbox, type Server } from './codeServer';
import { EXTENSION_ID, RUN_TIMEOUT, closeSession, installVsix, newSandbox, openWorkbench, writeSettings } from './session';
import { Workbench, cellCentre, waitFor } from './workbench';

const ARTIFACTS = join(ROOT, '.artifacts', 'e2e-results');

let sandbox: Sandbox;
let server: Server | null = null;
let context: BrowserContext | null = null;
let page: Page;
let wb: Workbench;
let first: RunRecordLite | null = null;

const runs = (): RunRecordLite[] => readRuns(sandbox, EXTENSION_ID);
const reportOf = (r: RunRecordLite): TrimReport => JSON.parse(readFileSync(r.reportPath!, 'utf8')) as TrimReport;
const shot = (name: string): Promise<void> => wb.shot(name);
/** The run `id` once it has ended (done, failed or cancelled). */
const finished = (id: string): Promise<RunRecordLite> =>
  waitFor(
    `run ${id} to finish`,
    () => runs().find((r) => r.id === id && r.status !== 'running' && r.status !== 'queued') ?? null,
    RUN_TIMEOUT,
    500,
  );

/** Clicks cell (x, y) of the sidebar's heatmap; resolves once the panel shows that block and linear. */
async function clickSidebarCell(r: TrimReport, x: number, y: number): Promise<void> {
  const sidebar = await wb.webviewFrame('sidebar');
  const canvas = 'canvas.layer-heatmap';
  const name = r.model.linears[x];
  await sidebar.locator(canvas).click({ position: await cellCentre(sidebar, canvas, x, y), force: true });
  const panel = await wb.webviewFrame('panel');
  await waitFor(
    `the panel on block ${y} · ${name}`,
    async () => (await panel.locator('.run-primary .rows h3').innerText()).startsWith(`Rows of block ${y} · ${name} (`),
    30_000,
  );
}

/** The palette lists contributed commands once the workbench has read the extensions: 3 tries of 15 s. */
const runCommand = (label: string): Promise<void> => wb.runCommand(label, 15_000, 3);

/** The panel's perplexity line as the panel writes it for a report with a baseline. */
function pplLine(r: TrimReport): string {
  const d = r.perplexity.dense!.perplexity;
  const q = r.perplexity.pruned!.perplexity;
  const b = r.baseline!.perplexity!.perplexity;
  const rel = (q / b - 1) * 100;
  return `Perplexity: dense ${fmt.ppl(d)} → pruned ${fmt.ppl(q)} with TRIM; baseline (${r.baseline!.score}, TRIM off, same protocol) ${fmt.ppl(b)} (TRIM ${rel >= 0 ? '+' : '−'}${Math.abs(rel).toFixed(1)}% vs baseline) · achieved sparsity ${fmt.pct(r.sparsity)}`;
}

describe('issue 19 in a real VS Code: baseline, sidebar navigation, Run again with TRIM off', { concurrency: false }, () => {
  before(async () => {
    sandbox = newSandbox(ARTIFACTS, 'trim-e2e-results-');
    installVsix(sandbox);
    // Small settings, and no `trim` and no `model`: "Prune the demo model" must choose TRIM itself.
    writeFileSync(
      join(sandbox.workspace, 'trim.config.json'),
      `${JSON.stringify({ sparsity: 0.5, iterations: 2, nsamples: 16, seqlen: 128, maxEvalWindows: 4, ep: 'cpu' }, null, 2)}\n`,
    );
    writeSettings(sandbox);
    server = await startCodeServer(sandbox, join(ARTIFACTS, 'code-server.log'));
    ({ context, page, wb } = await openWorkbench(sandbox, server, ARTIFACTS));
  });

  after(() => closeSession(sandbox, server, context));

  test(
    '"Prune the demo model" runs TRIM with its baseline; the panel reads the report\'s numbers',
    { timeout: RUN_TIMEOUT + 180_000 },
    async () => {
      await wb.openTrimContainer();
      await runCommand('TRIM: Prune the Demo Model');
      const run = await waitFor('the demo run in runs.json', () => runs().find((r) => r.parent === null) ?? null, 60_000);
      first = await finished(run.id);
      assert.equal(first.status, 'done', `${first.status}: ${first.error?.message}`);
      const r = reportOf(first);
      assert.equal(r.options.trim, true, 'the demo ran without TRIM');
      assert.ok(r.baseline && r.baseline.perplexity, 'the report has no baseline');
      await runCommand('TRIM: Open Results');
      const panel = await wb.webviewFrame('panel');
      await waitFor(
        'the panel to show the run from its report',
        async () => (await panel.locator('.run-primary .ppl-text').innerText()).includes('achieved sparsity'),
        60_000,
      );
      assert.equal(await panel.locator('.run-primary .ppl-text').innerText(), pplLine(r));
      await shot('1-demo-trim-baseline');
    },
  );

  test('a click on a sidebar cell opens the panel on that block and linear', { timeout: 120_000 }, async () => {
    assert.ok(first, 'needs the first test');
    const r = reportOf(first);
    const sidebar = await wb.webviewFrame('sidebar');
    const canvas = 'canvas.layer-heatmap';
    await waitFor(
      'the sidebar heatmap to render',
      async () => Number(await sidebar.locator(canvas).getAttribute('data-rows')) === r.blocks.length,
    );
    await clickSidebarCell(r, 4, Math.min(3, r.blocks.length - 1));
    await shot('2-sidebar-click-landed');
  });

  test('a click on a sidebar cell lands there also when the panel is in a background tab', { timeout: 120_000 }, async () => {
    assert.ok(first, 'needs the first test');
    const r = reportOf(first);
    // Another editor in the panel's group covers the panel: VS Code destroys a hidden webview's
    // script (no retainContextWhenHidden); the click reveals the panel and must land in its new one.
    await runCommand('TRIM: Create trim.config.json');
    await waitFor('trim.config.json in front of the panel', () =>
      page.locator('.tab.active', { hasText: 'trim.config.json' }).first().isVisible(),
    );
    const panelGone = await waitFor(
      'the panel webview to go',
      async () => {
        for (const f of page.frames()) {
          if (
            f !== page.mainFrame() &&
            (await f.evaluate(() => document.body?.classList.contains('trim-panel') ?? false).catch(() => false))
          )
            return false;
        }
        return true;
      },
      10_000,
    ).catch(() => false);
    console.log(`panel webview document ${panelGone ? 'gone' : 'still there'} while covered`);
    await clickSidebarCell(r, 1, r.blocks.length - 1);
    await shot('2b-sidebar-click-background-tab');
  });

  test(
    'Run again with TRIM off records it in the new report and opens beside the previous run',
    { timeout: RUN_TIMEOUT + 120_000 },
    async () => {
      assert.ok(first, 'needs the first test');
      const panel = await wb.webviewFrame('panel');
      await panel.locator('#trim').click();
      await panel.locator('#trim vscode-option[value="off"]').click();
      const button = panel.locator('#run-again');
      await waitFor('"Run again" to be enabled', async () => (await button.getAttribute('disabled')) === null);
      await button.click();
      const second = await waitFor('a run whose parent is the demo run', () => runs().find((r) => r.parent === first!.id) ?? null, 60_000);
      const done = await finished(second.id);
      assert.equal(done.status, 'done', `${done.status}: ${done.error?.message}`);
      const rep = reportOf(done);
      assert.equal(rep.options.trim, false, "the new run's report does not record TRIM off");
      assert.equal(rep.baseline ?? null, null);
      await waitFor(
        'the new run as A and the demo run as B',
        async () =>
          (await panel.locator('.run-primary .run-title').innerText()).includes(`${done.label} — done`) &&
          (await panel.locator('.run-compare .run-title').innerText()).includes(first!.label),
        60_000,
      );
      await shot('3-run-again-trim-off-compared');
    },
  );
});
