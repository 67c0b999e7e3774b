/**
 * Debian's Chromium and the flags that run it headless and quiet, for the webview tests
 * (webview/harness.ts) and the e2e suite (e2e/codeServer.ts): no sandbox, no GPU, no network of
 * its own (no QUIC, background fetches, component updates or sync), no first-run page.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
