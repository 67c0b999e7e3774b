/**
 * Colour scales of the heatmaps. Sparsity uses viridis (perceptually uniform, readable on dark,
 * light and high-contrast themes) over the [min, max] of the values shown; the metric gain
 * (metricAfter − metricBefore) uses the diverging ColorBrewer RdBu scheme over [−m, m] with
 * m = max |gain|, so 0 sits at the neutral middle. Colours are interpolated linearly in sRGB
 * between the published stops.
 */

/** matplotlib viridis sampled at 0, 1/8, …, 1. */
export const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
/** ColorBrewer RdBu (9 classes), red = negative, blue = positive. */
export const RDBU = ['#b2182b', '#d6604d', '#f4a582', '#fddbc7', '#f7f7f7', '#d1e5f0', '#92c5de', '#4393c3', '#2166ac'];

export type ColorMode = 'sparsity' | 'gain';

export interface Scale {
  mode: ColorMode;
  min: number;
  max: number;
  stops: readonly string[];
  /** CSS colour `rgb(r, g, b)` of a value (clamped to the domain). */
  color(v: number): string;
  rgb(v: number): [number, number, number];
}

function hexRgb(h: string): [number, number, number] {
  const n = parseInt(h.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Position t in [0, 1] along the stops → rgb (rounded to integers). */
export function interpolate(stops: readonly string[], t: number): [number, number, number] {
  const c = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const f = c * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(f));
  const a = hexRgb(stops[i]);
  const b = hexRgb(stops[i + 1]);
  const u = f - i;
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * u)) as [number, number, number];
}

/** The scale for these values: the domain is their [min, max] (sparsity) or [−m, m] (gain). */
export function makeScale(mode: ColorMode, values: Iterable<number>): Scale {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) { lo = 0; hi = mode === 'gain' ? 0 : 1; }
  let min: number;
  let max: number;
  if (mode === 'gain') {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1e-9;
    min = -m; max = m;
  } else if (hi - lo < 1e-9) {
    min = lo - 0.005; max = hi + 0.005;
  } else {
    min = lo; max = hi;
  }
  const stops = mode === 'gain' ? RDBU : VIRIDIS;
  const rgb = (v: number) => interpolate(stops, (v - min) / (max - min));
  return {
    mode, min, max, stops, rgb,
    color: (v: number) => { const [r, g, b] = rgb(v); return `rgb(${r}, ${g}, ${b})`; },
  };
}

/** A CSS linear-gradient of the scale, for the legend. */
export function gradientCss(scale: Scale): string {
  return `linear-gradient(to right, ${scale.stops.join(', ')})`;
}
