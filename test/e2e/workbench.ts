/**
 * Helpers to drive the code-server workbench from playwright, for every e2e file: polling with a
 * named wait, the command palette, notifications, the TRIM container, menus, dialogs, webview
 * frames and heatmap cells.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';

export const UI_TIMEOUT = 30_000;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value; on timeout, the error names `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeout = UI_TIMEOUT,
  every = 250,
): Promise<T> {
  const t0 = Date.now();
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeout) {
      const seen = last instanceof Error ? `; last error: ${last.message.split('\n')[0]}` : '';
      throw new Error(`timed out after ${Math.round(timeout / 1000)} s waiting for ${what}${seen}`);
    }
    await sleep(every);
  }
}

export class Workbench {
  constructor(
    public page: Page,
    readonly artifacts: string,
  ) {}

  async shot(name: string): Promise<void> {
    mkdirSync(this.artifacts, { recursive: true });
    await this.page.screenshot({ path: join(this.artifacts, `${name}.png`) });
  }

  workbench(): Locator {
    return this.page.locator('.monaco-workbench');
  }

  /**
   * Opens the command palette and types `label`; resolves once a row shows it. The palette lists
   * contributed commands once the workbench has read the extensions: with `tries` > 1 it opens the
   * palette again after each `timeout`, and the last failure leaves a screenshot.
   */
  async palette(label: string, timeout = UI_TIMEOUT, tries = 1): Promise<Locator> {
    const page = this.page;
    for (let attempt = 1; ; attempt++) {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await waitFor('the command palette input (.quick-input-widget input)', () => input.isVisible());
      await input.fill(`>${label}`);
      const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
      try {
        await waitFor(`"${label}" in the command palette`, () => row.isVisible(), timeout);
        return row;
      } catch (e) {
        if (attempt >= tries) {
          if (tries > 1) await this.shot(`palette-${label.replace(/\W+/g, '-')}`);
          throw e;
        }
      }
    }
  }

  /** Opens the command palette, types `label`, and picks the row that shows it (see `palette`). */
  async runCommand(label: string, timeout = UI_TIMEOUT, tries = 1): Promise<void> {
    await (await this.palette(label, timeout, tries)).click();
  }

  /** A row of the open quick pick whose text contains `text`. */
  quickPickRow(text: string | RegExp): Locator {
    return this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text });
  }

  toast(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text });
  }

  async toastsSeen(re: RegExp): Promise<string[]> {
    return (await this.page.evaluate(() => (window as unknown as { __toasts?: string[] }).__toasts ?? [])).filter((t) => re.test(t));
  }

  /** Records every notification text ever shown (a short toast may close between polls). */
  async watchToasts(): Promise<void> {
    // (A string: tsx's helpers such as __name do not exist in the page.)
    await this.page.evaluate(`(() => {
      const seen = window.__toasts = [];
      const scan = () => {
        document.querySelectorAll('.notifications-toasts .notification-toast').forEach((t) => {
          const s = t.innerText;
          if (s && !seen.includes(s)) seen.push(s);
        });
      };
      new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
  }

  runsPane(): Locator {
    return this.page.locator('.sidebar .pane').filter({ has: this.page.locator('.pane-header', { hasText: /^\s*Runs/i }) });
  }

  async openTrimContainer(): Promise<void> {
    const icon = this.page
      .locator('.activitybar .action-item a[aria-label^="TRIM"], .activitybar .action-item[aria-label^="TRIM"]')
      .first();
    await waitFor('the TRIM icon in the activity bar (aria-label "TRIM")', () => icon.isVisible(), 60_000);
    const pane = this.runsPane();
    // The icon toggles the side bar: after a reload the container may be restoring (then a
    // click would close it), so click only when the pane has not appeared for a while.
    for (let i = 0; i < 4; i++) {
      if (await waitFor('the Runs view', () => pane.isVisible(), 4000, 200).catch(() => false)) return;
      await icon.click();
    }
    await waitFor('the Runs view of the TRIM container', () => pane.isVisible());
  }

  /** The item of an open context menu (code-server draws menus in the DOM). */
  menuItem(label: string): Locator {
    return this.page.locator('.monaco-menu .action-item', { hasText: label }).first();
  }

  /**
   * Chooses an item of the open context menu. A click that lands while the menu is still being laid
   * out is lost and the menu stays open (seen once under load, in a CI run): then the item, still
   * shown, is chosen again from the keyboard. A chosen item closes the menu, so it runs once.
   */
  async chooseMenuItem(label: string): Promise<void> {
    const item = this.menuItem(label);
    await item.hover();
    await item.click();
    await this.page.waitForTimeout(500);
    if (await item.isVisible().catch(() => false)) {
      await item.hover();
      await this.page.keyboard.press('Enter');
    }
  }

  /** The button of a modal dialog. */
  dialogButton(label: string): Locator {
    return this.page.locator('.monaco-dialog-box .monaco-button', { hasText: label }).first();
  }

  /** The Chromium frame whose document is the given webview (body.trim-panel / body.trim-sidebar). */
  async webviewFrame(kind: 'panel' | 'sidebar'): Promise<Frame> {
    const page = this.page;
    return waitFor(`the ${kind} webview document (body.trim-${kind} in an iframe.webview)`, async () => {
      for (const f of page.frames()) {
        if (f === page.mainFrame()) continue;
        const ok = await f.evaluate((k) => document.body?.classList.contains(`trim-${k}`) ?? false, kind).catch(() => false);
        if (ok) return f;
      }
      return null;
    });
  }
}

/** Where to point at cell (x, y) of a heatmap canvas in a webview (from its data-area/cols/rows). */
export async function cellCentre(frame: Frame, canvas: string, x: number, y: number): Promise<{ x: number; y: number }> {
  const g = await frame.locator(canvas).evaluate((el) => {
    const [left, top, right, bottom] = (el as HTMLElement).dataset.area!.split(',').map(Number);
    return { left, top, right, bottom, cols: Number((el as HTMLElement).dataset.cols), rows: Number((el as HTMLElement).dataset.rows) };
  });
  return { x: g.left + ((x + 0.5) * (g.right - g.left)) / g.cols, y: g.top + ((y + 0.5) * (g.bottom - g.top)) / g.rows };
}

/** Pids of pruning workers (dist/worker.js) among `pids`. */
export function workerPidsOf(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/worker.js');
    } catch {
      return false;
    }
  });
}
