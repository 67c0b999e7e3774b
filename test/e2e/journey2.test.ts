/**
 * The journey around a run (issue 20) in a real VS Code: code-server 4.139.1 with the packaged
 * VSIX, driven through Debian's Chromium (the same setup as journey.test.ts; helpers in
 * workbench.ts).
 *
 * Steps (each a test; a later step is skipped when one it needs failed):
 *   1. "TRIM: Prune Model" offers the demo model from a Hugging Face cache laid out under the
 *      throwaway HOME ($HF_HOME/hub/models--…/snapshots/…, links into blobs/, refs/main); picking
 *      it runs to the end (the uninterrupted reference);
 *   2. the same run again, the window reloaded mid-run: the run is shown as interrupted (not
 *      cancelled), its checkpoint kept; "TRIM: Resume Run" finishes it, and its report's rows
 *      equal the uninterrupted run's;
 *   3. a click on a Runs row opens the results panel on that run;
 *   4. "Delete Checkpoint…" from the row's context menu, confirmed in the modal dialog, removes
 *      the folder from disk and the run from the list;
 *   5. the Explorer's context menu "Prune with TRIM" on a folder with config.json starts a run
 *      on it; on a folder without one it says so.
 * Screenshots: .artifacts/e2e-journey2/.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { partialDirFor, type TrimReport } from '../../src/contract';
import { layHubCache } from '../unit/hfLayout';
import { ROOT, readRuns, startCodeServer, type RunRecordLite, type Sandbox, type Server } from './codeServer';
import { EXTENSION_ID, RUN_TIMEOUT, closeSession, installVsix, journeySteps, newSandbox, openWorkbench, writeSettings } from './session';
import { Workbench, waitFor, workerPidsOf } from './workbench';

const ARTIFACTS = join(ROOT, '.artifacts', 'e2e-journey2');
const HUB_ID = 'trim-tools/trim-demo-qwen2-small';
const COMMIT = '5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed';
/**
 * No model: "Prune Model" asks for one. Six blocks of about 6 s each on two CPU cores, so that a
 * reload after the first block's checkpoint lands mid-run.
 */
const CONFIG = { sparsity: 0.5, trim: true, iterations: 40, nsamples: 256, seqlen: 128, maxEvalWindows: 2, ep: 'cpu' };
const LABEL = `${HUB_ID} · TRIM ×40 · 50%`;
/** A Runs row drops the organisation (a narrow side bar). */
const ROW = 'trim-demo-qwen2-small · TRIM ×40 · 50%';

let sandbox: Sandbox;
let server: Server | null = null;
let context: BrowserContext | null = null;
let page: Page;
let wb: Workbench;
let snapshot: string;

const step = journeySteps(
  () => server !== null,
  (name) => wb.shot(name),
  2 * RUN_TIMEOUT + 120_000,
);

const runs = (): RunRecordLite[] => readRuns(sandbox, EXTENSION_ID);
const report = (r: RunRecordLite): TrimReport => JSON.parse(readFileSync(r.reportPath!, 'utf8')) as TrimReport;
const waitRun = (what: string, pred: (r: RunRecordLite) => boolean, timeout = RUN_TIMEOUT): Promise<RunRecordLite> =>
  waitFor(what, () => runs().find(pred) ?? null, timeout, 250);
const finished = (r: RunRecordLite): boolean => r.status !== 'running' && r.status !== 'queued';
const workerPids = (): number[] => (server ? workerPidsOf(server.groupPids()) : []);
const nextBlock = (out: string): number => {
  try {
    return (JSON.parse(readFileSync(join(partialDirFor(out), '.trim-resume', 'state.json'), 'utf8')) as { nextBlock: number }).nextBlock;
  } catch {
    return -1;
  }
};

/** "TRIM: Prune Model", then the cached model in the picker. */
async function pruneCachedModel(): Promise<void> {
  await wb.runCommand('TRIM: Prune Model');
  const row = wb.quickPickRow(HUB_ID).first();
  await waitFor(`"${HUB_ID}" among the models of the picker`, () => row.isVisible(), 60_000);
  await row.click();
}

describe('the journey around a run (code-server + Chromium)', { concurrency: false }, () => {
  let first: RunRecordLite;
  let second: RunRecordLite;

  before(async () => {
    sandbox = newSandbox(ARTIFACTS, 'trim-e2e2-');
    // The cache where huggingface_hub puts models for a user with HF_HOME set, under the throwaway HOME.
    sandbox.env.HF_HOME = join(sandbox.home, '.cache', 'huggingface');
    // journey.test.ts (run before this file) packages the VSIX; it is reused when no bundle is newer.
    const installed = installVsix(sandbox, true);
    const demo = join(installed, 'media', 'models', 'trim-demo-qwen2-small');
    snapshot = layHubCache(join(sandbox.env.HF_HOME, 'hub'), HUB_ID, demo, COMMIT);
    writeFileSync(join(sandbox.workspace, 'trim.config.json'), `${JSON.stringify(CONFIG, null, 2)}\n`);
    cpSync(demo, join(sandbox.workspace, 'demo-copy'), { recursive: true });
    mkdirSync(join(sandbox.workspace, 'notes'));
    writeFileSync(join(sandbox.workspace, 'notes', 'README.txt'), 'not a model\n');
    writeSettings(sandbox, { 'files.exclude': { 'trim-out': true } });
    server = await startCodeServer(sandbox, join(ARTIFACTS, 'code-server.log'));
    ({ context, page, wb } = await openWorkbench(sandbox, server, ARTIFACTS));
    await wb.watchToasts();
  });

  after(() => closeSession(sandbox, server, context, ARTIFACTS));

  step(1, '"TRIM: Prune Model" offers the demo model from the Hugging Face cache and prunes it', [], async () => {
    await wb.openTrimContainer();
    await wb.runCommand('TRIM: Prune Model');
    const row = wb.quickPickRow(HUB_ID).first();
    await waitFor(`"${HUB_ID}" among the models of the picker`, () => row.isVisible(), 60_000);
    const text = await row.innerText();
    assert.match(text, /Qwen2ForCausalLM/, `the picker names the architecture: ${text}`);
    assert.match(text, /\d+(\.\d)? MB/, `the picker gives the size: ${text}`);
    assert.ok(await wb.quickPickRow('Open folder…').first().isVisible(), 'beside "Open folder…"');
    assert.ok(await wb.quickPickRow('Download by model id…').first().isVisible(), 'and "Download by model id…"');
    await wb.shot('1-model-picker');
    await row.click();
    const running = await waitRun('the run on the cached model in runs.json', (r) => r.options.model === snapshot, 60_000);
    assert.equal(running.label, LABEL, 'the run is named model · method · target');
    first = await waitRun(`run ${running.id} to finish`, (r) => r.id === running.id && finished(r));
    assert.equal(first.status, 'done', `run ${first.id} ended ${first.status}: ${first.error?.message}`);
    const row0 = wb.runsPane().locator('.monaco-list-row').first();
    await waitFor(`the Runs row to lead with "${ROW}"`, async () => (await row0.innerText()).startsWith(ROW));
    await wb.shot('1-done');
  });

  step(2, 'a reload mid-run leaves the run interrupted; Resume finishes it with the rows of an uninterrupted run', [1], async () => {
    await pruneCachedModel();
    const running = await waitRun(
      'a second run on the cached model',
      (r) => r.id !== first.id && r.options.model === snapshot && r.status === 'running',
      60_000,
    );
    await waitFor(
      `the first block's checkpoint in ${partialDirFor(running.options.out)}`,
      () => nextBlock(running.options.out) >= 1,
      RUN_TIMEOUT,
      100,
    );
    const at = nextBlock(running.options.out);
    assert.ok(at < 6, 'the run is mid-way');
    const worker = workerPids();
    assert.ok(worker.length > 0, 'a worker process runs');
    await wb.shot('2-before-reload');
    await page.reload();
    await waitFor('the workbench after the reload', () => wb.workbench().isVisible(), 60_000);
    await wb.watchToasts();
    const ended = await waitRun(`run ${running.id} to end with the old window`, (r) => r.id === running.id && finished(r), 120_000);
    assert.equal(ended.status, 'failed', `the reloaded run is ${ended.status}, not a cancel`);
    assert.equal(ended.error?.code, 'INTERRUPTED', ended.error?.message);
    assert.ok(nextBlock(ended.options.out) >= at, 'its checkpoint is kept');
    assert.ok(!existsSync(ended.options.out), 'no output folder yet');
    await waitFor(`the worker (pid ${worker.join(', ')}) to be gone`, () => workerPids().length === 0, 30_000);
    await wb.openTrimContainer();
    await waitFor(
      'the Runs view to show the run as interrupted',
      async () => (await wb.runsPane().innerText()).includes('interrupted'),
      60_000,
    );
    await wb.shot('2-interrupted');

    await wb.runCommand('TRIM: Resume Run');
    await waitRun(`run ${running.id} to run again`, (r) => r.id === running.id && (r.status === 'running' || r.status === 'done'), 60_000);
    second = await waitRun(`run ${running.id} to finish after Resume`, (r) => r.id === running.id && finished(r));
    assert.equal(second.status, 'done', `the resumed run ended ${second.status}: ${second.error?.message}`);
    const a = report(first);
    const b = report(second);
    assert.equal(b.options.resume, true, 'the worker resumed it');
    assert.equal(b.blocks.length, a.blocks.length);
    for (let i = 0; i < a.blocks.length; i++) {
      assert.deepEqual(
        b.blocks[i].layers.map((l) => [l.name, l.achieved, l.rowSparsity]),
        a.blocks[i].layers.map((l) => [l.name, l.achieved, l.rowSparsity]),
        `block ${i}: the rows equal the uninterrupted run's`,
      );
    }
    assert.equal(b.sparsity, a.sparsity);
    assert.equal(b.perplexity.pruned?.perplexity, a.perplexity.pruned?.perplexity);
    assert.ok(!existsSync(partialDirFor(second.options.out)), 'no partial folder left');
    await wb.shot('2-resumed');
  });

  step(3, 'a click on a Runs row opens the results', [1], async () => {
    await wb.runCommand('View: Close All Editors');
    await waitFor('no editor open', async () => (await page.locator('.tabs-container .tab').count()) === 0, 10_000);
    const rows = wb.runsPane().locator('.monaco-list-row');
    const index = runs()
      .slice()
      .reverse()
      .findIndex((r) => r.id === first.id);
    const row = rows.nth(index);
    await waitFor(`row ${index} of the Runs view`, () => row.isVisible());
    await row.click();
    const frame = await wb.webviewFrame('panel');
    await waitFor(
      `the panel on "${first.label} — done"`,
      async () => (await frame.locator('.run-primary .run-title').innerText()).includes(`${first.label} — done`),
      60_000,
    );
    await waitFor(
      'the per-layer heatmap to render',
      async () => (await frame.locator('canvas.layer-heatmap').getAttribute('data-rendered')) !== null,
    );
    await wb.shot('3-row-opens-results');
  });

  step(4, 'Delete Checkpoint removes the folder from disk and the run from the list', [1], async () => {
    const out = first.options.out;
    assert.ok(existsSync(join(out, 'trim-report.json')));
    const index = runs()
      .slice()
      .reverse()
      .findIndex((r) => r.id === first.id);
    const row = wb.runsPane().locator('.monaco-list-row').nth(index);
    await row.click({ button: 'right' });
    const item = wb.menuItem('Delete Checkpoint');
    await waitFor('"Delete Checkpoint…" in the row\'s context menu', () => item.isVisible());
    await wb.chooseMenuItem('Delete Checkpoint');
    const button = wb.dialogButton('Delete');
    await waitFor('the confirmation dialog with "Delete"', () => button.isVisible());
    const dialog = await page.locator('.monaco-dialog-box').innerText();
    assert.ok(dialog.includes(out), `the dialog names the folder: ${dialog}`);
    await wb.shot('4-delete-confirmation');
    await button.click();
    await waitFor(`${out} to be removed`, () => !existsSync(out), 30_000);
    await waitFor('the run to leave runs.json', () => !runs().some((r) => r.id === first.id), 10_000);
    if (second) assert.ok(existsSync(second.options.out), "the other run's checkpoint stays");
    await wb.shot('4-deleted');
  });

  step(5, 'the Explorer\'s "Prune with TRIM" starts a run on a folder with config.json', [], async () => {
    await wb.runCommand('View: Show Explorer');
    const folder = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'notes' }).first();
    await waitFor('the folder "notes" in the Explorer', () => folder.isVisible());
    await folder.click({ button: 'right' });
    await waitFor('"Prune with TRIM" in the Explorer\'s context menu', () => wb.menuItem('Prune with TRIM').isVisible());
    await wb.chooseMenuItem('Prune with TRIM');
    await waitFor('a notice that "notes" holds no config.json', async () => (await wb.toastsSeen(/holds no config\.json/)).length > 0);

    const before = new Set(runs().map((r) => r.id));
    const model = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'demo-copy' }).first();
    await waitFor('the folder "demo-copy" in the Explorer', () => model.isVisible());
    await model.click({ button: 'right' });
    await waitFor('"Prune with TRIM" in the Explorer\'s context menu', () => wb.menuItem('Prune with TRIM').isVisible());
    await wb.shot('5-explorer-menu');
    await wb.chooseMenuItem('Prune with TRIM');
    const run = await waitRun(
      'a run on demo-copy',
      (r) => !before.has(r.id) && r.options.model === join(sandbox.workspace, 'demo-copy'),
      60_000,
    );
    assert.equal(run.label, 'demo-copy · TRIM ×40 · 50%');
    await waitRun(`run ${run.id} to start`, (r) => r.id === run.id && r.status !== 'queued', 60_000);
    await wb.runCommand('TRIM: Cancel Run');
    const ended = await waitRun(`run ${run.id} to end`, (r) => r.id === run.id && finished(r), 60_000);
    assert.ok(ended.status === 'cancelled' || ended.status === 'done', `ended ${ended.status}`);
    await wb.shot('5-explorer-run');
  });
});
