/**
 * Theme colours from the --vscode-* CSS variables VS Code sets on the document (dark, light and
 * high contrast), re-read when the body's theme class changes.
 */
export interface Theme {
  kind: 'dark' | 'light' | 'high-contrast' | 'high-contrast-light';
  foreground: string;
  muted: string;
  background: string;
  grid: string;
  focus: string;
  /** Border of cells in high-contrast themes (empty otherwise). */
  contrastBorder: string;
  font: string;
  accentA: string;
  accentB: string;
}

function css(name: string, fallback: string): string {
  const v =
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() ||
    getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export function readTheme(): Theme {
  const cl = document.body.classList;
  const kind = cl.contains('vscode-high-contrast-light')
    ? 'high-contrast-light'
    : cl.contains('vscode-high-contrast')
      ? 'high-contrast'
      : cl.contains('vscode-light')
        ? 'light'
        : 'dark';
  const hc = kind.startsWith('high-contrast');
  return {
    kind,
    foreground: css('--vscode-foreground', kind === 'light' ? '#616161' : '#cccccc'),
    muted: css('--vscode-descriptionForeground', '#888888'),
    background: css('--vscode-editor-background', kind === 'light' ? '#ffffff' : '#1e1e1e'),
    grid: css('--vscode-editorWidget-border', css('--vscode-widget-border', '#8884')),
    focus: css('--vscode-focusBorder', '#007fd4'),
    contrastBorder: hc ? css('--vscode-contrastBorder', '#6fc3df') : '',
    font: css('--vscode-font-family', 'system-ui, sans-serif'),
    accentA: css('--vscode-charts-blue', '#3794ff'),
    accentB: css('--vscode-charts-orange', '#d18616'),
  };
}

/** Calls `fn` whenever VS Code switches theme (it rewrites the body's class). */
export function onThemeChange(fn: () => void): void {
  let last = document.body.className;
  new MutationObserver(() => {
    if (document.body.className !== last) {
      last = document.body.className;
      fn();
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
