/**
 * A colour legend: what the colour means, the scale's gradient with its domain written at both
 * ends, or — when every value is the same — one neutral swatch and the "all …" text.
 */
import { gradientCss, type Scale } from './colorScale';

export function legend(el: HTMLElement, scale: Scale, title = scale.title): void {
  el.className = 'legend';
  el.dataset.kind = scale.kind;
  el.dataset.flat = String(scale.flat);
  const t = document.createElement('span');
  t.className = 'legend-title';
  t.textContent = title;
  const bar = document.createElement('span');
  bar.className = 'legend-bar';
  bar.style.background = gradientCss(scale);
  bar.setAttribute('role', 'img');
  if (scale.flat) {
    bar.classList.add('legend-swatch');
    const f = document.createElement('span');
    f.className = 'legend-flat';
    f.textContent = scale.flatText ?? '';
    bar.setAttribute('aria-label', `${title}: ${f.textContent}`);
    el.replaceChildren(t, bar, f);
    return;
  }
  const lo = document.createElement('span');
  lo.className = 'legend-min';
  const hi = document.createElement('span');
  hi.className = 'legend-max';
  lo.textContent = scale.lo;
  hi.textContent = scale.hi;
  bar.setAttribute('aria-label', `${title}: from ${lo.textContent} to ${hi.textContent}`);
  el.replaceChildren(t, lo, bar, hi);
}
