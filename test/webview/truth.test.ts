/**
 * Issue 19, "results that tell the truth", on recorded reports in headless Chromium: fair
 * compare (protocol warning and its wording, B − A view, no self-compare, picker names, one
 * perplexity axis), TRIM's gain disabled for a run without TRIM, navigation (focus from the
 * sidebar, a row-view click selects the row), the help link. Expected numbers come from
 * test/data/report-demo.json and variants made here; expected colours from reference.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { TrimReport } from '../../src/contract';
import { runFromReport, type RunListItem, type ToWebview } from '../../src/webviewProtocol';
import { DEMO_SHAPES, synthReport } from './fixtures/synthReport';
import { WebviewPage, type Served, type ThemeName, startBrowser, stopBrowser } from './harness';
import { distance, expectedDiffColor, expectedGainColor, layerMatrix, pct, pp } from './reference';

const report: TrimReport = JSON.parse(readFileSync(join(__dirname, '../data/report-demo.json'), 'utf8'));
const B = report.blocks.length;
const names = report.model.linears;
const L = names.length;
const LAYER_A = '.run-primary canvas.layer-heatmap';
const LAYER_B = '.run-compare canvas.layer-heatmap';
const ROWS = '.run-primary canvas.row-heatmap';
const DIFF = 'canvas.diff-heatmap';

/** The same report as plain Wanda would have written it (no TRIM metrics). */
function asWanda(r: TrimReport): TrimReport {
  const c: TrimReport = structuredClone(r);
  c.options.trim = false;
  for (const b of c.blocks)
    for (const l of b.layers) {
      l.metricBefore = null;
      l.metricAfter = null;
      l.lr = null;
      l.iteration = null;
    }
  return c;
}
/** The report re-measured with a smaller protocol: 32 calibration windows, 60 evaluation windows. */
function smallerProtocol(r: TrimReport): TrimReport {
  const c: TrimReport = structuredClone(r);
  c.options.nsamples = 32;
  c.options.maxEvalWindows = 60;
  for (const k of ['dense', 'pruned'] as const) c.perplexity[k] = { ...c.perplexity[k]!, windows: 60, tokens: 60 * 512 };
  c.perplexity.pruned!.perplexity = 255.1;
  return c;
}
const other = synthReport(DEMO_SHAPES, { seed: 5, sparsity: 0.7, allocation: 'owl' });

let browser: Browser;
let server: Served;

const item = (id: string, label: string, r: TrimReport, createdAt: string): RunListItem => ({
  id,
  label,
  status: 'done',
  createdAt,
  options: r.options,
});

async function comparePage(a: TrimReport, b: TrimReport, theme: ThemeName = 'dark'): Promise<WebviewPage> {
  const w = await WebviewPage.open(browser, server.origin, 'panel', theme);
  await w.send(
    {
      type: 'runs',
      runs: [
        item('run-a', 'demo · 70% · TRIM ×10', a, '2026-12-01T10:00:00Z'),
        item('run-b', 'demo · 70% · wanda', b, '2026-12-02T11:30:00Z'),
      ],
      busy: false,
    },
    { type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo · 70% · TRIM ×10', a) },
    { type: 'run', slot: 'compare', run: runFromReport('run-b', 'demo · 70% · wanda', b) },
  );
  return w;
}

const text = (w: WebviewPage, sel: string) =>
  w.page
    .locator(sel)
    .first()
    .textContent()
    .then((t) => t ?? '');

describe('panel: fair comparison and TRIM made visible', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  it('warns, naming each difference, when the compared runs were not measured the same way', async () => {
    const b = smallerProtocol(report);
    const w = await comparePage(report, b);
    const seq = report.options.seqlen;
    const dw = report.perplexity.pruned!.windows;
    assert.equal(
      await text(w, '#protocol-warning'),
      'These runs were not measured the same way, so their numbers are not directly comparable. Differences: ' +
        `calibration windows: ${report.options.nsamples} × ${seq} tokens (A) vs 32 × ${seq} tokens (B); ` +
        `evaluation windows: ${dw} × ${seq} tokens (A) vs 60 × ${seq} tokens (B).`,
    );
    assert.equal(await w.page.locator('#protocol-warning').isVisible(), true);
    // Each run's protocol, from its report.
    const proto = await w.page.$$eval('.run-primary .protocol-list dd', (d) =>
      Object.fromEntries(d.map((x) => [(x as HTMLElement).dataset.key, x.textContent])),
    );
    assert.equal(proto.model, report.model.path);
    assert.equal(proto.calib, 'calib.txt');
    assert.equal(proto.calibWindows, `${report.options.nsamples} × ${seq} tokens`);
    assert.equal(proto.eval, 'eval-brown.txt');
    assert.equal(proto.evalWindows, `${dw} × ${seq} tokens`);
    assert.equal(proto.precision, 'float32');
    assert.equal(proto.device, report.ep.toUpperCase());
    assert.equal(proto.versions, `trim ${report.versions.trim} · onnxruntime ${report.versions.onnxruntime}`);
    console.log(`screenshot ${await w.screenshot('compare-protocol-dark')}`);
    await w.close();
    // Same protocol (TRIM vs plain Wanda of the same report): no warning.
    const same = await comparePage(report, asWanda(report));
    assert.equal(await same.page.locator('#protocol-warning').isVisible(), false);
    await same.close();
  });

  it('draws the difference B − A per layer on a diverging scale, with its values in the tooltips', async () => {
    for (const theme of ['dark', 'light', 'high-contrast'] as const) {
      const w = await comparePage(report, other, theme);
      const diffs = layerMatrix(other, (l) => l.achieved)
        .flat()
        .map((v, i) => v - layerMatrix(report, (l) => l.achieved).flat()[i]);
      const m = Math.max(...diffs.map(Math.abs));
      const g = await w.grid(DIFF);
      assert.deepEqual([g.rows, g.cols], [B, L]);
      const colors = await w.cellColors(DIFF);
      diffs.forEach((d, i) =>
        assert.ok(
          distance(colors[i], expectedDiffColor(d, m)) <= 2,
          `diff cell ${i}: ${colors[i]} vs ${expectedDiffColor(d, m).map(Math.round)}`,
        ),
      );
      const leg = await w.page.$eval('.diff .legend', (e) => [
        e.querySelector('.legend-min')?.textContent,
        e.querySelector('.legend-max')?.textContent,
      ]);
      assert.deepEqual(leg, [pp(-m), pp(m)]);
      if (theme === 'dark') {
        await w.page.locator(DIFF).scrollIntoViewIfNeeded();
        for (const [x, y] of [
          [0, 0],
          [L - 1, B - 1],
          [3, 2],
        ]) {
          const la = report.blocks[y].layers.find((l) => l.name === names[x])!;
          const lb = other.blocks[y].layers.find((l) => l.name === names[x])!;
          assert.deepEqual(await w.hoverCell(DIFF, x, y), [
            `block ${y} · ${names[x]}`,
            `B − A ${pp(lb.achieved - la.achieved)}`,
            `A ${pct(la.achieved)} · B ${pct(lb.achieved)}`,
          ]);
        }
        // Gain: B's gain − A's on RdBu.
        await w.choose('color-mode', 'gain');
        const ga = layerMatrix(report, (l) => l.metricAfter! - l.metricBefore!).flat();
        const gd = layerMatrix(other, (l) => l.metricAfter! - l.metricBefore!)
          .flat()
          .map((v, i) => v - ga[i]);
        const gm = Math.max(...gd.map(Math.abs));
        const gc = await w.cellColors(DIFF);
        gd.forEach((d, i) => assert.ok(distance(gc[i], expectedGainColor(d, gm)) <= 2, `gain diff cell ${i}`));
        console.log(`screenshot ${await w.screenshot('compare-gain-dark')}`);
        await w.choose('color-mode', 'sparsity');
      }
      await w.page.locator('.diff').scrollIntoViewIfNeeded();
      console.log(`screenshot ${await w.screenshot(`compare-${theme}`)}`);
      assert.deepEqual(w.errors, []);
      await w.close();
    }
  });

  it('never shows a run against itself: opening the compared run as A makes the old A the B', async () => {
    const w = await comparePage(report, other);
    await w.clearPosted();
    // What the host did before: primary = run-b while the compare slot still holds run-b.
    await w.send({ type: 'run', slot: 'primary', run: runFromReport('run-b', 'demo · 70% · wanda', other) });
    assert.match(await text(w, '.run-primary .run-title'), /^A: demo · 70% · wanda/);
    assert.match(await text(w, '.run-compare .run-title'), /^B: demo · 70% · TRIM ×10/);
    assert.deepEqual(await w.waitForPosted((m) => m.type === 'compare'), { type: 'compare', runId: 'run-a' });
    // The picker does not offer A itself.
    const values = await w.page.$$eval('#compare vscode-option', (o) => o.map((x) => x.getAttribute('value')));
    assert.deepEqual(values, ['', 'run-a']);
    // A host asking for B = A is refused.
    await w.clearPosted();
    await w.send({ type: 'run', slot: 'compare', run: runFromReport('run-b', 'demo · 70% · wanda', other) });
    assert.equal(await w.page.locator('.run').count(), 1);
    assert.deepEqual(await w.waitForPosted((m) => m.type === 'compare'), { type: 'compare', runId: null });
    await w.close();
  });

  it('names the runs of the picker so that two of one label are told apart', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    const small = smallerProtocol(report);
    await w.send(
      {
        type: 'runs',
        runs: [
          item('a', 'demo · 70% · wanda', report, '2026-12-01T10:00:00Z'),
          item('b', 'demo · 70% · wanda', small, '2026-12-01T10:05:00Z'),
          item('c', 'demo · 70% · wanda', report, '2026-12-01T10:05:00Z'),
          item('d', 'demo · 70% · wanda', report, '2026-12-01T10:05:00Z'),
        ],
        busy: false,
      },
      { type: 'run', slot: 'primary', run: runFromReport('a', 'demo · 70% · wanda', report) },
    );
    const labels = await w.page.$$eval('#compare vscode-option', (o) => o.map((x) => x.textContent));
    assert.deepEqual(labels, [
      'none',
      'demo · 70% · wanda · calib 32 · eval windows 60 · Dec 1, 10:05:00 (done)',
      `demo · 70% · wanda · calib ${report.options.nsamples} · eval windows all · Dec 1, 10:05:00 (done) [c]`,
      `demo · 70% · wanda · calib ${report.options.nsamples} · eval windows all · Dec 1, 10:05:00 (done) [d]`,
    ]);
    await w.close();
  });

  it('puts both perplexity charts on one axis and writes each value', async () => {
    const b = smallerProtocol(report);
    const w = await comparePage(report, b);
    const axes = await w.page.$$eval('canvas.ppl-chart', (c) => c.map((x) => Number((x as HTMLElement).dataset.axisMax)));
    const top = Math.max(report.perplexity.dense!.perplexity, report.perplexity.pruned!.perplexity, b.perplexity.pruned!.perplexity);
    assert.equal(axes.length, 2);
    assert.equal(axes[0], axes[1]);
    assert.ok(axes[0] >= top && axes[0] <= top * 1.5, `axis ${axes[0]} for values up to ${top}`);
    const tb = await text(w, '.run-compare .ppl-text');
    const change = ((b.perplexity.pruned!.perplexity / b.perplexity.dense!.perplexity - 1) * 100).toFixed(1);
    assert.equal(
      tb,
      `Perplexity: dense ${b.perplexity.dense!.perplexity.toFixed(2)} → pruned ${b.perplexity.pruned!.perplexity.toFixed(2)} (+${change}%) · achieved sparsity ${pct(b.sparsity)}`,
    );
    await w.close();
  });

  it('disables the TRIM gain colour, with a note, for a run without TRIM', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    await w.send(
      { type: 'runs', runs: [], busy: false },
      { type: 'run', slot: 'primary', run: runFromReport('w', 'demo · 70% · wanda', asWanda(report)) },
    );
    assert.equal(await w.page.locator('#color-mode vscode-option[value="gain"]').getAttribute('disabled'), '');
    assert.equal(
      await text(w, '#gain-note'),
      'TRIM gain is not available: this run was not pruned with TRIM, so no layer metric was measured. Colour shows sparsity.',
    );
    assert.equal(await w.page.locator('.run-primary .metric-frame').isVisible(), false);
    assert.match(await text(w, '.run-primary .metric-note'), /pruned without TRIM/);
    console.log(`screenshot ${await w.screenshot('panel-wanda-dark')}`);
    await w.close();
    // Comparing TRIM (A) with plain Wanda (B) by gain: B says why it has nothing, instead of an empty grid.
    const c = await comparePage(report, asWanda(report));
    await c.choose('color-mode', 'gain');
    assert.equal(await c.page.locator(LAYER_B).isVisible(), false);
    assert.match(await text(c, '.run-compare .layer-note'), /^No TRIM gain to show: this run was pruned without TRIM/);
    assert.equal(await c.page.locator(LAYER_A).isVisible(), true);
    console.log(`screenshot ${await c.screenshot('compare-gain-vs-wanda-dark')}`);
    await c.close();
  });

  it('lands on the cell the sidebar asked for, and a click in the row view selects that row', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    // The focus may arrive before the run (a panel that was just created).
    await w.page.evaluate(() => window.postMessage({ type: 'focus', runId: 'run-a', block: 4, layer: 'k_proj' }, '*'));
    await w.send({ type: 'runs', runs: [], busy: false }, { type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
    const l = report.blocks[4].layers.find((x) => x.name === 'k_proj')!;
    assert.match(await text(w, '.run-primary .rows h3'), new RegExp(`^Rows of block 4 · k_proj \\(${l.rows} rows, full resolution`));
    let st = await w.state<{ block: number; layer: string }>();
    assert.deepEqual([st!.block, st!.layer], [4, 'k_proj']);
    // And while the run is shown.
    await w.send({ type: 'focus', runId: 'run-a', block: 2, layer: 'up_proj' });
    assert.match(await text(w, '.run-primary .rows h3'), /^Rows of block 2 · up_proj /);
    // A click on a row selects it (and stays at full resolution).
    const up = report.blocks[2].layers.find((x) => x.name === 'up_proj')!;
    const g = await w.grid(ROWS);
    const [x, y] = [5, 3];
    const r = y * g.cols + x;
    await w.clickCell(ROWS, x, y);
    await w.settle();
    assert.match(await text(w, '.run-primary .rows h3'), /full resolution/);
    assert.equal(
      await text(w, '.run-primary .row-info'),
      `Selected: row ${r} · sparsity ${pct(up.rowSparsity[r])} (${pp(up.rowSparsity[r] - up.target)} from the layer's target ${pct(up.target)})`,
    );
    st = await w.state<{ block: number; layer: string; row: number }>();
    assert.equal((st as unknown as { row: number }).row, r);
    console.log(`screenshot ${await w.screenshot('panel-row-selected-dark')}`);
    // The help link asks the host for the README section.
    await w.clearPosted();
    await w.page.locator('.run-primary .layers .help summary').click();
    await w.page.locator('.run-primary .layers .help-link').click();
    assert.deepEqual(await w.waitForPosted((m) => m.type === 'help'), { type: 'help', section: 'reading-the-results-panel' });
    assert.deepEqual(w.errors, []);
    await w.close();
  });

  it("explains TRIM's gain chart in words", async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'light');
    await w.send({ type: 'runs', runs: [], busy: false }, { type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
    await w.page.locator('.run-primary .metrics .help summary').click();
    const t = await text(w, '.run-primary .metrics .help-text');
    const lrs = [...new Set(report.blocks.flatMap((b) => b.layers.map((l) => l.lr!)))].sort((a, b) => a - b);
    assert.ok(t.includes(`TRIM runs ${report.options.iterations} steps`), t);
    assert.ok(t.includes('lr 0.01 = 2 percentage points'), t);
    assert.ok(t.endsWith(`Learning rates chosen in this run: ${lrs.join(', ')}.`), t);
    await w.page.locator('.run-primary .metrics').scrollIntoViewIfNeeded();
    console.log(`screenshot ${await w.screenshot('panel-gain-chart-light')}`);
    await w.close();
  });
});

describe('panel: Run again with every option that matters', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  const schema = JSON.parse(readFileSync(join(__dirname, '../../schemas/trim.config.schema.json'), 'utf8')).properties;

  it('switches TRIM off, changes score, calibration, evaluation and precision, and posts them', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    await w.send({ type: 'runs', runs: [], busy: false }, { type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
    await w.choose('trim', 'off');
    assert.equal(await w.page.locator('#iterations').isVisible(), false, 'iterations shown with TRIM off');
    await w.choose('score', 'magnitude');
    await w.choose('allocation', 'owl');
    assert.equal(await w.page.locator('#owl-lambda').isVisible(), true);
    await w.page.locator('#owl-lambda input').fill('0.1');
    await w.page.locator('#owl-m input').fill('7');
    await w.page.locator('#nsamples input').fill('32');
    await w.page.locator('#seqlen input').fill('');
    await w.page.locator('#max-eval-windows input').fill('60');
    const precisions: string[] = schema.precision.enum;
    await w.choose('precision', precisions[precisions.length - 1]);
    console.log(`screenshot ${await w.screenshot('panel-run-again-dark')}`);
    await w.clearPosted();
    await w.page.locator('#run-again').click();
    const m = await w.waitForPosted((x) => x.type === 'runAgain');
    const o = report.options;
    assert.deepEqual(m, {
      type: 'runAgain',
      runId: 'run-a',
      overrides: {
        trim: false,
        iterations: o.iterations,
        score: 'magnitude',
        sparsity: o.sparsity,
        blockSparsity: null,
        allocation: 'owl',
        owlLambda: 0.1,
        owlM: 7,
        alphaEpsilon: o.alphaEpsilon,
        nsamples: 32,
        seqlen: null,
        maxEvalWindows: 60,
        precision: precisions[precisions.length - 1],
      },
    });
    await w.close();
  });

  it('refuses values outside the bounds of schemas/trim.config.schema.json, saying the bounds', async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    await w.send({ type: 'runs', runs: [], busy: false }, { type: 'run', slot: 'primary', run: runFromReport('run-a', 'demo', report) });
    const cases: [string, string, RegExp][] = [
      [
        '#iterations input',
        String(schema.iterations.maximum + 1),
        new RegExp(`^Iterations: a whole number from ${schema.iterations.minimum} to ${schema.iterations.maximum}\\.$`),
      ],
      [
        '#nsamples input',
        String(schema.nsamples.maximum + 1),
        new RegExp(`^Calibration windows: a whole number from ${schema.nsamples.minimum} to ${schema.nsamples.maximum}\\.$`),
      ],
      ['#nsamples input', '2.5', /^Calibration windows: a whole number/],
      [
        '#seqlen input',
        String(schema.seqlen.minimum - 1),
        new RegExp(`^Tokens per window: a whole number from ${schema.seqlen.minimum} to ${schema.seqlen.maximum}, or empty for auto\\.$`),
      ],
      [
        '#max-eval-windows input',
        '0',
        new RegExp(`^Evaluation windows: a whole number from ${schema.maxEvalWindows.minimum} or more, or empty for all\\.$`),
      ],
      // "below 1" is the schema's if/then (its words for VS Code): the exclusive maximum.
      [
        '#sparsity input',
        '100',
        new RegExp(
          `^Target sparsity \\(%\\): a percentage from ${schema.sparsity.minimum * 100} up to \\(not including\\) ${(schema.sparsity.exclusiveMaximum ?? schema.sparsity.if.minimum) * 100}\\.$`,
        ),
      ],
    ];
    for (const [sel, bad, msg] of cases) {
      const good = await w.page.locator(sel).inputValue();
      await w.page.locator(sel).fill(bad);
      await w.settle();
      assert.match((await w.page.locator('#controls-message').textContent())!, msg, `${sel} = ${bad}`);
      await w.clearPosted();
      await w.page.locator('#run-again').click({ force: true });
      await w.settle();
      assert.deepEqual(
        (await w.posted()).filter((x) => x.type === 'runAgain'),
        [],
        `${sel} = ${bad} was posted`,
      );
      await w.page.locator(sel).fill(good);
      await w.settle();
      assert.equal(await w.page.locator('#controls-message').textContent(), '', `${sel} = ${good} refused`);
    }
    // OWL's λ, only shown with OWL.
    await w.choose('allocation', 'owl');
    await w.page.locator('#owl-lambda input').fill(String(schema.owlLambda.maximum + 0.1));
    await w.settle();
    assert.equal(
      await w.page.locator('#controls-message').textContent(),
      `OWL λ: a number from ${schema.owlLambda.minimum} to ${schema.owlLambda.maximum}.`,
    );
    await w.close();
  });
});

describe('panel: a TRIM run against its baseline', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));

  // Recorded with: node dist/cli.js prune --trim --baseline --nsamples 16 --seqlen 128 --max-eval-windows 16 --ep cpu (demo model).
  const rec: TrimReport = JSON.parse(readFileSync(join(__dirname, 'fixtures/report-demo-baseline.json'), 'utf8'));

  it('reads dense, baseline and TRIM with the difference, and the baseline per layer', async () => {
    for (const theme of ['dark', 'light', 'high-contrast'] as const) {
      const w = await WebviewPage.open(browser, server.origin, 'panel', theme);
      await w.send(
        { type: 'runs', runs: [], busy: false },
        { type: 'run', slot: 'primary', run: runFromReport('t', 'demo · 70% · TRIM ×10', rec) },
      );
      const d = rec.perplexity.dense!.perplexity;
      const b = rec.baseline!.perplexity!.perplexity;
      const q = rec.perplexity.pruned!.perplexity;
      const rel = (q / b - 1) * 100;
      assert.equal(
        await text(w, '.run-primary .ppl-text'),
        `Perplexity: dense ${d.toFixed(2)} → pruned ${q.toFixed(2)} with TRIM; baseline (${rec.baseline!.score}, TRIM off, same protocol) ${b.toFixed(2)} (TRIM ${rel >= 0 ? '+' : '−'}${Math.abs(rel).toFixed(1)}% vs baseline) · achieved sparsity ${pct(rec.sparsity)}`,
      );
      // The bars, in order: dense, baseline, TRIM.
      assert.equal(await w.page.$eval('canvas.ppl-chart', (c) => c.getAttribute('aria-label')), await text(w, '.run-primary .ppl-text'));
      const axis = Number(await w.page.$eval('canvas.ppl-chart', (c) => (c as HTMLElement).dataset.axisMax));
      assert.ok(axis >= Math.max(d, b, q) && axis <= 1.5 * Math.max(d, b, q), String(axis));
      if (theme === 'dark') {
        const l = rec.blocks[3].layers[6];
        const bl = rec.baseline!.blocks[3].layers.find((x) => x.name === l.name)!;
        const tip = await w.hoverCell(LAYER_A, 6, 3);
        assert.ok(tip.includes(`baseline (TRIM off) ${pct(bl.achieved)} (${pp(l.achieved - bl.achieved)} with TRIM)`), tip.join(' | '));
      }
      console.log(`screenshot ${await w.screenshot(`panel-baseline-${theme}`)}`);
      assert.deepEqual(w.errors, []);
      await w.close();
    }
  });
});

describe('panel: exports', () => {
  before(async () => ({ browser, server } = await startBrowser()));
  after(() => stopBrowser(browser, server));
  const rec: TrimReport = JSON.parse(readFileSync(join(__dirname, 'fixtures/report-demo-baseline.json'), 'utf8'));

  it("saves the per-layer table as CSV with the report's numbers, and each heatmap as a PNG of its size", async () => {
    const w = await WebviewPage.open(browser, server.origin, 'panel', 'dark');
    await w.send(
      { type: 'runs', runs: [], busy: false },
      { type: 'run', slot: 'primary', run: runFromReport('t', 'demo · 70% · TRIM ×10', rec) },
    );
    await w.clearPosted();
    await w.page.locator('#primary-export-csv').click();
    const csv = (await w.waitForPosted((m) => m.type === 'export')) as Extract<
      import('../../src/webviewProtocol').FromWebview,
      { type: 'export' }
    >;
    assert.equal(csv.format, 'csv');
    assert.equal(csv.name, 'demo-70pct-TRIM-x10-layers.csv');
    const lines = csv.data.trimEnd().split('\n');
    assert.equal(
      lines[0],
      'block,linear,rows,cols,target,achieved,achieved_minus_target_pp,metric,metric_before,metric_after,gain,lr,best_iteration,baseline_achieved,seconds',
    );
    assert.equal(lines.length, 1 + B * L);
    const rows = lines.slice(1).map((l) => l.split(','));
    rec.blocks.forEach((b, bi) =>
      b.layers.forEach((l, li) => {
        const r = rows[bi * b.layers.length + li];
        const bl = rec.baseline!.blocks[bi].layers.find((x) => x.name === l.name)!.achieved;
        assert.deepEqual(r.slice(0, 2), [String(b.index), l.name]);
        assert.deepEqual(r.slice(2, 7).map(Number), [l.rows, l.cols, l.target, l.achieved, (l.achieved - l.target) * 100]);
        assert.equal(r[7], rec.options.layerMetric);
        assert.deepEqual(
          [Number(r[8]), Number(r[9]), Number(r[10]), Number(r[11]), Number(r[12]), Number(r[13])],
          [l.metricBefore, l.metricAfter, l.metricAfter! - l.metricBefore!, l.lr, l.iteration, bl],
        );
      }),
    );
    for (const [button, name] of [
      ['#primary-export-layers-png', 'demo-70pct-TRIM-x10-layers.png'],
      ['#primary-export-rows-png', 'demo-70pct-TRIM-x10-block0-rows.png'],
    ]) {
      await w.clearPosted();
      await w.page.locator(button).click();
      const png = (await w.waitForPosted((m) => m.type === 'export')) as Extract<
        import('../../src/webviewProtocol').FromWebview,
        { type: 'export' }
      >;
      assert.equal(png.format, 'png');
      assert.equal(png.name, name);
      const bytes = Buffer.from(png.data.slice('data:image/png;base64,'.length), 'base64');
      assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'not a PNG');
      const sel = button.includes('layers') ? LAYER_A : ROWS;
      const size = await w.page.$eval(sel, (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
      assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], size);
    }
    await w.close();
  });
});
