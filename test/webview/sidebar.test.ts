/** The sidebar visualization bundle (dist/webview/sidebar.js) in headless Chromium. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import { emptyRun, runFromReport, type ToWebview } from '../../src/webviewProtocol';
import { eventsFromReport } from './fixtures/synthReport';
import { WebviewPage, type Served, startBrowser, stopBrowser } from './harness';
import { distance, expectedTargetColor, layerMatrix, pct, pp } from './reference';

const report: TrimReport = JSON.parse(readFileSync(join(__dirname, '../data/report-demo.json'), 'utf8'));
const B = report.blocks.length;
const names = report.model.linears;
const L = names.length;
const MAP = 'canvas.layer-heatmap';
const SIZE = { width: 300, height: 420 };

let browser: Browser;
let server: Served;

describe('sidebar webview', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  for (const theme of ['dark', 'light', 'high-contrast'] as const) {
    it(`draws the compact per-layer heatmap of the selected run (${theme})`, async () => {
      const w = await WebviewPage.open(browser, server.origin, 'sidebar', theme, SIZE);
      await w.send({ type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
      const g = await w.grid(MAP);
      assert.equal(g.rows, B);
      assert.equal(g.cols, L);
      // The panel's default scale: achieved − target on PuOr over [−m, m].
      const diffs = layerMatrix(report, (l) => l.achieved - l.target).flat();
      const m = Math.max(...diffs.map(Math.abs));
      const colors = await w.cellColors(MAP);
      diffs.forEach((d, i) =>
        assert.ok(
          colors[i][3] === 255 && distance(colors[i], expectedTargetColor(d, m)) <= 2,
          `cell ${i}: ${colors[i]} vs ${expectedTargetColor(d, m)}`,
        ),
      );
      assert.deepEqual(
        await w.page.$eval('.legend', (e) => [e.querySelector('.legend-min')?.textContent, e.querySelector('.legend-max')?.textContent]),
        [pp(-m), pp(m)],
      );
      const l = report.blocks[1].layers[3];
      assert.deepEqual(await w.hoverCell(MAP, 3, 1), [
        `block 1 · ${names[3]}`,
        `achieved ${pct(l.achieved)} (target ${pct(l.target)})`,
        `${pp(l.achieved - l.target)} from target`,
      ]);
      assert.deepEqual(w.errors, []);
      assert.deepEqual(await w.problems(), []);
      console.log(`screenshot ${await w.screenshot(`sidebar-${theme}`)}`);
      await w.close();
    });
  }

  it('asks the host to reveal a cell on click and on Enter', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'sidebar', 'dark', SIZE);
    await w.send({ type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
    await w.clickCell(MAP, L - 1, B - 1);
    assert.deepEqual(await w.waitForPosted((m) => m.type === 'reveal'), {
      type: 'reveal',
      runId: 'run-a',
      block: B - 1,
      layer: names[L - 1],
    });
    await w.clearPosted();
    await w.page.locator(MAP).focus();
    // From the clicked cell (last linear, last block): Home → first linear, ArrowUp → one block up.
    await w.page.keyboard.press('Home');
    await w.page.keyboard.press('ArrowUp');
    await w.page.keyboard.press('Enter');
    assert.deepEqual(await w.waitForPosted((x) => x.type === 'reveal'), { type: 'reveal', runId: 'run-a', block: B - 2, layer: names[0] });
    await w.close();
  });

  it('fills in live and keeps the selected run across a reload', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'sidebar', 'dark', SIZE);
    const events = eventsFromReport(report, 'live');
    await w.send({ type: 'run', slot: 'primary', run: emptyRun('live', 'demo (running)') });
    const cut = events.findIndex((e) => e.type === 'block_end' && e.block === 1) + 1;
    await w.send(...events.slice(0, cut).map((event): ToWebview => ({ type: 'event', runId: 'live', event })));
    const filled = (await w.cellColors(MAP)).map((c) => c[3] === 255);
    assert.deepEqual(
      filled,
      Array.from({ length: B * L }, (_, i) => i < 2 * L),
    );
    assert.match((await w.page.locator('#status').textContent())!, new RegExp(`running 2/${B}`));
    console.log(`screenshot ${await w.screenshot('sidebar-live-dark')}`);
    await w.reload();
    assert.equal((await w.state<{ primaryRunId: string }>())!.primaryRunId, 'live');
    await w.close();
  });
});
