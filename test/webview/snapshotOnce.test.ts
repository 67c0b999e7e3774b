/**
 * A finished run's snapshot carries its rows once (issue 18): `blocks` holds them and `report`
 * is the report without its blocks. Measured against test/data/report-demo.json (the report as
 * written to disk: 148 KB; the snapshot used to carry every row twice, 296 KB), and the panel
 * and the sidebar still draw every cell from the one copy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import { runFromReport, type ToWebview } from '../../src/webviewProtocol';
import { WebviewPage, type Served, startBrowser, stopBrowser } from './harness';
import { distance, expectedTargetColor, layerMatrix } from './reference';

const file = readFileSync(join(__dirname, '../data/report-demo.json'), 'utf8');
const report: TrimReport = JSON.parse(file);
const B = report.blocks.length;
const L = report.model.linears.length;
const message: ToWebview = { type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) };
const count = (text: string, what: string): number => text.split(what).length - 1;

let browser: Browser;
let server: Served;

describe('a finished run crosses to the webview once', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  it('the snapshot message is the size of the report, not twice it', () => {
    const json = JSON.stringify(message);
    const bytes = Buffer.byteLength(json);
    const reportBytes = Buffer.byteLength(JSON.stringify(report));
    console.log(`snapshot message of test/data/report-demo.json: ${bytes} bytes (the report: ${reportBytes} bytes)`);
    // The header beside the report (id, label, status, the model, options and perplexities
    // again) is small; every row value crosses once: as many rowSparsity arrays as the report has.
    assert.ok(bytes <= reportBytes + 4096, `${bytes} bytes for a ${reportBytes}-byte report`);
    assert.equal(count(json, '"rowSparsity"'), count(file, '"rowSparsity"'));
    assert.equal(count(json, '"rowSparsity"'), B * L);
    assert.ok(message.type === 'run' && message.run && !('blocks' in message.run.report!));
    assert.deepEqual(message.run.blocks, report.blocks);
  });

  it("the panel draws the heatmaps and the last run's block targets from the one copy", async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    await w.send({ type: 'runs', runs: [{ id: 'run-a', label: 'demo', status: 'done' }], busy: false }, message);
    const map = '.run-primary canvas.layer-heatmap';
    const g = await w.grid(map);
    assert.deepEqual([g.rows, g.cols], [B, L]);
    const diffs = layerMatrix(report, (l) => l.achieved - l.target).flat();
    const m = Math.max(...diffs.map(Math.abs));
    const colors = await w.cellColors(map);
    diffs.forEach((d, i) =>
      assert.ok(
        colors[i][3] === 255 && distance(colors[i], expectedTargetColor(d, m)) <= 2,
        `cell ${i}: ${colors[i]} vs ${expectedTargetColor(d, m)}`,
      ),
    );
    // The row view of block 0 is drawn (rows of the one copy), every cell filled.
    const rows = await w.cellColors('.run-primary canvas.row-heatmap');
    assert.ok(rows.length > 0 && rows.every((c) => c[3] === 255));
    const targets = report.blocks.map((b) => Number((b.target * 100).toFixed(2))).join(', ');
    assert.equal(await w.page.locator('#block-sparsity').getAttribute('placeholder'), `empty = from allocation (last run: ${targets})`);
    assert.deepEqual(w.errors, []);
    await w.close();
  });

  it('the sidebar draws every cell from the one copy', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'sidebar', 'dark', { width: 300, height: 420 });
    await w.send(message);
    const g = await w.grid('canvas.layer-heatmap');
    assert.deepEqual([g.rows, g.cols], [B, L]);
    assert.ok((await w.cellColors('canvas.layer-heatmap')).every((c) => c[3] === 255));
    assert.deepEqual(w.errors, []);
    await w.close();
  });
});
