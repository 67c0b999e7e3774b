/**
 * The GPU commands in a real VS Code (code-server 4.139.1 + Debian's Chromium, the VSIX built by
 * `npm run package`; E2E_SKIP_PACKAGE=1 reuses an existing one):
 *   1. "TRIM: Check GPU" shows the doctor's diagnosis in a notification (on a machine without an
 *      NVIDIA driver: the one line that says so, the same line `gpu doctor` prints);
 *   2. "TRIM: Set Up GPU (CUDA)" is in the command palette (not run: it downloads ~171 MiB);
 *   3. while a job runs, the status bar shows its device ("CPU" here) and why, in its tooltip.
 * Screenshots: .artifacts/e2e/gpu-*.png.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT, startCodeServer, type Sandbox, type Server } from './codeServer';
import { closeSession, installVsix, newSandbox, openWorkbench, writeSettings } from './session';
import { Workbench, waitFor } from './workbench';

const ARTIFACTS = join(ROOT, '.artifacts', 'e2e');
const hasDriver = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1'].some((f) =>
  existsSync(f),
);

let sandbox: Sandbox;
let server: Server | null = null;
let context: BrowserContext | null = null;
let page: Page;
let wb: Workbench;

const shot = (name: string): Promise<void> => wb.shot(`gpu-${name}`);

describe('the GPU in a real VS Code (code-server + Chromium)', { concurrency: false }, () => {
  before(async () => {
    // .artifacts/e2e is shared with journey.test.ts: kept, not emptied.
    sandbox = newSandbox(ARTIFACTS, 'trim-e2e-gpu-', true);
    const installed = installVsix(sandbox);
    const demo = join(installed, 'media', 'models', 'trim-demo-qwen2-small');
    // A short run on --ep auto (the CPU here), long enough to see the status-bar item.
    writeFileSync(
      join(sandbox.workspace, 'trim.config.json'),
      JSON.stringify(
        { model: demo, sparsity: 0.5, trim: true, iterations: 2, nsamples: 16, seqlen: 128, maxEvalWindows: 2, ep: 'auto' },
        null,
        2,
      ),
    );
    writeSettings(sandbox);
    server = await startCodeServer(sandbox, join(ARTIFACTS, 'code-server-gpu.log'));
    ({ context, page, wb } = await openWorkbench(sandbox, server, ARTIFACTS));
  });

  after(() => closeSession(sandbox, server, context));

  test('"TRIM: Check GPU" shows the diagnosis', { timeout: 180_000 }, async () => {
    // The TRIM container in the activity bar: the extension's contributions are loaded.
    await waitFor(
      'the TRIM icon in the activity bar',
      () =>
        page.locator('.activitybar .action-item a[aria-label^="TRIM"], .activitybar .action-item[aria-label^="TRIM"]').first().isVisible(),
      90_000,
    );
    await wb.runCommand('TRIM: Check GPU', 90_000);
    const toast = wb.toast('TRIM:').filter({ hasText: /NVIDIA driver|CUDA/ });
    const text = await waitFor(
      'the Check GPU notification',
      async () => ((await toast.first().isVisible()) ? toast.first().innerText() : null),
      60_000,
    );
    await shot('1-check');
    if (hasDriver) assert.match(text, /TRIM: (CUDA ready|CUDA cannot run)/);
    else assert.match(text, /TRIM: No NVIDIA driver: libcuda\.so\.1 was not found and there is no nvidia-smi; TRIM runs on the CPU\./);
    await page.keyboard.press('Escape');
  });

  test('"TRIM: Set Up GPU (CUDA)" is a command', { timeout: 60_000 }, async () => {
    await wb.palette('TRIM: Set Up GPU (CUDA)');
    await shot('2-setup-command');
    await page.keyboard.press('Escape');
  });

  test('while a job runs the status bar shows its device and why', { timeout: 600_000 }, async () => {
    await wb.runCommand('TRIM: Prune Model');
    const item = page
      .locator('.statusbar-item', { hasText: hasDriver ? /GiB|GPU|CPU/ : 'CPU' })
      .filter({ has: page.locator('.codicon-chip') });
    await waitFor('the device item in the status bar', () => item.first().isVisible(), 300_000);
    const label = (await item.first().locator('a, .statusbar-item-label').first().getAttribute('aria-label')) ?? '';
    await shot('3-status');
    if (!hasDriver) assert.match(label, /CPU/);
    // Gone once the job has finished.
    await waitFor('the device item to go when the job ends', async () => !(await item.first().isVisible()), 500_000, 1000);
  });
});
