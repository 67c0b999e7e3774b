/**
 * The Layers view (dist/webview/sidebar.js) for a run that has nothing to draw — cancelled or
 * failed before a block finished, or in an earlier session — says so instead of drawing an empty
 * map with a 0–100% legend; a run with blocks is drawn again afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import { emptyRun, runFromReport } from '../../src/webviewProtocol';
import { WebviewPage, type Served, startBrowser, stopBrowser } from './harness';

const report: TrimReport = JSON.parse(readFileSync(join(__dirname, '../data/report-demo.json'), 'utf8'));
const MAP = 'canvas.layer-heatmap';
const SIZE = { width: 300, height: 420 };

let browser: Browser;
let server: Served;

describe('Layers view of a run with nothing to draw', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  it('says why instead of an empty map, then draws the next run', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'sidebar', 'dark', SIZE);
    await w.send({ type: 'run', slot: 'primary', run: { ...emptyRun('old', 'demo · TRIM ×10 · 70%'), status: 'cancelled' } });
    await w.settle();
    assert.equal(await w.page.locator(MAP).isVisible(), false, 'no map');
    const status = (await w.page.locator('#status').textContent())!;
    assert.match(status, /demo · TRIM ×10 · 70% · cancelled\. No layers to show/);
    assert.equal((await w.page.locator('body').innerText()).trim(), status.trim(), 'the message only: no legend, no axis');
    console.log(`screenshot ${await w.screenshot('sidebar-nothing-to-draw')}`);

    await w.send({
      type: 'run',
      slot: 'primary',
      run: {
        ...emptyRun('int', 'demo'),
        status: 'failed',
        error: { code: 'INTERRUPTED', message: 'VS Code closed or reloaded while this run was running.' },
      },
    });
    await w.settle();
    assert.match((await w.page.locator('#status').textContent())!, /demo · interrupted\. No layers to show: VS Code closed or reloaded/);

    await w.send({ type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
    const g = await w.grid(MAP);
    assert.equal(g.rows, report.blocks.length);
    assert.equal(await w.page.locator(MAP).isVisible(), true);
    assert.deepEqual(w.errors, []);
    await w.close();
  });
});
