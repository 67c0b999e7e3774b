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
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  ROOT,
  checkSetup,
  installExtension,
  makeSandbox,
  startCodeServer,
  type Sandbox,
  type Server,
} from './codeServer';

const EXTENSION_ID = 'trim-tools.trim-vscode';
const ARTIFACTS = join(ROOT, '.artifacts', 'e2e');
const VSIX = join(ROOT, 'trim-vscode-linux-x64.vsix');
const UI_TIMEOUT = 30_000;
const hasDriver = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1'].some((f) =>
  existsSync(f),
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeout = UI_TIMEOUT,
  every = 200,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
    } catch {
      // retried
    }
    if (Date.now() - t0 > timeout) throw new Error(`timed out after ${Math.round(timeout / 1000)} s waiting for ${what}`);
    await sleep(every);
  }
}

let sandbox: Sandbox;
let server: Server | null = null;
let context: BrowserContext | null = null;
let page: Page;

async function shot(name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `gpu-${name}.png`) });
}

async function palette(label: string, timeout = UI_TIMEOUT): Promise<void> {
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await waitFor('the command palette input', () => input.isVisible());
  await input.fill(`>${label}`);
  await waitFor(
    `"${label}" in the command palette`,
    () => page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().isVisible(),
    timeout,
  );
}

async function runCommand(label: string, timeout = UI_TIMEOUT): Promise<void> {
  await palette(label, timeout);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().click();
}

describe('the GPU in a real VS Code (code-server + Chromium)', { concurrency: false }, () => {
  before(async () => {
    checkSetup();
    mkdirSync(ARTIFACTS, { recursive: true });
    sandbox = makeSandbox(mkdtempSync(join(tmpdir(), 'trim-e2e-gpu-')));
    if (process.env.E2E_SKIP_PACKAGE !== '1' || !existsSync(VSIX)) {
      execFileSync('npm', ['run', 'package'], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 300_000,
        env: { ...process.env, npm_config_logs_dir: join(sandbox.dir, 'npm-logs') },
      });
    }
    const installed = installExtension(sandbox, VSIX, EXTENSION_ID);
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
    mkdirSync(join(sandbox.userData, 'User'), { recursive: true });
    writeFileSync(
      join(sandbox.userData, 'User', 'settings.json'),
      JSON.stringify({
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'security.workspace.trust.enabled': false,
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'chat.disableAIFeatures': true,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
      }),
    );
    server = await startCodeServer(sandbox, join(ARTIFACTS, 'code-server-gpu.log'));
    context = await chromium.launchPersistentContext(join(sandbox.dir, 'chromium'), {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      env: sandbox.env as Record<string, string>,
      viewport: { width: 1600, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(UI_TIMEOUT);
    await page.goto(server.url);
    await waitFor('the workbench', () => page.locator('.monaco-workbench').isVisible(), 60_000);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await server?.stop();
    if (sandbox) rmSync(sandbox.dir, { recursive: true, force: true, maxRetries: 5 });
  });

  test('"TRIM: Check GPU" shows the diagnosis', { timeout: 180_000 }, async () => {
    // The TRIM container in the activity bar: the extension's contributions are loaded.
    await waitFor(
      'the TRIM icon in the activity bar',
      () =>
        page.locator('.activitybar .action-item a[aria-label^="TRIM"], .activitybar .action-item[aria-label^="TRIM"]').first().isVisible(),
      90_000,
    );
    await runCommand('TRIM: Check GPU', 90_000);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'TRIM:' }).filter({ hasText: /NVIDIA driver|CUDA/ });
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
    await palette('TRIM: Set Up GPU (CUDA)');
    await shot('2-setup-command');
    await page.keyboard.press('Escape');
  });

  test('while a job runs the status bar shows its device and why', { timeout: 600_000 }, async () => {
    await runCommand('TRIM: Prune Model');
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
