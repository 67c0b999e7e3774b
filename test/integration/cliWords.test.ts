// The command line's words (issue 20, item 6), through the built dist/cli.js and the bin launcher:
// help, --version, eval's default text, the evaluation window flag and its old name, and the
// errors for a percentage given as sparsity and a misspelled flag.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, ensureBuilt, ROOT, tmp } from './cli';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const ortPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8'));
const dir = tmp('trim-cli-words-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  ensureBuilt();
  return spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
}

describe('CLI words', () => {
  it("--version: the package version and onnxruntime-node's", () => {
    const r = run(process.execPath, ['dist/cli.js', '--version']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `trim-vscode ${pkg.version} (onnxruntime-node ${ortPkg.version}, node ${process.version})`);
  });

  it('help names the command as it was invoked: node dist/cli.js, or the bin (trim)', () => {
    const r = run(process.execPath, ['dist/cli.js', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: node dist\/cli\.js \[options\] \[command\]/);
    for (const c of ['eval', 'prune', 'synth']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
    assert.match(r.stdout, /-v, --version/);
    // An installed bin is a link named trim (npm i -g, npm link) to bin/trim.js.
    assert.deepEqual(pkg.bin, { trim: 'bin/trim.js', 'trim-vscode': 'bin/trim.js' });
    const link = path.join(dir, 'trim');
    fs.symlinkSync(path.join(ROOT, 'bin', 'trim.js'), link);
    const b = run(link, ['prune', '--help']);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /^Usage: trim prune \[options\]/);
    assert.match(b.stdout, /--max-eval-windows <n>/);
    const v = run(link, ['--version']);
    assert.match(v.stdout, new RegExp(`^trim-vscode ${pkg.version.replace(/\./g, '\\.')} `));
  });

  it('eval: --model and --text default to the embedded ones; --max-windows is --max-eval-windows', () => {
    const help = run(process.execPath, ['dist/cli.js', 'eval', '--help']).stdout;
    assert.match(help, /--text <file>\s+evaluation text \(default: the embedded eval-brown\.txt\)/);
    assert.match(help, /--max-windows <n>\s+the same as --max-eval-windows/);
    const a = cli(['eval', '--max-eval-windows', '2', '--seqlen', '64', '--ep', 'cpu', '--json']);
    assert.equal(a.status, 0, a.stderr);
    const start = a.lines.find((l) => l.type === 'start') as { options: { model: string; text: string } };
    assert.equal(start.options.text, path.join(ROOT, 'media', 'data', 'eval-brown.txt'));
    assert.equal(start.options.model, path.join(ROOT, 'media', 'models', 'trim-demo-qwen2-small'));
    assert.equal(a.last.windows, 2);
    const b = cli(['eval', '--max-windows', '2', '--seqlen', '64', '--ep', 'cpu', '--json']);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(b.last.perplexity, a.last.perplexity);
    const both = cli(['eval', '--max-windows', '2', '--max-eval-windows', '3']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /^error: option '--max-windows <n>' cannot be used with option '--max-eval-windows <n>'/);
  });

  it('a percentage as sparsity says what to write; a misspelled flag gets a suggestion', () => {
    const p = cli(['prune', '--sparsity', '70', '--out', path.join(dir, 'x')]);
    assert.equal(p.status, 2);
    assert.equal(p.stderr.trim(), 'error: --sparsity: 70 is out of range [0, 1): sparsity is a fraction, write 0.7 for 70%.');
    const f = cli(['prune', '--sparsty', '0.7']);
    assert.equal(f.status, 2);
    assert.match(f.stderr, /^error: unknown option '--sparsty'\n\(Did you mean --sparsity\?\)/);
  });
});
