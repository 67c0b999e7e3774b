/**
 * The setup and teardown that every e2e file shares: a fresh sandbox (and artifacts folder), the
 * packaged VSIX, the user settings that keep the workbench quiet, Chromium on code-server's
 * workbench; at the end, VS Code's logs kept, everything stopped and removed, and no process of
 * code-server's group left behind. Each file keeps its own workspace (trim.config.json, models)
 * and its own steps.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, ROOT, checkSetup, installExtension, makeSandbox, type Sandbox, type Server } from './codeServer';
import { UI_TIMEOUT, Workbench, waitFor } from './workbench';

export const EXTENSION_ID = 'trim-tools.trim-vscode';
export const VSIX = join(ROOT, 'trim-vscode-linux-x64.vsix');
/** A pruning run of the demo model with small settings, on 2 shared CPU cores. */
export const RUN_TIMEOUT = Number(process.env.E2E_RUN_TIMEOUT_S ?? 420) * 1000;

/** Checks the setup, makes `artifacts` (emptied first unless `keep`), and a sandbox under tmp. */
export function newSandbox(artifacts: string, prefix: string, keep = false): Sandbox {
  checkSetup();
  if (!keep) rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  return makeSandbox(mkdtempSync(join(tmpdir(), prefix)));
}

const mtime = (p: string): number => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
};

/**
 * `npm run package`, unless E2E_SKIP_PACKAGE=1 and a VSIX exists; with `onlyWhenStale`, only where
 * there is no VSIX or a bundle is newer than it (a file run after one that packaged reuses it),
 * and never with E2E_SKIP_PACKAGE=1. npm's debug logs (npm, and vsce's `npm list`) go to the
 * sandbox, not ~/.npm/_logs.
 */
function packageVsix(sandbox: Sandbox, onlyWhenStale: boolean): void {
  const skip = process.env.E2E_SKIP_PACKAGE === '1';
  const newer = () => ['dist/extension.js', 'dist/worker.js', 'package.json'].some((f) => mtime(join(ROOT, f)) > mtime(VSIX));
  const want = onlyWhenStale ? !skip && (!existsSync(VSIX) || newer()) : !skip || !existsSync(VSIX);
  if (!want) return;
  execFileSync('npm', ['run', 'package'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 300_000,
    env: { ...process.env, npm_config_logs_dir: join(sandbox.dir, 'npm-logs') },
  });
}

/** The VSIX packaged (as `packageVsix` says) and installed in the sandbox; returns the installed folder. */
export function installVsix(sandbox: Sandbox, onlyWhenStale = false): string {
  packageVsix(sandbox, onlyWhenStale);
  return installExtension(sandbox, VSIX, EXTENSION_ID);
}

/** Writes the sandbox's user settings: no start page, tips, trust prompt, updates or telemetry, and `extra`. */
export function writeSettings(sandbox: Sandbox, extra: Record<string, unknown> = {}): void {
  mkdirSync(join(sandbox.userData, 'User'), { recursive: true });
  writeFileSync(
    join(sandbox.userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'security.workspace.trust.enabled': false,
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'chat.disableAIFeatures': true,
        'workbench.colorTheme': 'Default Dark Modern',
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        ...extra,
      },
      null,
      2,
    ),
  );
}

/** Chromium (its profile in the sandbox) on the server's workbench, once the workbench shows. */
export async function openWorkbench(
  sandbox: Sandbox,
  server: Server,
  artifacts: string,
): Promise<{ context: BrowserContext; page: Page; wb: Workbench }> {
  const context = await chromium.launchPersistentContext(join(sandbox.dir, 'chromium'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    env: sandbox.env as Record<string, string>,
    viewport: { width: 1600, height: 1000 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(UI_TIMEOUT);
  const wb = new Workbench(page, artifacts);
  await page.goto(server.url);
  await waitFor('the workbench (.monaco-workbench)', () => wb.workbench().isVisible(), 60_000);
  return { context, page, wb };
}

/**
 * The end of a file, also after a failure: VS Code's logs copied to `logsTo` (when given), Chromium
 * closed, code-server's process group stopped, the sandbox removed; then no process of the group
 * may remain.
 */
export async function closeSession(
  sandbox: Sandbox | undefined,
  server: Server | null,
  context: BrowserContext | null,
  logsTo?: string,
): Promise<void> {
  try {
    const logs = logsTo && sandbox && join(sandbox.userData, 'logs');
    if (logsTo && logs && existsSync(logs)) cpSync(logs, join(logsTo, 'vscode-logs'), { recursive: true });
  } catch {
    /* best effort */
  }
  await context?.close().catch(() => undefined);
  await server?.stop();
  if (sandbox) rmSync(sandbox.dir, { recursive: true, force: true, maxRetries: 5 });
  if (server) assert.deepEqual(server.groupPids(), [], 'code-server processes outlived the test');
}

/**
 * Steps of a journey: each a test, skipped when a step it needs failed or the setup did not
 * finish (`ready`); a failing step leaves a screenshot `N-FAILED` and names itself in the error.
 */
export function journeySteps(
  ready: () => boolean,
  shot: (name: string) => Promise<void>,
  defaultTimeout: number,
): (n: number, name: string, needs: number[], fn: () => Promise<void>, timeout?: number) => void {
  const failed = new Set<number>();
  return (n, name, needs, fn, timeout = defaultTimeout) => {
    test(`${n}. ${name}`, { timeout }, async (t) => {
      const missing = needs.filter((k) => failed.has(k));
      if (missing.length || !ready()) {
        failed.add(n);
        t.skip(`needs step ${missing.join(', ') || 'setup'}`);
        return;
      }
      try {
        await fn();
      } catch (e) {
        failed.add(n);
        await shot(`${n}-FAILED`).catch(() => undefined);
        (e as Error).message = `step ${n} (${name}): ${(e as Error).message}`;
        throw e;
      }
    });
  };
}
