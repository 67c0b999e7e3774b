/**
 * The HTML of the two webviews (results panel, sidebar visualization). Plain parameters only —
 * no runtime `vscode` import — so the webview tests build the very same page.
 *
 * Usage in the host:
 *   const view = panel.webview;
 *   view.options = { enableScripts: true, localResourceRoots: webviewResourceRoots(ctx.extensionUri, vscode.Uri.joinPath) };
 *   view.html = buildWebviewHtml({ webview: view, extensionUri: ctx.extensionUri,
 *     joinPath: vscode.Uri.joinPath, kind: 'panel', nonce: makeNonce() });
 *
 * Resources come from the extension's dist/ (the bundles, and the CSS esbuild emits beside each
 * bundle) and media/; the Content-Security-Policy allows nothing else: scripts only with the
 * nonce, styles only from the extension (plus the nonce), no network. The `csp-nonce` meta is
 * where the toolkit's FAST elements read the nonce for the one <style> element they insert.
 */
import { randomBytes } from 'node:crypto';
import type { WebviewKind } from '../webviewProtocol';

/** The part of `vscode.Webview` this module needs. */
export interface WebviewLike<U> {
  readonly cspSource: string;
  asWebviewUri(localResource: U): { toString(): string };
}

export interface WebviewHtmlOptions<U> {
  webview: WebviewLike<U>;
  /** The extension's root (`context.extensionUri`). */
  extensionUri: U;
  /** `vscode.Uri.joinPath`, or an equivalent. */
  joinPath: (base: U, ...segments: string[]) => U;
  kind: WebviewKind;
  /** A fresh random nonce per render (see makeNonce). */
  nonce: string;
  /** Document title (the panel's tab title is set by the host; this is for screen readers). */
  title?: string;
}

/** The folders a webview may load from: set as `localResourceRoots`. */
export function webviewResourceRoots<U>(extensionUri: U, joinPath: (base: U, ...s: string[]) => U): U[] {
  return [joinPath(extensionUri, 'dist'), joinPath(extensionUri, 'media')];
}

/** A nonce for the CSP: 128 random bits, base64 (only characters valid in a CSP source). */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

const NONCE_RE = /^[A-Za-z0-9+/=_-]{16,}$/;

export function buildWebviewHtml<U>(o: WebviewHtmlOptions<U>): string {
  if (!NONCE_RE.test(o.nonce)) throw new Error('buildWebviewHtml: the nonce must be at least 16 base64 characters');
  const uri = (...p: string[]) => escapeAttr(o.webview.asWebviewUri(o.joinPath(o.extensionUri, ...p)).toString());
  const script = uri('dist', 'webview', `${o.kind}.js`);
  const style = uri('dist', 'webview', `${o.kind}.css`);
  const src = o.webview.cspSource;
  const csp = [
    `default-src 'none'`,
    `img-src ${src} data:`,
    `font-src ${src}`,
    `style-src ${src} 'nonce-${o.nonce}'`,
    `script-src 'nonce-${o.nonce}'`,
  ].join('; ');
  const title = escapeText(o.title ?? (o.kind === 'panel' ? 'TRIM results' : 'TRIM layers'));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${o.nonce}">
<link rel="stylesheet" href="${style}" nonce="${o.nonce}">
<title>${title}</title>
</head>
<body class="trim-${o.kind}">
<div id="app" data-kind="${o.kind}"></div>
<script nonce="${o.nonce}" src="${script}"></script>
</body>
</html>
`;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
