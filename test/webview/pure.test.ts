/** The parts of the webview layer that run without a browser: HTML builder, protocol, run model. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TrimReport } from '../../src/contract';
import { buildWebviewHtml, makeNonce, webviewResourceRoots } from '../../src/extension/webviewHtml';
import { applyEvent, emptyRun, parseFromWebview, runFromReport } from '../../src/webviewProtocol';
import { binRows, blockRowGrid, fullRowGrid, layerGrid, partSparsity, rowPart } from '../../webview/shared/runModel';
import { eventsFromReport } from './fixtures/synthReport';

const report: TrimReport = JSON.parse(readFileSync(join(__dirname, '../data/report-demo.json'), 'utf8'));

describe('webviewHtml', () => {
  const webview = {
    cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
    asWebviewUri: (p: string) => `https://file+.vscode-resource.vscode-cdn.net${p}`,
  };
  const join2 = (b: string, ...s: string[]) => [b, ...s].join('/');
  it('builds a page with a strict CSP, the nonce on the script, and only dist/ resources', () => {
    const nonce = makeNonce();
    const html = buildWebviewHtml({ webview, extensionUri: '/ext', joinPath: join2, kind: 'panel', nonce });
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
    assert.match(csp, /default-src 'none'/);
    assert.ok(csp.includes(`script-src 'nonce-${nonce}'`), csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.ok(
      html.includes(`<script nonce="${nonce}" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/panel.js"></script>`),
    );
    assert.ok(html.includes('href="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/panel.css"'));
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    for (const s of srcs) assert.match(s, /\/ext\/(dist|media)\//);
  });
  it('uses the sidebar bundle for the sidebar and rejects a weak nonce', () => {
    const html = buildWebviewHtml({ webview, extensionUri: '/ext', joinPath: join2, kind: 'sidebar', nonce: makeNonce() });
    assert.ok(html.includes('/ext/dist/webview/sidebar.js'));
    assert.throws(() => buildWebviewHtml({ webview, extensionUri: '/ext', joinPath: join2, kind: 'panel', nonce: 'abc' }));
    assert.notEqual(makeNonce(), makeNonce());
    assert.deepEqual(webviewResourceRoots('/ext', join2), ['/ext/dist', '/ext/media']);
  });
});

describe('webviewProtocol', () => {
  it('accepts well-formed messages from a webview and rejects the rest', () => {
    assert.deepEqual(parseFromWebview({ type: 'ready', kind: 'panel' }), { type: 'ready', kind: 'panel' });
    assert.deepEqual(
      parseFromWebview({
        type: 'runAgain',
        runId: 'a',
        overrides: { iterations: 3, sparsity: 0.6, blockSparsity: [0.5, 0.6], allocation: 'owl' },
      }),
      { type: 'runAgain', runId: 'a', overrides: { iterations: 3, sparsity: 0.6, blockSparsity: [0.5, 0.6], allocation: 'owl' } },
    );
    assert.deepEqual(parseFromWebview({ type: 'compare', runId: null }), { type: 'compare', runId: null });
    assert.deepEqual(parseFromWebview({ type: 'reveal', runId: 'a', block: 2, layer: 'q_proj' }), {
      type: 'reveal',
      runId: 'a',
      block: 2,
      layer: 'q_proj',
    });
    for (const bad of [
      null,
      3,
      {},
      { type: 'ready', kind: 'x' },
      { type: 'runAgain', runId: 'a', overrides: { sparsity: 1 } },
      { type: 'runAgain', runId: 'a', overrides: { iterations: -1 } },
      { type: 'runAgain', runId: 'a', overrides: { allocation: 'magic' } },
      { type: 'runAgain', runId: 'a', overrides: { blockSparsity: [0.5, 2] } },
      { type: 'reveal', runId: 'a', block: -1, layer: null },
      { type: 'cancel' },
    ]) {
      assert.equal(parseFromWebview(bad), null, JSON.stringify(bad));
    }
  });
  it('folds the event stream of a job into the same blocks as its report', () => {
    let run = emptyRun('j', 'job');
    const events = eventsFromReport(report);
    for (const e of events) run = applyEvent(run, e);
    assert.equal(run.status, 'done');
    assert.deepEqual(run.blocks, report.blocks);
    assert.deepEqual(run.perplexity, report.perplexity);
    // Mid-block: finished blocks plus the linears of the current one.
    let mid = emptyRun('j', 'job');
    const cut = events.findIndex((e) => e.type === 'layer' && e.block === 1) + 3;
    for (const e of events.slice(0, cut)) mid = applyEvent(mid, e);
    assert.equal(mid.blocks.length, 1);
    assert.equal(mid.current?.index, 1);
    assert.equal(mid.current?.layers.length, 3);
  });
});

describe('runModel', () => {
  const run = runFromReport('r', 'demo', report);
  it('lays out blocks × linears cells read from the report', () => {
    const g = layerGrid(run, 'sparsity');
    assert.equal(g.rows, report.blocks.length);
    assert.equal(g.cols, report.model.linears.length);
    assert.equal(g.cells.length, report.blocks.length * report.model.linears.length);
    const b = report.blocks.length - 1;
    const name = report.model.linears[2];
    const cell = g.cells.find((c) => c.block === b && c.name === name)!;
    assert.equal(cell.value, report.blocks[b].layers.find((l) => l.name === name)!.achieved);
    const gain = layerGrid(run, 'gain').cells[0];
    const l0 = report.blocks[0].layers[0];
    assert.equal(gain.value, l0.metricAfter! - l0.metricBefore!);
  });
  it('bins rows into contiguous bins whose means are the plain means of their rows', () => {
    const rows = report.blocks[0].layers[4].rowSparsity;
    const bins = binRows(rows, 64);
    assert.equal(bins.length, Math.min(64, rows.length));
    assert.equal(bins[0].start, 0);
    assert.equal(bins[bins.length - 1].end, rows.length);
    for (let i = 1; i < bins.length; i++) assert.equal(bins[i].start, bins[i - 1].end);
    for (const b of [bins[0], bins[17], bins[bins.length - 1]]) {
      const slice = rows.slice(b.start, b.end);
      assert.ok(Math.abs(b.mean - slice.reduce((a, x) => a + x, 0) / slice.length) < 1e-12);
      assert.equal(b.min, Math.min(...slice));
      assert.equal(b.max, Math.max(...slice));
    }
    const g = blockRowGrid(run, 0);
    assert.equal(g.cells.length, report.model.linears.length * g.rows);
  });
  it('shows every row of one linear at full resolution', () => {
    const l = report.blocks[1].layers[5];
    const g = fullRowGrid(l);
    assert.equal(g.cells.length, l.rows);
    assert.ok(g.cols * g.rows >= l.rows && g.cols * (g.rows - 1) < l.rows);
    const c = g.cells[l.rows - 1];
    assert.equal(c.value, l.rowSparsity[l.rows - 1]);
    assert.equal(c.y * g.cols + c.x, l.rows - 1);
  });
});

describe('issue 19: scales and protocol (pure)', () => {
  it('accepts a help request for a README section and nothing else', () => {
    assert.deepEqual(parseFromWebview({ type: 'help', section: 'reading-the-results-panel' }), {
      type: 'help',
      section: 'reading-the-results-panel',
    });
    for (const bad of [{ type: 'help' }, { type: 'help', section: '../x' }, { type: 'help', section: 'a b' }])
      assert.equal(parseFromWebview(bad), null);
  });
  it('builds a diverging target scale symmetric around 0 and a flat one for equal values', async () => {
    const { makeScale, NEUTRAL } = await import('../../webview/shared/colorScale');
    const s = makeScale('target', [-0.002, 0.001]);
    assert.deepEqual([s.min, s.max, s.lo, s.hi, s.flat], [-0.002, 0.002, '−0.20 pp', '+0.20 pp', false]);
    assert.equal(s.color(0), 'rgb(247, 247, 247)');
    const f = makeScale('target', [0, 0, 0], { achieved: [0.7, 0.7, 0.7] });
    assert.equal(f.flat, true);
    assert.equal(f.flatText, 'all 70.00% (on target)');
    assert.equal(f.color(0), `rgb(${[1, 3, 5].map((i) => parseInt(NEUTRAL.slice(i, i + 2), 16)).join(', ')})`);
    const a = makeScale('absolute', [0.5, 0.6]);
    assert.deepEqual([a.min, a.max, a.lo, a.hi], [0, 1, '0.00%', '100.00%']);
  });
  it('finds no protocol difference between a run and itself, and each one that differs', async () => {
    const { protocolDifferences } = await import('../../webview/shared/protocol');
    const a = runFromReport('a', 'a', report);
    assert.deepEqual(protocolDifferences(a, a), []);
    const c: TrimReport = structuredClone(report);
    c.options.precision = 'float16';
    c.ep = 'cuda';
    assert.deepEqual(protocolDifferences(a, runFromReport('b', 'b', c)), [
      'precision: float32 (A) vs float16 (B)',
      'device: CPU (A) vs CUDA (B)',
    ]);
  });
});

describe('issue 19: Run again overrides (pure)', () => {
  it('carries TRIM on/off, score, allocation parameters, calibration, evaluation and precision, and rejects bad shapes', () => {
    const all = {
      trim: false,
      score: 'magnitude',
      owlLambda: 0.1,
      owlM: 7,
      alphaEpsilon: 0.2,
      nsamples: 32,
      seqlen: null,
      maxEvalWindows: 60,
      precision: 'float16',
    };
    assert.deepEqual(parseFromWebview({ type: 'runAgain', runId: 'a', overrides: all }), { type: 'runAgain', runId: 'a', overrides: all });
    for (const bad of [
      { trim: 'yes' },
      { score: 'sparsegpt' },
      { owlM: 'x' },
      { nsamples: 0 },
      { seqlen: 2.5 },
      { maxEvalWindows: -1 },
      { precision: 'fp 16' },
    ]) {
      assert.equal(parseFromWebview({ type: 'runAgain', runId: 'a', overrides: bad }), null, JSON.stringify(bad));
    }
  });
});

describe('issue 19: export messages (pure)', () => {
  it('accepts a CSV or PNG export with a plain file name and nothing else', () => {
    const ok = { type: 'export', format: 'png', name: 'demo-layers.png', data: 'data:image/png;base64,iVBORw0KGgo=' };
    assert.deepEqual(parseFromWebview(ok), ok);
    assert.deepEqual(parseFromWebview({ type: 'export', format: 'csv', name: 'a.csv', data: 'block\n' }), {
      type: 'export',
      format: 'csv',
      name: 'a.csv',
      data: 'block\n',
    });
    for (const bad of [
      { ...ok, name: '../x.png' },
      { ...ok, name: 'x.csv' },
      { ...ok, data: 'data:text/html,<b>' },
      { ...ok, format: 'svg' },
      { ...ok, name: 'a/b.png' },
    ]) {
      assert.equal(parseFromWebview(bad), null, JSON.stringify(bad));
    }
  });
});

describe('fused linears (Phi-3)', () => {
  it("names the projection a row of a fused linear belongs to, from the report's linearParts", () => {
    const model = {
      ...report.model,
      linears: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'],
      linearParts: {
        qkv_proj: [
          { name: 'q', start: 0, end: 32 },
          { name: 'k', start: 32, end: 48 },
          { name: 'v', start: 48, end: 64 },
        ],
        gate_up_proj: [
          { name: 'gate', start: 0, end: 64 },
          { name: 'up', start: 64, end: 128 },
        ],
      },
    };
    const run = runFromReport('r', 'phi3', { ...report, model });
    assert.equal(rowPart(run, 'qkv_proj', 0), 'q (rows 0–31)');
    assert.equal(rowPart(run, 'qkv_proj', 47), 'k (rows 32–47)');
    assert.equal(rowPart(run, 'qkv_proj', 48), 'v (rows 48–63)');
    assert.equal(rowPart(run, 'gate_up_proj', 64), 'up (rows 64–127)');
    assert.equal(rowPart(run, 'o_proj', 3), null);
    assert.equal(rowPart(runFromReport('d', 'demo', report), 'q_proj', 0), null);
    // Each part's mean row sparsity: rows 0-31 at 0.25, 32-47 at 0.5, 48-63 at 0.75.
    const rowSparsity = Array.from({ length: 64 }, (_, r) => (r < 32 ? 0.25 : r < 48 ? 0.5 : 0.75));
    const layer = { ...report.blocks[0].layers[0], name: 'qkv_proj', rows: 64, rowSparsity };
    assert.deepEqual(
      partSparsity(run, layer).map((p) => [p.name, p.mean]),
      [
        ['q', 0.25],
        ['k', 0.5],
        ['v', 0.75],
      ],
    );
    assert.deepEqual(partSparsity(run, { ...layer, name: 'o_proj' }), []);
  });
});
