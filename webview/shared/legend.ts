/** A colour legend: the scale's gradient with its domain written at both ends. */
import { gradientCss, type Scale } from './colorScale';
import * as fmt from './format';

export function legend(el: HTMLElement, scale: Scale, title: string): void {
  el.className = 'legend';
  const t = document.createElement('span');
  t.className = 'legend-title';
  t.textContent = title;
  const lo = document.createElement('span');
  lo.className = 'legend-min';
  const hi = document.createElement('span');
  hi.className = 'legend-max';
  const f = scale.mode === 'gain' ? fmt.gain : fmt.pct;
  lo.textContent = f(scale.min);
  hi.textContent = f(scale.max);
  const bar = document.createElement('span');
  bar.className = 'legend-bar';
  bar.style.background = gradientCss(scale);
  bar.setAttribute('role', 'img');
  bar.setAttribute('aria-label', `${title}: from ${lo.textContent} to ${hi.textContent}`);
  el.replaceChildren(t, lo, bar, hi);
}
