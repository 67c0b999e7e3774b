import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { formatReportJson } from '../../src/core/io/reportJson';

const demo = JSON.parse(readFileSync(path.resolve(__dirname, '../data/report-demo.json'), 'utf8'));

describe('trim-report.json formatting', () => {
  it('parses back to what JSON.stringify writes (the demo report)', () => {
    const text = formatReportJson(demo);
    assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(demo)));
  });

  it('indents the top level, one member per line; row vectors stay on one line each', () => {
    const lines = formatReportJson(demo).split('\n');
    // Every top-level key of the report starts its own line, indented by two spaces.
    for (const k of Object.keys(demo))
      assert.ok(
        lines.some((l) => l.startsWith(`  "${k}": `)),
        k,
      );
    const rowLines = lines.filter((l) => l.trimStart().startsWith('"rowSparsity": ['));
    const layers = demo.blocks.reduce((a: number, b: { layers: unknown[] }) => a + b.layers.length, 0);
    assert.equal(rowLines.length, layers);
    for (const l of rowLines) assert.ok(l.trimEnd().endsWith('],') || l.trimEnd().endsWith(']'), l.slice(-40));
    // No line but the row vectors is longer than a screen.
    const long = lines.filter((l) => l.length > 160 && !l.includes('"rowSparsity"'));
    assert.deepEqual(long, []);
    assert.ok(lines.length > 100, `only ${lines.length} lines`);
  });

  it('drops and nulls what JSON.stringify drops and nulls', () => {
    const odd = {
      a: undefined,
      b: () => 1,
      c: [undefined, NaN, Infinity, -0, 'x"y\n'],
      d: new Date(0),
      e: {},
      f: [],
      g: { h: null, i: [1, [2, { j: 3 }]] },
      'k"\u2028': 1,
      l: { toJSON: () => ({ m: [1, 2] }) },
    };
    assert.deepEqual(JSON.parse(formatReportJson(odd)), JSON.parse(JSON.stringify(odd)));
  });
});
