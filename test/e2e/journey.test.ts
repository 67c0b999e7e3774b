/**
 * The user's whole journey in a real VS Code (code-server 4.139.1, its Node extension host, the
 * VSIX built by `npm run package` and installed with --install-extension), driven through Debian's
 * Chromium by playwright-core. Needs scripts/e2e/setup.sh (run by `npm run test:e2e`).
 *
 * Steps (each a test; a later step is skipped when one it needs failed):
 *   1. the TRIM activity-bar container and its welcome view;
 *   2. `TRIM: Prune Model` from the palette runs trim.config.json; the progress notification
 *      appears and completes;
 *   3. the Runs view lists the run with its achieved sparsity and perplexity;
 *   4. the results panel: one per-layer cell per (block, linear), the per-row view, tooltips that
 *      match trim-report.json on disk;
 *   5. a new iteration count + "Run again" gives a second run whose report records it;
 *   6. a run cancelled from the notification leaves no output folder (and no worker);
 *   7. an invalid value typed into trim.config.json shows a schema diagnostic (a percentage as
 *      sparsity says to write a fraction; a misspelled key gets "did you mean").
 * Screenshots: .artifacts/e2e/. A failing step names what it waited for, and leaves a
 * screenshot, the code-server log and the extension's log there.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { partialDirFor, type TrimReport } from '../../src/contract';
import * as fmt from '../../webview/shared/format';
import { binRows } from '../../webview/shared/runModel';
import { ROOT, readRuns, startCodeServer, type RunRecordLite, type Sandbox, type Server } from './codeServer';
import { EXTENSION_ID, RUN_TIMEOUT, closeSession, installVsix, journeySteps, newSandbox, openWorkbench, writeSettings } from './session';
import { Workbench, cellCentre, sleep, waitFor, workerPidsOf } from './workbench';

const ARTIFACTS = join(ROOT, '.artifacts', 'e2e');
const FIRST_ITERATIONS = 2;
const NEXT_ITERATIONS = 3;

/** The small settings of the throwaway workspace's trim.config.json. */
const smallConfig = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  sparsity: 0.5,
  trim: true,
  iterations: FIRST_ITERATIONS,
  nsamples: 16,
  seqlen: 128,
  maxEvalWindows: 4,
  ep: 'cpu',
  ...extra,
});

// ---------------------------------------------------------------------------------------------

let sandbox: Sandbox;
let server: Server | null = null;
let context: BrowserContext | null = null;
let page: Page;
let wb: Workbench;
let installed: string;
const homeBefore = new Map<string, number | null>();
/** What code-server or Chromium would create in $HOME if the sandboxing failed. */
const HOME_WATCH = [
  '.local/share/code-server',
  '.config/code-server',
  '.cache/code-server',
  '.config/chromium',
  '.cache/chromium',
  '.vscode-server',
  '.vscode',
];

const mtime = (p: string): number | null => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return null;
  }
};

const shot = (name: string): Promise<void> => wb.shot(name);
/** Runs one step; on failure saves a screenshot and marks the step for those that need it. */
const step = journeySteps(() => server !== null, shot, RUN_TIMEOUT + 120_000);

const runs = (): RunRecordLite[] => readRuns(sandbox, EXTENSION_ID);
const report = (r: RunRecordLite): TrimReport => JSON.parse(readFileSync(r.reportPath!, 'utf8')) as TrimReport;

async function waitRun(what: string, pred: (r: RunRecordLite) => boolean, timeout = RUN_TIMEOUT): Promise<RunRecordLite> {
  return waitFor(what, () => runs().find(pred) ?? null, timeout, 500);
}

/** Pids of pruning workers (dist/worker.js) in code-server's process group. */
const workerPids = (): number[] => (server ? workerPidsOf(server.groupPids()) : []);

/** Hovers cell (x, y) of a heatmap canvas inside a webview; returns the tooltip's lines. */
async function hoverCell(frame: Frame, canvas: string, x: number, y: number): Promise<string[]> {
  await frame.locator(canvas).hover({ position: await cellCentre(frame, canvas, x, y), force: true });
  const tip = frame.locator(`${canvas} + .heat-tooltip`);
  await waitFor(`the tooltip of cell (${x}, ${y}) of ${canvas}`, () => tip.isVisible(), 10_000);
  return tip.locator('div').allTextContents();
}

/** Non-transparent pixels of a canvas in a webview (a blank heatmap has none). */
const paintedPixels = (frame: Frame, canvas: string): Promise<number> =>
  frame.locator(canvas).evaluate((el) => {
    const cv = el as HTMLCanvasElement;
    const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });

// ---------------------------------------------------------------------------------------------

describe('TRIM in a real VS Code (code-server + Chromium)', { concurrency: false }, () => {
  let first: RunRecordLite;

  before(async () => {
    for (const p of HOME_WATCH) homeBefore.set(p, mtime(join(homedir(), p)));
    sandbox = newSandbox(ARTIFACTS, 'trim-e2e-');
    installed = installVsix(sandbox);
    const demo = join(installed, 'media', 'models', 'trim-demo-qwen2-small');
    assert.ok(existsSync(join(demo, 'config.json')), `the installed VSIX has no demo model at ${demo}`);
    writeFileSync(join(sandbox.workspace, 'trim.config.json'), `${JSON.stringify(smallConfig(demo), null, 2)}\n`);
    writeSettings(sandbox, {
      // Step 7 types a whole document: no closing brackets or quotes added behind it.
      'editor.autoClosingBrackets': 'never',
      'editor.autoClosingQuotes': 'never',
      'editor.autoIndent': 'none',
      'editor.formatOnType': false,
    });
    server = await startCodeServer(sandbox, join(ARTIFACTS, 'code-server.log'));
    ({ context, page, wb } = await openWorkbench(sandbox, server, ARTIFACTS));
    // Every notification text ever shown (a short run's progress toast may close between polls).
    await wb.watchToasts();
  });

  after(async () => {
    // Logs for a post-mortem, then everything stopped and removed, even after a failure.
    await closeSession(sandbox, server, context, ARTIFACTS);
    for (const [p, before] of homeBefore) assert.equal(mtime(join(homedir(), p)), before, `the test wrote ~/${p}`);
  });

  step(1, 'the TRIM activity-bar container and its welcome view', [], async () => {
    await wb.openTrimContainer();
    const welcome = wb.runsPane().locator('.welcome-view-content');
    await waitFor('the Runs welcome view (.welcome-view-content)', () => welcome.isVisible());
    for (const label of ['Prune the demo model', 'Open a model folder…']) {
      await waitFor(`the welcome button "${label}"`, () => welcome.locator('.monaco-button', { hasText: label }).first().isVisible());
    }
    await shot('1-welcome');
  });

  step(2, '"TRIM: Prune Model" runs trim.config.json with a progress notification', [1], async () => {
    await wb.runCommand('TRIM: Prune Model');
    const progress = wb.toast(/TRIM: trim-demo-qwen2-small/).filter({ has: page.locator('.monaco-progress-container') });
    const running = await waitRun('the run to be recorded in runs.json', (r) => r.parent === null, 60_000);
    await waitFor(
      `the progress notification "TRIM: ${running.label}"`,
      async () => (await progress.first().isVisible()) || (await wb.toastsSeen(/TRIM: trim-demo-qwen2-small/)).length > 0,
      60_000,
    );
    await waitFor(
      'the Runs view to list the running run (a row with a spinning icon)',
      async () =>
        (await wb.runsPane().locator('.monaco-list-row .codicon-loading').count()) > 0 ||
        runs().find((r) => r.id === running.id)?.status === 'done',
      RUN_TIMEOUT,
      100,
    );
    if (await progress.first().isVisible()) await shot('2-progress');
    first = await waitRun(
      `run ${running.id} to finish (status done/failed in runs.json)`,
      (r) => r.id === running.id && r.status !== 'running' && r.status !== 'queued',
    );
    assert.equal(first.status, 'done', `run ${first.id} ended ${first.status}: ${first.error?.message}`);
    const shown = await wb.toastsSeen(new RegExp(`TRIM: ${first.label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    for (const want of [/block \d+\/\d+/, /block \d+\/\d+ done|Evaluating the pruned model|perplexity pruned|: done$/]) {
      assert.ok(
        shown.some((t) => want.test(t)),
        `the progress notification showed ${want} (seen: ${JSON.stringify(shown)})`,
      );
    }
    await waitFor('the progress notification to close', async () => (await progress.count()) === 0);
    await waitFor('the completion notification "TRIM: pruned …"', () => wb.toast('TRIM: pruned').first().isVisible());
    assert.ok(existsSync(first.reportPath!), `trim-report.json is missing: ${first.reportPath}`);
    await shot('2-done');
  });

  step(3, 'the Runs view lists the run with achieved sparsity and perplexity', [2], async () => {
    const r = report(first);
    const want = `${fmt.ppl(r.perplexity.dense?.perplexity)} → ${fmt.ppl(r.perplexity.pruned?.perplexity)}`;
    const sparsity = `${(r.sparsity * 100).toFixed(1)}%`;
    const row = wb.runsPane().locator('.monaco-list-row').first();
    const text = await waitFor(`a Runs row with "${sparsity}" and "ppl ${want}"`, async () => {
      const t = await row.innerText();
      return t.includes(sparsity) && t.includes(`ppl ${want}`) ? t : null;
    });
    assert.ok(text.startsWith(first.label), `the row leads with what the run was (model · method · target): ${text}`);
    await page.mouse.move(800, 500);
    // Visible, not cut off by the sidebar's width: model · method lie inside the row.
    const fits = await row.evaluate(
      (el, needles) => {
        const box = (el.querySelector('.monaco-icon-label-container') ?? el).getBoundingClientRect();
        for (const needle of needles) {
          const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          let node: Node | null;
          let range: Range | null = null;
          while ((node = walk.nextNode())) {
            const at = node.textContent?.indexOf(needle) ?? -1;
            if (at >= 0) {
              range = document.createRange();
              range.setStart(node, at);
              range.setEnd(node, at + needle.length);
              break;
            }
          }
          if (!range) return `no "${needle}" in one text of the row (${el.textContent})`;
          const right = range.getBoundingClientRect().right;
          if (right > box.right + 1)
            return `"${needle}" ends at x=${Math.round(right)}, beyond the row's visible edge x=${Math.round(box.right)}`;
        }
        return true;
      },
      [first.label.split(' · ').slice(0, 2).join(' · ')],
    );
    assert.equal(fits, true, `the Runs row shows the result: ${fits}`);
    await shot('3-runs-view');
  });

  step(4, 'the results panel: per-layer heatmap, per-row view, tooltips from trim-report.json', [2], async () => {
    const r = report(first);
    const done = wb.toast('TRIM: pruned').first();
    if (await done.isVisible()) await done.locator('.monaco-button', { hasText: 'Open Results' }).click();
    else await wb.runCommand('TRIM: Open Results');
    const frame = await wb.webviewFrame('panel');
    const layers = frame.locator('canvas.layer-heatmap');
    await waitFor(
      'the per-layer heatmap (canvas.layer-heatmap[data-rendered])',
      async () => (await layers.getAttribute('data-rendered')) !== null,
    );
    const cols = Number(await layers.getAttribute('data-cols'));
    const rows = Number(await layers.getAttribute('data-rows'));
    const linears = r.blocks[0].layers.map((l) => l.name);
    assert.equal(rows, r.blocks.length, 'heatmap rows = blocks in the report');
    assert.equal(cols, linears.length, 'heatmap columns = linears per block in the report');
    assert.equal(
      rows * cols,
      r.blocks.reduce((n, b) => n + b.layers.length, 0),
      'one cell per (block, linear)',
    );
    assert.ok((await paintedPixels(frame, 'canvas.layer-heatmap')) > 1000, 'the per-layer heatmap is blank');
    for (const [x, y] of [
      [0, 0],
      [cols - 1, rows - 1],
      [Math.floor(cols / 2), Math.floor(rows / 2)],
    ]) {
      const l = r.blocks[y].layers[x];
      const tip = await hoverCell(frame, 'canvas.layer-heatmap', x, y);
      assert.equal(tip[0], `block ${y} · ${l.name}`);
      assert.equal(tip[1], `achieved ${fmt.pct(l.achieved)} (target ${fmt.pct(l.target)})`);
      if (l.metricBefore !== null && l.metricAfter !== null)
        assert.ok(tip[2].includes(`${fmt.metric(l.metricBefore)} → ${fmt.metric(l.metricAfter)}`), `tooltip "${tip[2]}" vs the report`);
    }
    await shot('4-panel-layer-tooltip');

    // Per-row view of block 0 (every linear, rows binned), then one linear at full resolution.
    const rowMap = frame.locator('canvas.row-heatmap');
    await waitFor(
      'the per-row heatmap (canvas.row-heatmap[data-rendered])',
      async () => (await rowMap.getAttribute('data-rendered')) !== null,
    );
    assert.equal(Number(await rowMap.getAttribute('data-cols')), linears.length);
    assert.ok((await paintedPixels(frame, 'canvas.row-heatmap')) > 1000, 'the per-row heatmap is blank');
    const bins = Number(await rowMap.getAttribute('data-rows'));
    const bin = binRows(r.blocks[0].layers[0].rowSparsity, bins)[0];
    const binTip = await hoverCell(frame, 'canvas.row-heatmap', 0, 0);
    assert.equal(binTip[0], `block 0 · ${linears[0]} · rows ${bin.start}–${bin.end - 1}`);
    assert.equal(binTip[1], `mean sparsity ${fmt.pct(bin.mean)}`);
    await shot('4-panel-rows-binned');

    const target = r.blocks[1].layers[2];
    await frame.locator('canvas.layer-heatmap').click({ position: await cellCentre(frame, 'canvas.layer-heatmap', 2, 1), force: true });
    await waitFor(`the full-resolution rows of block 1 · ${target.name}`, async () =>
      (await frame.locator('.run-primary .rows h3').innerText()).startsWith(`Rows of block 1 · ${target.name}`),
    );
    await waitFor(
      'the full-resolution row heatmap to render',
      async () =>
        Number(await frame.locator('canvas.row-heatmap').getAttribute('data-rows')) ===
        Math.ceil(target.rowSparsity.length / Number(await frame.locator('canvas.row-heatmap').getAttribute('data-cols'))),
    );
    const w = Number(await frame.locator('canvas.row-heatmap').getAttribute('data-cols'));
    const rowIndex = Math.min(target.rowSparsity.length - 1, w + 3);
    const rowTip = await hoverCell(frame, 'canvas.row-heatmap', rowIndex % w, Math.floor(rowIndex / w));
    assert.deepEqual(rowTip, [`block 1 · ${target.name} · row ${rowIndex}`, `sparsity ${fmt.pct(target.rowSparsity[rowIndex])}`]);
    await shot('4-panel-rows-full');
    const pplText = await frame.locator('.run-primary .ppl-text').innerText();
    assert.ok(
      pplText.includes(`dense ${fmt.ppl(r.perplexity.dense?.perplexity)} → pruned ${fmt.ppl(r.perplexity.pruned?.perplexity)}`),
      `perplexity line "${pplText}" vs the report`,
    );
  });

  step(5, 'a new iteration count + "Run again" gives a second run that records it', [4], async () => {
    assert.equal(report(first).options.iterations, FIRST_ITERATIONS);
    const frame = await wb.webviewFrame('panel');
    const field = frame.locator('#iterations input');
    await waitFor('the iterations field (#iterations) to be enabled', () => field.isEnabled());
    await field.fill(String(NEXT_ITERATIONS));
    const runAgain = frame.locator('#run-again');
    await waitFor('the "Run again" button (#run-again) to be enabled', async () => (await runAgain.getAttribute('disabled')) === null);
    await shot('5-run-again-form');
    await runAgain.click();
    const second = await waitRun(`a second run with parent ${first.id} in runs.json`, (r) => r.parent === first.id, 30_000);
    assert.equal(second.options.iterations, NEXT_ITERATIONS, 'the queued run carries the new iteration count');
    const progress = wb.toast(`TRIM: ${second.label}`);
    await waitFor(
      `the progress notification of the second run ("TRIM: ${second.label}")`,
      () => progress.first().isVisible(),
      60_000,
    ).catch(() => undefined);
    const finished = await waitRun(
      `run ${second.id} to finish`,
      (r) => r.id === second.id && r.status !== 'running' && r.status !== 'queued',
    );
    assert.equal(finished.status, 'done', `run ${finished.id} ended ${finished.status}: ${finished.error?.message}`);
    const rep = report(finished);
    assert.equal(rep.options.iterations, NEXT_ITERATIONS, 'trim-report.json of the second run records the new iteration count');
    assert.notEqual(finished.options.out, first.options.out, 'the second run writes its own folder');
    // The panel follows the new run.
    await waitFor(
      `the panel to show the second run "${second.label} — done"`,
      async () => (await frame.locator('.run-primary .run-title').innerText()).includes(`${second.label} — done`),
      60_000,
    );
    await waitFor(
      'the panel to show the second run from its report ("achieved sparsity" in the perplexity line)',
      async () => (await frame.locator('.run-primary .ppl-text').innerText()).includes(`achieved sparsity ${fmt.pct(rep.sparsity)}`),
      15_000,
    );
    await waitFor('the Runs view to list two runs', async () => (await wb.runsPane().locator('.monaco-list-row').count()) >= 2);
    await shot('5-second-run');
  });

  step(6, 'a run cancelled from the notification leaves no output folder', [2], async () => {
    const before = new Set(runs().map((r) => r.id));
    // More work per block so that the run is surely mid-way when Cancel is pressed.
    writeFileSync(
      join(sandbox.workspace, 'trim.config.json'),
      `${JSON.stringify(smallConfig(join(installed, 'media', 'models', 'trim-demo-qwen2-small'), { nsamples: 256, iterations: 40 }), null, 2)}\n`,
    );
    await wb.runCommand('TRIM: Prune Model');
    const run = await waitRun('a third run to be running', (r) => !before.has(r.id) && r.status === 'running', 60_000);
    const progress = wb.toast(`TRIM: ${run.label}`).filter({ has: page.locator('.monaco-progress-container') });
    await waitFor(
      `the progress notification of "${run.label}" to reach a block`,
      async () => /block \d+\/\d+/.test(await progress.first().innerText()),
      RUN_TIMEOUT,
      100,
    );
    const worker = workerPids();
    assert.ok(worker.length > 0, 'a worker process runs');
    await shot('6-before-cancel');
    await progress.first().hover();
    await progress.first().locator('.monaco-button', { hasText: 'Cancel' }).click();
    const ended = await waitRun(`run ${run.id} to be cancelled in runs.json`, (r) => r.id === run.id && r.status !== 'running', 60_000);
    assert.equal(ended.status, 'cancelled');
    assert.ok(!existsSync(ended.options.out), `the output folder remains: ${ended.options.out}`);
    assert.ok(!existsSync(partialDirFor(ended.options.out)), `the partial folder remains: ${partialDirFor(ended.options.out)}`);
    await waitFor(`the worker (pid ${worker.join(', ')}) to be gone`, () => workerPids().length === 0, 15_000);
    await waitFor('the progress notification to close', async () => (await progress.count()) === 0);
    const outs = readdirSync(join(sandbox.workspace, 'trim-out'));
    assert.deepEqual(
      outs.sort(),
      runs()
        .filter((r) => r.status === 'done')
        .map((r) => r.options.out.split('/').pop()!)
        .sort(),
      'trim-out holds the finished runs only',
    );
    await waitFor('the Runs view to show the run as cancelled', async () => (await wb.runsPane().innerText()).includes('cancelled'));
    await shot('6-cancelled');
  });

  step(7, 'an invalid value in trim.config.json shows a schema diagnostic that says what to write', [1], async () => {
    await wb.runCommand('TRIM: Create trim.config.json'); // opens the existing file
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await waitFor('trim.config.json open in an editor tab', () =>
      page.locator('.tabs-container .tab', { hasText: 'trim.config.json' }).first().isVisible(),
    );
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText('{\n"sparsity": 70,\n"iteration": 5,\n"nsamples": 16\n}');
    const squiggle = editor.locator('.squiggly-warning, .squiggly-error');
    await waitFor('a schema squiggle (.squiggly-warning/.squiggly-error) in trim.config.json', () => squiggle.first().isVisible(), 60_000);
    await wb.runCommand('View: Focus Problems (Errors, Warnings, Infos)').catch(async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+Shift+M');
    });
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: /is a fraction below 1/ });
    await waitFor('a Problems entry saying that "sparsity" is a fraction', () => problem.first().isVisible());
    await waitFor('a Problems entry suggesting "iterations"', () =>
      page
        .locator('.markers-panel .monaco-list-row', { hasText: /did you mean "iterations"/ })
        .first()
        .isVisible(),
    );
    const text = await page.locator('.markers-panel').innerText();
    assert.match(text, /trim\.config\.json/);
    assert.match(text, /sparsity is a fraction below 1: write 0\.7 for 70%, not 70\./);
    assert.match(text, /This is not an option; did you mean "iterations"\?/);
    assert.doesNotMatch(text, /exclusive maximum/);
    assert.equal(
      await page.locator('.markers-panel .monaco-list-row .codicon-error').count(),
      0,
      `only the schema warning, no syntax error: ${text}`,
    );
    await editor
      .locator('.squiggly-warning, .squiggly-error')
      .first()
      .hover({ force: true })
      .catch(() => undefined);
    await sleep(1500);
    await shot('7-schema-diagnostic');
  });
});
