/**
 * A 7B-sized report (Qwen2.5-7B shapes: 28 blocks × 7 linears, rows up to 18944, about 1.4
 * million row values) must render in the panel; the time is printed, not asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { runFromReport } from '../../src/webviewProtocol';
import { QWEN25_7B_SHAPES, synthReport } from './fixtures/synthReport';
import { WebviewPage, type Served, startBrowser, stopBrowser } from './harness';

let browser: Browser;
let server: Served;

describe('panel with a 7B-sized report', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  it('renders the overview and a full-resolution 18944-row layer', { timeout: 180_000 }, async () => {
    const report = synthReport(QWEN25_7B_SHAPES, { seed: 7 });
    const rowValues = report.blocks.reduce((a, b) => a + b.layers.reduce((s, l) => s + l.rowSparsity.length, 0), 0);
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    // The message crosses into the page as a JSON string (Playwright's own serializer is far slower
    // on a million numbers than VS Code's postMessage); the time measured in the page is from
    // parsing the message to the end of the first render.
    const json = JSON.stringify({ type: 'run', slot: 'primary', run: runFromReport('big', 'Qwen2.5-7B · 50% · owl', report) });
    const tOverview = await w.page.evaluate(async (text) => {
      const before = Number(document.body.dataset.renders ?? '0');
      const t = performance.now();
      window.postMessage(JSON.parse(text), '*');
      while (Number(document.body.dataset.renders ?? '0') === before) await new Promise((r) => setTimeout(r, 5));
      return Math.round(performance.now() - t);
    }, json);
    await w.settle();
    const g = await w.grid('.run-primary canvas.layer-heatmap');
    assert.equal(g.rows * g.cols, 28 * 7);
    assert.ok((await w.cellColors('.run-primary canvas.layer-heatmap')).every((c) => c[3] === 255));
    const rows = await w.grid('.run-primary canvas.row-heatmap');
    assert.equal(rows.rows, 64);
    const t1 = Date.now();
    await w.clickCell('.run-primary canvas.layer-heatmap', 4, 27);
    await w.page.waitForFunction(() => document.querySelector('.run-primary .rows h3')?.textContent?.includes('full resolution'));
    await w.settle();
    const tDrill = Date.now() - t1;
    const full = await w.grid('.run-primary canvas.row-heatmap');
    assert.ok(full.cols * full.rows >= 18944);
    const colors = await w.cellColors('.run-primary canvas.row-heatmap');
    assert.ok(
      colors.slice(0, 18944).every((c) => c[3] === 255),
      'full-resolution cells blank',
    );
    console.log(
      `7B-sized report: ${rowValues} row values; overview (parse + first render, in page) ${tOverview} ms; click to gate_proj at full resolution (18944 rows) ${tDrill} ms`,
    );
    console.log(`screenshot ${await w.screenshot('panel-7b-dark')}`);
    assert.deepEqual(w.errors, []);
    await w.close();
  });
});
