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
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import * as fmt from '../../webview/shared/format';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  ROOT,
  checkSetup,
  installExtension,
  makeSandbox,
  readRuns,
  startCodeServer,
  type RunRecordLite,
  type Sandbox,
  type Server,
} from './codeServer';

const EXTENSION_ID = 'trim-tools.trim-vscode';
const ARTIFACTS = join(ROOT, '.artifacts', 'e2e-results');
const VSIX = join(ROOT, 'trim-vscode-linux-x64.vsix');
const RUN_TIMEOUT = Number(process.env.E2E_RUN_TIMEOUT_S ?? 420) * 1000;
const UI = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeout = UI,
  every = 250,
): Promise<T> {
  const t0 = Date.now();
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeout)
      throw new Error(
        `timed out after ${Math.round(timeout / 1000)} s waiting for ${what}${last instanceof Error ? `; last error: ${last.message.split('\n')[0]}` : ''}`,
      );
    await sleep(every);
  }
}

let sandbox: Sandbox;
let server: Server | null = null;
let context: BrowserContext | null = null;
let page: Page;
let first: RunRecordLite | null = null;

const runs = (): RunRecordLite[] => readRuns(sandbox, EXTENSION_ID);
const reportOf = (r: RunRecordLite): TrimReport => JSON.parse(readFileSync(r.reportPath!, 'utf8')) as TrimReport;
const shot = async (name: string) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
};

async function runCommand(label: string): Promise<void> {
  // The palette lists contributed commands once the workbench has read the extensions: try again.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await waitFor('the command palette', () => input.isVisible());
    await input.fill(`>${label}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
    try {
      await waitFor(`"${label}" in the command palette`, () => row.isVisible(), 15_000);
    } catch (e) {
      if (attempt >= 3) {
        await shot(`palette-${label.replace(/\W+/g, '-')}`);
        throw e;
      }
      continue;
    }
    await row.click();
    return;
  }
}

async function openTrimContainer(): Promise<void> {
  const icon = page.locator('.activitybar .action-item a[aria-label^="TRIM"], .activitybar .action-item[aria-label^="TRIM"]').first();
  await waitFor('the TRIM icon in the activity bar', () => icon.isVisible(), 60_000);
  const runsPane = page.locator('.sidebar .pane').filter({ has: page.locator('.pane-header', { hasText: /^\s*Runs/i }) });
  if (!(await runsPane.isVisible())) await icon.click();
  await waitFor('the Runs view of the TRIM container', () => runsPane.isVisible());
}

async function webviewFrame(kind: 'panel' | 'sidebar'): Promise<Frame> {
  return waitFor(`the ${kind} webview document`, async () => {
    for (const f of page.frames()) {
      if (f === page.mainFrame()) continue;
      if (await f.evaluate((k) => document.body?.classList.contains(`trim-${k}`) ?? false, kind).catch(() => false)) return f;
    }
    return null;
  });
}

async function cellCentre(frame: Frame, canvas: string, x: number, y: number): Promise<{ x: number; y: number }> {
  const g = await frame.locator(canvas).evaluate((el) => {
    const [left, top, right, bottom] = (el as HTMLElement).dataset.area!.split(',').map(Number);
    return { left, top, right, bottom, cols: Number((el as HTMLElement).dataset.cols), rows: Number((el as HTMLElement).dataset.rows) };
  });
  return { x: g.left + ((x + 0.5) * (g.right - g.left)) / g.cols, y: g.top + ((y + 0.5) * (g.bottom - g.top)) / g.rows };
}

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
    checkSetup();
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    sandbox = makeSandbox(mkdtempSync(join(tmpdir(), 'trim-e2e-results-')));
    if (process.env.E2E_SKIP_PACKAGE !== '1' || !existsSync(VSIX)) {
      execFileSync('npm', ['run', 'package'], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 300_000,
        env: { ...process.env, npm_config_logs_dir: join(sandbox.dir, 'npm-logs') },
      });
    }
    installExtension(sandbox, VSIX, EXTENSION_ID);
    // Small settings, and no `trim` and no `model`: "Prune the demo model" must choose TRIM itself.
    writeFileSync(
      join(sandbox.workspace, 'trim.config.json'),
      `${JSON.stringify({ sparsity: 0.5, iterations: 2, nsamples: 16, seqlen: 128, maxEvalWindows: 4, ep: 'cpu' }, null, 2)}\n`,
    );
    mkdirSync(join(sandbox.userData, 'User'), { recursive: true });
    writeFileSync(
      join(sandbox.userData, 'User', 'settings.json'),
      JSON.stringify({
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'security.workspace.trust.enabled': false,
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'chat.disableAIFeatures': true,
        'workbench.colorTheme': 'Default Dark Modern',
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
      }),
    );
    server = await startCodeServer(sandbox, join(ARTIFACTS, 'code-server.log'));
    context = await chromium.launchPersistentContext(join(sandbox.dir, 'chromium'), {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      env: sandbox.env as Record<string, string>,
      viewport: { width: 1600, height: 1000 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(UI);
    await page.goto(server.url);
    await waitFor('the workbench', () => page.locator('.monaco-workbench').isVisible(), 60_000);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    const pgid = server?.pid;
    await server?.stop();
    if (sandbox) rmSync(sandbox.dir, { recursive: true, force: true, maxRetries: 5 });
    if (pgid !== undefined) assert.deepEqual(server!.groupPids(), [], 'code-server processes outlived the test');
  });

  test(
    '"Prune the demo model" runs TRIM with its baseline; the panel reads the report\'s numbers',
    { timeout: RUN_TIMEOUT + 180_000 },
    async () => {
      await openTrimContainer();
      await runCommand('TRIM: Prune the Demo Model');
      const run = await waitFor('the demo run in runs.json', () => runs().find((r) => r.parent === null) ?? null, 60_000);
      first = await waitFor(
        `run ${run.id} to finish`,
        () => runs().find((r) => r.id === run.id && r.status !== 'running' && r.status !== 'queued') ?? null,
        RUN_TIMEOUT,
        500,
      );
      assert.equal(first.status, 'done', `${first.status}: ${first.error?.message}`);
      const r = reportOf(first);
      assert.equal(r.options.trim, true, 'the demo ran without TRIM');
      assert.ok(r.baseline && r.baseline.perplexity, 'the report has no baseline');
      await runCommand('TRIM: Open Results');
      const panel = await webviewFrame('panel');
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
    const sidebar = await webviewFrame('sidebar');
    const canvas = 'canvas.layer-heatmap';
    await waitFor(
      'the sidebar heatmap to render',
      async () => Number(await sidebar.locator(canvas).getAttribute('data-rows')) === r.blocks.length,
    );
    const [x, y] = [4, Math.min(3, r.blocks.length - 1)];
    const name = r.model.linears[x];
    await sidebar.locator(canvas).click({ position: await cellCentre(sidebar, canvas, x, y), force: true });
    const panel = await webviewFrame('panel');
    await waitFor(
      `the panel on block ${y} · ${name}`,
      async () => (await panel.locator('.run-primary .rows h3').innerText()).startsWith(`Rows of block ${y} · ${name} (`),
      30_000,
    );
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
    const sidebar = await webviewFrame('sidebar');
    const canvas = 'canvas.layer-heatmap';
    const [x, y] = [1, r.blocks.length - 1];
    const name = r.model.linears[x];
    await sidebar.locator(canvas).click({ position: await cellCentre(sidebar, canvas, x, y), force: true });
    const panel = await webviewFrame('panel');
    await waitFor(
      `the panel on block ${y} · ${name}`,
      async () => (await panel.locator('.run-primary .rows h3').innerText()).startsWith(`Rows of block ${y} · ${name} (`),
      30_000,
    );
    await shot('2b-sidebar-click-background-tab');
  });

  test(
    'Run again with TRIM off records it in the new report and opens beside the previous run',
    { timeout: RUN_TIMEOUT + 120_000 },
    async () => {
      assert.ok(first, 'needs the first test');
      const panel = await webviewFrame('panel');
      await panel.locator('#trim').click();
      await panel.locator('#trim vscode-option[value="off"]').click();
      const button = panel.locator('#run-again');
      await waitFor('"Run again" to be enabled', async () => (await button.getAttribute('disabled')) === null);
      await button.click();
      const second = await waitFor('a run whose parent is the demo run', () => runs().find((r) => r.parent === first!.id) ?? null, 60_000);
      const done = await waitFor(
        `run ${second.id} to finish`,
        () => runs().find((r) => r.id === second.id && r.status !== 'running' && r.status !== 'queued') ?? null,
        RUN_TIMEOUT,
        500,
      );
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
