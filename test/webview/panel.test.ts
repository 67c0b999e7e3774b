/**
 * The results panel bundle (dist/webview/panel.js) in headless Chromium: a recorded report, a
 * live event stream, tooltips, controls, keyboard, compare, reload. Every expected number is read
 * from test/data/report-demo.json; expected colours come from reference.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import { emptyRun, runFromReport, type ToWebview } from '../../src/webviewProtocol';
import { DEMO_SHAPES, eventsFromReport, synthReport } from './fixtures/synthReport';
import { WebviewPage, type Served, type ThemeName, startBrowser, stopBrowser } from './harness';
import {
  distance,
  expectedGainColor,
  expectedSparsityColor,
  expectedTargetColor,
  layerMatrix,
  NEUTRAL,
  pct,
  pp,
  PUOR_HIGH,
  PUOR_LOW,
  VIRIDIS_HIGH,
  VIRIDIS_LOW,
} from './reference';

const report: TrimReport = JSON.parse(readFileSync(join(__dirname, '../data/report-demo.json'), 'utf8'));
const B = report.blocks.length;
const names = report.model.linears;
const L = names.length;
const LAYER = '.run-primary canvas.layer-heatmap';
const ROWS = '.run-primary canvas.row-heatmap';

let browser: Browser;
let server: Served;

/** The recorded report as plain Wanda left it: no TRIM metrics, every row at its layer's target. */
function asWanda(r: TrimReport, exact: boolean): TrimReport {
  const c: TrimReport = structuredClone(r);
  c.options.trim = false;
  for (const b of c.blocks) {
    for (const l of b.layers) {
      l.metricBefore = null;
      l.metricAfter = null;
      l.lr = null;
      l.iteration = null;
      if (exact) {
        l.rowSparsity = l.rowSparsity.map(() => l.target);
        l.achieved = l.target;
      }
    }
    if (exact) b.achieved = b.target;
  }
  return c;
}
const wandaFlat = asWanda(report, true);
const wanda = asWanda(report, false);

const primary = (id = 'run-a', r = report): ToWebview[] => [
  {
    type: 'runs',
    runs: [
      { id, label: 'demo a', status: 'done' },
      { id: 'run-b', label: 'demo b', status: 'done' },
    ],
    busy: false,
  },
  { type: 'run', slot: 'primary', run: runFromReport(id, 'demo · 50% · owl', r) },
];

async function open(theme: ThemeName = 'dark'): Promise<WebviewPage> {
  const w = await WebviewPage.open(browser, server.origin, 'panel', theme);
  await w.send(...primary());
  return w;
}

/** Cells coloured by achieved − target on PuOr over [−m, m]. */
function assertTargetColours(colors: number[][], diffs: number[], m: number, what: string): void {
  assert.equal(colors.length, diffs.length);
  diffs.forEach((d, i) => {
    assert.equal(colors[i][3], 255, `${what} cell ${i} is blank`);
    const e = expectedTargetColor(d, m);
    assert.ok(distance(colors[i], e) <= 2, `${what} cell ${i}: achieved − target ${d} drawn ${colors[i]} expected ${e.map(Math.round)}`);
  });
}

/** Every row of block `b` minus its layer's target (what the row scale spans). */
function blockRowDiffs(r: TrimReport, b: number): number[] {
  return r.blocks[b].layers.flatMap((l) => l.rowSparsity.map((v) => v - l.target));
}

const maxAbs = (xs: number[]) => Math.max(...xs.map(Math.abs));

async function legendText(
  w: WebviewPage,
  sel: string,
): Promise<{ title: string; lo: string | null; hi: string | null; flat: string | null }> {
  return w.page.$eval(sel, (e) => ({
    title: e.querySelector('.legend-title')?.textContent ?? '',
    lo: e.querySelector('.legend-min')?.textContent ?? null,
    hi: e.querySelector('.legend-max')?.textContent ?? null,
    flat: e.querySelector('.legend-flat')?.textContent ?? null,
  }));
}

function assertSparsityColours(colors: number[][], values: number[], min: number, max: number, what: string): void {
  assert.equal(colors.length, values.length);
  values.forEach((v, i) => {
    assert.equal(colors[i][3], 255, `${what} cell ${i} is blank`);
    const d = distance(colors[i], expectedSparsityColor(v, min, max));
    assert.ok(d <= 2, `${what} cell ${i}: value ${v} drawn ${colors[i]} expected ${expectedSparsityColor(v, min, max).map(Math.round)}`);
  });
}

describe('panel webview', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  it('colours the per-layer heatmap by achieved − target on a diverging scale symmetric around 0, legend in pp', async () => {
    const w = await open('dark');
    const g = await w.grid(LAYER);
    assert.equal(g.rows, B);
    assert.equal(g.cols, L);
    const colors = await w.cellColors(LAYER);
    const diffs = layerMatrix(report, (l) => l.achieved - l.target).flat();
    const m = maxAbs(diffs);
    assertTargetColours(colors, diffs, m, 'layer');
    // The known extremes: the cell furthest below its target is the purple end, a cell on the
    // far side of 0 lies on the orange half (or at the neutral middle when none is above).
    const low = diffs.indexOf(Math.min(...diffs));
    if (Math.min(...diffs) === -m) assert.ok(distance(colors[low], PUOR_LOW) <= 1, `furthest below target: ${colors[low]}`);
    else assert.ok(distance(colors[diffs.indexOf(m)], PUOR_HIGH) <= 1);
    const leg = await legendText(w, '.run-primary .layers .legend');
    assert.equal(leg.lo, pp(-m));
    assert.equal(leg.hi, pp(m));
    assert.match(leg.title, /achieved − target/);
    // Perplexity from the report.
    const text = await w.page.locator('.run-primary .ppl-text').textContent();
    assert.ok(
      text!.includes(report.perplexity.dense!.perplexity.toFixed(2)) && text!.includes(report.perplexity.pruned!.perplexity.toFixed(2)),
      text!,
    );
    assert.deepEqual(w.errors, []);
    assert.deepEqual(await w.problems(), []);
    console.log(`screenshot ${await w.screenshot('panel-dark')}`);
    await w.close();
  });

  it('offers absolute 0–100% and the observed-range stretch, labelled so', async () => {
    const w = await open('dark');
    const values = layerMatrix(report, (l) => l.achieved).flat();
    await w.choose('scale', 'absolute');
    assertSparsityColours(await w.cellColors(LAYER), values, 0, 1, 'absolute');
    let leg = await legendText(w, '.run-primary .layers .legend');
    assert.deepEqual([leg.lo, leg.hi], ['0.00%', '100.00%']);
    assert.match(leg.title, /0–100%/);
    await w.choose('scale', 'range');
    const min = Math.min(...values);
    const max = Math.max(...values);
    assertSparsityColours(await w.cellColors(LAYER), values, min, max, 'range');
    assert.ok(distance((await w.cellColors(LAYER))[values.indexOf(max)], VIRIDIS_HIGH) <= 1);
    assert.ok(distance((await w.cellColors(LAYER))[values.indexOf(min)], VIRIDIS_LOW) <= 1);
    leg = await legendText(w, '.run-primary .layers .legend');
    assert.deepEqual([leg.lo, leg.hi], [pct(min), pct(max)]);
    assert.match(leg.title, /stretched to the observed range/);
    console.log(`screenshot ${await w.screenshot('panel-range-dark')}`);
    await w.choose('scale', 'target');
    await w.close();
  });

  it('draws identical values in one neutral colour and says "all 70.00%"', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'light');
    await w.send(...primary('wanda', wandaFlat));
    const colors = await w.cellColors(LAYER);
    assert.equal(colors.length, B * L);
    for (const c of colors) assert.ok(c[3] === 255 && distance(c, NEUTRAL) <= 1, `flat cell drawn ${c}`);
    const leg = await legendText(w, '.run-primary .layers .legend');
    assert.equal(leg.flat, 'all 70.00% (on target)');
    assert.equal(leg.lo, null);
    const rows = await legendText(w, '.run-primary .rows .legend');
    assert.equal(rows.flat, 'all 70.00% (on target)');
    for (const c of await w.cellColors(ROWS)) assert.ok(distance(c, NEUTRAL) <= 1, `flat row drawn ${c}`);
    await w.choose('scale', 'range');
    assert.equal((await legendText(w, '.run-primary .layers .legend')).flat, 'all 70.00%');
    for (const c of await w.cellColors(LAYER)) assert.ok(distance(c, NEUTRAL) <= 1);
    console.log(`screenshot ${await w.screenshot('panel-flat-light')}`);
    await w.close();
  });

  it('draws the binned rows of the selected block, each bin the mean of its rows, on the scale of its rows', async () => {
    const w = await open();
    const g = await w.grid(ROWS);
    const minRows = Math.min(...report.blocks[0].layers.map((l) => l.rows));
    const bins = Math.min(64, minRows);
    assert.equal(g.cols, L);
    assert.equal(g.rows, bins);
    const means: number[] = [];
    for (let y = 0; y < bins; y++) {
      for (const n of names) {
        const l = report.blocks[0].layers.find((q) => q.name === n)!;
        const rows = l.rowSparsity;
        const s = Math.floor((y * rows.length) / bins);
        const e = Math.floor(((y + 1) * rows.length) / bins);
        means.push(rows.slice(s, e).reduce((a, x) => a + x, 0) / (e - s) - l.target);
      }
    }
    // One scale for the overview and the drill-down: m over every row of the block, not the bin means.
    const m = maxAbs(blockRowDiffs(report, 0));
    assertTargetColours(await w.cellColors(ROWS), means, m, 'row bin');
    const leg = await legendText(w, '.run-primary .rows .legend');
    assert.deepEqual([leg.lo, leg.hi], [pp(-m), pp(m)]);
    const up = report.blocks[0].layers[0];
    const e0 = Math.floor(up.rows / bins);
    const tip = await w.hoverCell(ROWS, 0, 0);
    assert.equal(tip[0], `block 0 · ${up.name} · rows 0–${e0 - 1}`);
    assert.equal(tip[1], `mean sparsity ${pct(up.rowSparsity.slice(0, e0).reduce((a, x) => a + x, 0) / e0)}`);
    await w.close();
  });

  it('shows the values of a cell in its tooltip', async () => {
    const w = await open();
    for (const [x, y] of [
      [0, 0],
      [L - 1, B - 1],
      [2, Math.floor(B / 2)],
    ]) {
      const l = report.blocks[y].layers.find((q) => q.name === names[x])!;
      const tip = await w.hoverCell(LAYER, x, y);
      assert.equal(tip[0], `block ${y} · ${names[x]}`);
      assert.equal(tip[1], `achieved ${pct(l.achieved)} (target ${pct(l.target)})`);
      assert.ok(tip.includes(`${pp(l.achieved - l.target)} from target`), tip.join(' | '));
      if (l.metricBefore !== null && l.metricAfter !== null) {
        const f = (v: number) => Number(v.toPrecision(5)).toString();
        assert.ok(tip[2].startsWith(`${report.options.layerMetric} ${f(l.metricBefore)} → ${f(l.metricAfter)}`), tip[2]);
      }
      assert.ok(
        tip.some((t) => t.startsWith(`${l.rows} × ${l.cols}`)),
        tip.join(' | '),
      );
    }
    await w.close();
  });

  it('colours by TRIM metric gain on a diverging scale centred on zero', async () => {
    const w = await open('light');
    await w.choose('color-mode', 'gain');
    const gains = layerMatrix(report, (l) => l.metricAfter! - l.metricBefore!).flat();
    const m = Math.max(...gains.map(Math.abs));
    const colors = await w.cellColors(LAYER);
    gains.forEach((v, i) =>
      assert.ok(
        distance(colors[i], expectedGainColor(v, m)) <= 2,
        `gain cell ${i}: ${colors[i]} vs ${expectedGainColor(v, m).map(Math.round)}`,
      ),
    );
    // The rows still show sparsity against the target (a row has no metric of its own).
    const mr = maxAbs(blockRowDiffs(report, 0));
    const rl = await legendText(w, '.run-primary .rows .legend');
    assert.deepEqual([rl.lo, rl.hi], [pp(-mr), pp(mr)]);
    const bins = Math.min(64, ...report.blocks[0].layers.map((l) => l.rows));
    const l0 = report.blocks[0].layers.find((l) => l.name === names[0])!;
    const e0 = Math.floor(l0.rows / bins);
    const mean0 = l0.rowSparsity.slice(0, e0).reduce((a, x) => a + x, 0) / e0 - l0.target;
    assert.ok(distance((await w.cellColors(ROWS))[0], expectedTargetColor(mean0, mr)) <= 2, 'row bin 0 in the gain mode');
    console.log(`screenshot ${await w.screenshot('panel-light-gain')}`);
    await w.choose('color-mode', 'sparsity');
    await w.close();
  });

  it('"Run again" posts the overrides typed in the controls, and refuses invalid ones', async () => {
    const w = await open();
    await w.clearPosted();
    await w.page.locator('#iterations input').fill('7');
    await w.page.locator('#sparsity input').fill('60');
    const targets = report.blocks.map((_, i) => 50 + i);
    await w.page.locator('#block-sparsity input').fill(targets.join(', '));
    await w.choose('allocation', 'alpha');
    await w.page.locator('#run-again').click();
    const m = await w.waitForPosted((x) => x.type === 'runAgain');
    const o = report.options;
    assert.deepEqual(m, {
      type: 'runAgain',
      runId: 'run-a',
      overrides: {
        trim: o.trim,
        iterations: 7,
        score: o.score,
        sparsity: 0.6,
        blockSparsity: targets.map((t) => t / 100),
        allocation: 'alpha',
        owlLambda: o.owlLambda,
        owlM: o.owlM,
        alphaEpsilon: o.alphaEpsilon,
        nsamples: o.nsamples,
        seqlen: o.seqlen,
        maxEvalWindows: o.maxEvalWindows,
        precision: o.precision ?? 'float32',
      },
    });
    // Invalid: a per-block list of the wrong length disables the button and says why.
    await w.clearPosted();
    await w.page.locator('#block-sparsity input').fill('50, 60');
    await w.settle();
    assert.match((await w.page.locator('#controls-message').textContent())!, new RegExp(`give ${B} values`));
    await w.page.locator('#run-again').click({ force: true });
    await w.page.locator('#sparsity input').fill('100');
    await w.page.locator('#sparsity input').press('Enter');
    await w.settle();
    assert.deepEqual(
      (await w.posted()).filter((x) => x.type === 'runAgain'),
      [],
    );
    await w.close();
  });

  it('is keyboard reachable: Tab to the heatmap, arrows move, Enter opens a linear at full resolution', async () => {
    const w = await open();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await w.page.keyboard.press('Tab');
      reached = await w.page.evaluate(() => document.activeElement?.classList.contains('layer-heatmap') ?? false);
    }
    assert.ok(reached, 'Tab never reached the per-layer heatmap');
    await w.page.keyboard.press('ArrowRight');
    await w.page.keyboard.press('ArrowDown');
    const tip = await w.page.locator(`${LAYER} + .heat-tooltip`).locator('div').allTextContents();
    const l = report.blocks[1].layers.find((q) => q.name === names[1])!;
    assert.deepEqual(tip.slice(0, 2), [`block 1 · ${names[1]}`, `achieved ${pct(l.achieved)} (target ${pct(l.target)})`]);
    await w.page.keyboard.press('Enter');
    await w.settle();
    assert.match(
      (await w.page.locator('.run-primary .rows h3').textContent())!,
      new RegExp(`block 1 · ${names[1]} \\(${l.rows} rows, full resolution`),
    );
    const g = await w.grid(ROWS);
    assert.ok(g.cols * g.rows >= l.rows && g.cols * (g.rows - 1) < l.rows);
    const colors = (await w.cellColors(ROWS)).slice(0, l.rows);
    // The drill-down keeps the block's scale (the legend does not change).
    const m = maxAbs(blockRowDiffs(report, 1));
    assertTargetColours(
      colors,
      l.rowSparsity.map((v) => v - l.target),
      m,
      'full-resolution row',
    );
    const leg = await legendText(w, '.run-primary .rows .legend');
    assert.deepEqual([leg.lo, leg.hi], [pp(-m), pp(m)]);
    const state = await w.state<{ block: number; layer: string }>();
    assert.equal(state!.block, 1);
    assert.equal(state!.layer, names[1]);
    await w.close();
  });

  it('restores its state after a reload', async () => {
    const w = await open();
    await w.choose('color-mode', 'gain');
    await w.clickCell(LAYER, L - 2, B - 1);
    await w.page.locator('#iterations input').fill('3');
    await w.settle();
    await w.reload();
    // The fake host answers `ready` as the extension does: with the runs again.
    const state = await w.state<{ primaryRunId: string }>();
    assert.equal(state!.primaryRunId, 'run-a');
    await w.send(...primary(state!.primaryRunId));
    assert.equal(await w.page.locator('#color-mode').evaluate((e) => (e as HTMLInputElement).value), 'gain');
    assert.equal(await w.page.locator('#iterations input').inputValue(), '3');
    assert.match((await w.page.locator('.run-primary .rows h3').textContent())!, new RegExp(`block ${B - 1} · ${names[L - 2]} `));
    assert.deepEqual(w.errors, []);
    await w.close();
  });

  it('compares two runs side by side on one colour scale', async () => {
    const w = await open();
    const other = synthReport(DEMO_SHAPES, { seed: 11, sparsity: 0.6, allocation: 'uniform' });
    await w.clearPosted();
    await w.choose('compare', 'run-b');
    assert.deepEqual(await w.waitForPosted((m) => m.type === 'compare'), { type: 'compare', runId: 'run-b' });
    await w.send({ type: 'run', slot: 'compare', run: runFromReport('run-b', 'demo · 60% · uniform', other) });
    assert.equal(await w.page.locator('.run').count(), 2);
    const a = layerMatrix(report, (l) => l.achieved - l.target).flat();
    const b = layerMatrix(other, (l) => l.achieved - l.target).flat();
    const m = maxAbs([...a, ...b]);
    assertTargetColours(await w.cellColors(LAYER), a, m, 'run a');
    assertTargetColours(await w.cellColors('.run-compare canvas.layer-heatmap'), b, m, 'run b');
    // One legend text for both sides.
    const la = await legendText(w, '.run-primary .layers .legend');
    const lb = await legendText(w, '.run-compare .layers .legend');
    assert.deepEqual([la.lo, la.hi], [pp(-m), pp(m)]);
    assert.deepEqual(lb, la);
    // Rows of block 0: one scale over both runs' rows.
    const mr = maxAbs([...blockRowDiffs(report, 0), ...blockRowDiffs(other, 0)]);
    assert.deepEqual(Object.values(await legendText(w, '.run-compare .rows .legend')).slice(1, 3), [pp(-mr), pp(mr)]);
    // In absolute mode too.
    await w.choose('scale', 'absolute');
    assertSparsityColours(
      await w.cellColors('.run-compare canvas.layer-heatmap'),
      layerMatrix(other, (l) => l.achieved).flat(),
      0,
      1,
      'run b absolute',
    );
    await w.choose('scale', 'target');
    console.log(`screenshot ${await w.screenshot('panel-compare-dark')}`);
    await w.clearPosted();
    await w.choose('compare', '');
    assert.deepEqual(await w.waitForPosted((m) => m.type === 'compare'), { type: 'compare', runId: null });
    await w.close();
  });

  it('fills in live from the event stream before the report exists', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    const events = eventsFromReport(report, 'live');
    await w.send({ type: 'run', slot: 'primary', run: { ...emptyRun('live', 'demo (running)'), status: 'running' } });
    // Up to block 2 finished and three linears of block 3.
    const cut = events.findIndex((e) => e.type === 'block_start' && e.block === 3) + 4;
    await w.send(...events.slice(0, cut).map((event): ToWebview => ({ type: 'event', runId: 'live', event })));
    assert.equal(await w.page.locator('#status').textContent(), `running · 3/${B} blocks`);
    // The controls start from the run's options once its start event arrived.
    assert.equal(await w.page.locator('#iterations input').inputValue(), String(report.options.iterations));
    const g = await w.grid(LAYER);
    assert.equal(g.rows * g.cols, B * L);
    const colors = await w.cellColors(LAYER);
    const filled = colors.map((c) => c[3] === 255);
    const expectFilled = Array.from({ length: B * L }, (_, i) => i < 3 * L + 3);
    assert.deepEqual(filled, expectFilled);
    const tip = await w.hoverCell(LAYER, L - 1, B - 1);
    assert.deepEqual(tip, [`block ${B - 1} · ${names[L - 1]}`, 'not pruned yet']);
    console.log(`screenshot ${await w.screenshot('panel-live-dark')}`);
    await w.send(...events.slice(cut).map((event): ToWebview => ({ type: 'event', runId: 'live', event })));
    assert.equal(await w.page.locator('#status').textContent(), 'done');
    const diffs = layerMatrix(report, (l) => l.achieved - l.target).flat();
    assertTargetColours(await w.cellColors(LAYER), diffs, maxAbs(diffs), 'live layer');
    assert.deepEqual(w.errors, []);
    await w.close();
  });

  it('follows the high-contrast theme', async () => {
    const w = await open('high-contrast');
    const bg = await w.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(0, 0, 0)');
    const diffs = layerMatrix(report, (l) => l.achieved - l.target).flat();
    assertTargetColours(await w.cellColors(LAYER), diffs, maxAbs(diffs), 'hc layer');
    console.log(`screenshot ${await w.screenshot('panel-high-contrast')}`);
    await w.close();
  });
});
