/**
 * Runs the real webview bundles (dist/webview/*.js, built by scripts/build.mjs) in headless
 * Debian Chromium through playwright-core, in a page built by the real HTML builder
 * (src/extension/webviewHtml.ts, CSP and nonce included) and served over local HTTP. The page
 * gets a fake `acquireVsCodeApi` that records posted messages and keeps state across reloads
 * (sessionStorage), and a theme stylesheet with VS Code's --vscode-* variables.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../chromium';
import { buildWebviewHtml } from '../../src/extension/webviewHtml';
import type { FromWebview, ToWebview, WebviewKind } from '../../src/webviewProtocol';

export const ROOT = resolve(__dirname, '../..');
export { CHROMIUM };
export const ARTIFACTS = join(ROOT, '.artifacts', 'webview');
export type ThemeName = 'dark' | 'light' | 'high-contrast';
const BODY_CLASS: Record<ThemeName, string> = { dark: 'vscode-dark', light: 'vscode-light', 'high-contrast': 'vscode-high-contrast' };

/** Builds the bundles when a webview source is newer than them (or they are missing). */
export function ensureBuilt(): void {
  const outs = ['dist/webview/panel.js', 'dist/webview/sidebar.js', 'dist/webview/panel.css', 'dist/webview/sidebar.css'].map((p) =>
    join(ROOT, p),
  );
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const src = Math.max(newest(join(ROOT, 'webview')), statSync(join(ROOT, 'src/webviewProtocol.ts')).mtimeMs);
  if (outs.every((p) => existsSync(p) && statSync(p).mtimeMs >= src)) return;
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.map': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface Served {
  origin: string;
  close(): Promise<void>;
}

/** Serves /<kind>.html?theme=…, the extension's dist/ and media/ under /ext/, and /theme/*.css. */
export async function serve(): Promise<Served> {
  let origin = '';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, type: string, body: string | Buffer) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    const page = /^\/(panel|sidebar)\.html$/.exec(url.pathname);
    if (page) {
      const kind = page[1] as WebviewKind;
      const theme = (url.searchParams.get('theme') ?? 'dark') as ThemeName;
      let html = buildWebviewHtml<string>({
        webview: { cspSource: origin, asWebviewUri: (p) => `${origin}/ext/${p}` },
        extensionUri: '',
        joinPath: (base, ...s) => [base, ...s].filter((x) => x !== '').join('/'),
        kind,
        nonce: 'dGVzdC1ub25jZS0wMDAwMDAwMA==',
      });
      // What VS Code adds around our HTML: theme variables and the body's theme class.
      html = html
        .replace('<meta name="viewport"', `<link rel="stylesheet" href="${origin}/theme/${theme}.css">\n<meta name="viewport"`)
        .replace(`<body class="trim-${kind}">`, `<body class="trim-${kind} ${BODY_CLASS[theme]}">`);
      return send(200, 'text/html', html);
    }
    const file =
      url.pathname.startsWith('/ext/dist/') || url.pathname.startsWith('/ext/media/')
        ? join(ROOT, url.pathname.slice('/ext/'.length))
        : url.pathname.startsWith('/theme/')
          ? join(__dirname, 'themes', url.pathname.slice('/theme/'.length))
          : null;
    if (file && !file.includes('..') && existsSync(file))
      return send(200, TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file));
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, close: () => new Promise((ok) => server.close(() => ok())) };
}

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
}

/** For a describe's `before`: the bundles built (ensureBuilt), a local server and a browser. */
export async function startBrowser(): Promise<{ browser: Browser; server: Served }> {
  ensureBuilt();
  const server = await serve();
  return { server, browser: await launch() };
}

/** For its `after`: the browser and the server closed (either may be missing after a failed start). */
export async function stopBrowser(browser: Browser | undefined, server: Served | undefined): Promise<void> {
  await browser?.close();
  await server?.close();
}

/** The fake webview API: acquireVsCodeApi once per page, messages recorded, state in sessionStorage. */
const FAKE_API = `(() => {
  window.__posted = [];
  window.__problems = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__problems.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return {
      postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
      getState: () => { const s = sessionStorage.getItem('vscode-state'); return s === null ? undefined : JSON.parse(s); },
      setState: (s) => { sessionStorage.setItem('vscode-state', JSON.stringify(s)); return s; },
    };
  };
})();`;

export class WebviewPage {
  readonly errors: string[] = [];
  private constructor(
    readonly page: Page,
    readonly kind: WebviewKind,
    private readonly origin: string,
  ) {}

  static async open(
    browser: Browser,
    origin: string,
    kind: WebviewKind,
    theme: ThemeName,
    size = { width: 1280, height: 900 },
  ): Promise<WebviewPage> {
    const ctx = await browser.newContext({ viewport: size, deviceScaleFactor: 1 });
    const page = await ctx.newPage();
    await page.addInitScript(FAKE_API);
    const w = new WebviewPage(page, kind, origin);
    page.on('pageerror', (e) => w.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') w.errors.push(`console: ${m.text()}`);
    });
    await w.goto(theme);
    return w;
  }

  async goto(theme: ThemeName): Promise<void> {
    await this.page.goto(`${this.origin}/${this.kind}.html?theme=${theme}`);
    await this.waitForPosted((m) => m.type === 'ready');
  }

  async reload(): Promise<void> {
    await this.page.reload();
    await this.waitForPosted((m) => m.type === 'ready');
  }

  /** Messages the page posted to the host, in order. */
  posted(): Promise<FromWebview[]> {
    return this.page.evaluate(() => (window as unknown as { __posted: FromWebview[] }).__posted);
  }
  clearPosted(): Promise<void> {
    return this.page.evaluate(() => {
      (window as unknown as { __posted: unknown[] }).__posted.length = 0;
    });
  }
  problems(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __problems: string[] }).__problems);
  }
  state<S>(): Promise<S | null> {
    return this.page.evaluate(() => {
      const s = sessionStorage.getItem('vscode-state');
      return s === null ? null : JSON.parse(s);
    });
  }

  async waitForPosted(pred: (m: FromWebview) => boolean, timeout = 10000): Promise<FromWebview> {
    const t0 = Date.now();
    for (;;) {
      const found = (await this.posted()).find(pred);
      if (found) return found;
      if (Date.now() - t0 > timeout)
        throw new Error(`no matching message posted; got ${JSON.stringify(await this.posted()).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends host → webview messages and waits until the page has drawn them. */
  async send(...messages: ToWebview[]): Promise<void> {
    const before = await this.renders();
    await this.page.evaluate((ms) => {
      for (const m of ms) window.postMessage(m, '*');
    }, messages);
    await this.page.waitForFunction((n) => Number(document.body.dataset.renders ?? '0') > n, before);
    await this.settle();
  }

  renders(): Promise<number> {
    return this.page.evaluate(() => Number(document.body.dataset.renders ?? '0'));
  }

  /** Waits until no render is pending (two quiet animation frames and the 100 ms fallback). */
  /** Picks `value` in the dropdown #`id` (a vscode-single-select), then lets the page settle. */
  async choose(id: string, value: string): Promise<void> {
    await this.page.locator(`#${id}`).click();
    await this.page.locator(`#${id} vscode-option[value="${value}"]`).click();
    await this.settle();
  }

  async settle(): Promise<void> {
    await this.page.evaluate(
      () => new Promise<void>((ok) => setTimeout(() => requestAnimationFrame(() => requestAnimationFrame(() => ok())), 120)),
    );
  }

  /** Geometry of a heatmap canvas, from its data-* attributes. */
  async grid(selector: string): Promise<{ cols: number; rows: number; left: number; top: number; right: number; bottom: number }> {
    return this.page.$eval(selector, (c) => {
      const el = c as HTMLCanvasElement;
      const [left, top, right, bottom] = (el.dataset.area ?? '0,0,0,0').split(',').map(Number);
      return { cols: Number(el.dataset.cols), rows: Number(el.dataset.rows), left, top, right, bottom };
    });
  }

  /** RGBA at the centre of every cell (column-major within a row: index = row * cols + col). */
  async cellColors(selector: string): Promise<[number, number, number, number][]> {
    return this.page.$eval(selector, (c) => {
      const el = c as HTMLCanvasElement;
      const [left, top, right, bottom] = (el.dataset.area ?? '0,0,0,0').split(',').map(Number);
      const cols = Number(el.dataset.cols);
      const rows = Number(el.dataset.rows);
      const sx = el.width / el.clientWidth;
      const sy = el.height / el.clientHeight;
      const ctx = el.getContext('2d')!;
      const img = ctx.getImageData(0, 0, el.width, el.height).data;
      const out: [number, number, number, number][] = [];
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < cols; x++) {
          const px = Math.floor((left + ((x + 0.5) * (right - left)) / cols) * sx);
          const py = Math.floor((top + ((y + 0.5) * (bottom - top)) / rows) * sy);
          const i = (py * el.width + px) * 4;
          out.push([img[i], img[i + 1], img[i + 2], img[i + 3]]);
        }
      }
      return out;
    });
  }

  /** Scrolls the page so that cell (x, y) of a heatmap lies in the viewport (the mouse only reaches what is shown). */
  async scrollToCell(selector: string, x: number, y: number): Promise<void> {
    const g = await this.grid(selector);
    await this.page.$eval(
      selector,
      (c, [cx, cy, left, top, right, bottom, cols, rows]) => {
        const r = c.getBoundingClientRect();
        const px = r.left + left + ((cx + 0.5) * (right - left)) / cols;
        const py = r.top + top + ((cy + 0.5) * (bottom - top)) / rows;
        if (py < 0 || py > window.innerHeight || px < 0 || px > window.innerWidth) window.scrollBy(0, py - window.innerHeight / 2);
      },
      [x, y, g.left, g.top, g.right, g.bottom, g.cols, g.rows],
    );
  }

  /** Moves the mouse to the centre of cell (x, y) of a heatmap and returns the tooltip's lines. */
  async hoverCell(selector: string, x: number, y: number): Promise<string[]> {
    await this.scrollToCell(selector, x, y);
    const g = await this.grid(selector);
    const box = (await this.page.locator(selector).boundingBox())!;
    await this.page.mouse.move(
      box.x + g.left + ((x + 0.5) * (g.right - g.left)) / g.cols,
      box.y + g.top + ((y + 0.5) * (g.bottom - g.top)) / g.rows,
    );
    const tip = this.page.locator(`${selector} + .heat-tooltip`);
    await tip.waitFor({ state: 'visible' });
    return tip.locator('div').allTextContents();
  }

  async clickCell(selector: string, x: number, y: number): Promise<void> {
    await this.scrollToCell(selector, x, y);
    const g = await this.grid(selector);
    const box = (await this.page.locator(selector).boundingBox())!;
    await this.page.mouse.click(
      box.x + g.left + ((x + 0.5) * (g.right - g.left)) / g.cols,
      box.y + g.top + ((y + 0.5) * (g.bottom - g.top)) / g.rows,
    );
  }

  async screenshot(name: string): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, `${name}.png`);
    await this.page.mouse.move(0, 0);
    await this.page.screenshot({ path, fullPage: true });
    return path;
  }

  close(): Promise<void> {
    return this.page.context().close();
  }
}
