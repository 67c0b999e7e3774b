/**
 * Colour scales of the heatmaps, chosen so that a colour never says more than the numbers do.
 *
 * Sparsity has three scales (the panel's "Scale" picker):
 *  - `target` (default): the difference achieved − target of each cell (layer: the layer's target;
 *    row: its layer's target), on the diverging ColorBrewer PuOr map symmetric around 0 — purple
 *    below the target, orange above, the neutral middle on it. Legend in percentage points.
 *  - `absolute`: achieved sparsity on viridis over the fixed domain 0–100%.
 *  - `range`: achieved sparsity on viridis stretched over [min, max] of the values shown; only when
 *    chosen, and the legend says so.
 * The TRIM metric gain (after − before) and differences between two runs (B − A) use the diverging
 * ColorBrewer RdBu (gain) or PuOr (sparsity) over [−m, m], m = max |value|.
 * When every value shown is the same, every cell gets one neutral grey and the legend says "all …":
 * a spread of zero is never stretched into a colour ramp.
 * Colours are interpolated linearly in sRGB between the published stops.
 */
import * as fmt from './format';

/** matplotlib viridis sampled at 0, 1/8, …, 1. */
export const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
/** ColorBrewer RdBu (9 classes), red = negative, blue = positive. */
export const RDBU = ['#b2182b', '#d6604d', '#f4a582', '#fddbc7', '#f7f7f7', '#d1e5f0', '#92c5de', '#4393c3', '#2166ac'];
/** ColorBrewer PuOr (9 classes), reversed: purple = negative (below target), orange = positive. */
export const PUOR = ['#542788', '#8073ac', '#b2abd2', '#d8daeb', '#f7f7f7', '#fee0b6', '#fdb863', '#e08214', '#b35806'];
/** The one colour of a scale whose values are all equal. */
export const NEUTRAL = '#808080';

/** What the heatmaps colour: sparsity, or TRIM's metric gain. */
export type ColorMode = 'sparsity' | 'gain';
/** How sparsity is coloured (see the file comment). */
export type SparsityScale = 'target' | 'absolute' | 'range';
export type ScaleKind = SparsityScale | 'gain' | 'diff-sparsity' | 'diff-gain';

export interface Scale {
  kind: ScaleKind;
  /** Domain of the colour ramp (the value at either end). */
  min: number;
  max: number;
  stops: readonly string[];
  /** Every value shown is the same: one neutral colour. */
  flat: boolean;
  /** Legend: what the colour means, the texts at both ends, or the "all …" text when flat. */
  title: string;
  lo: string;
  hi: string;
  flatText: string | null;
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

/** Values closer than this count as equal (1e-7 percentage points; far below anything shown). */
const EQUAL = 1e-9;

function extent(values: Iterable<number>): { lo: number; hi: number; n: number } {
  let lo = Infinity;
  let hi = -Infinity;
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    n++;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return n === 0 ? { lo: 0, hi: 0, n } : { lo, hi, n };
}

export interface ScaleOptions {
  /** The achieved sparsities behind `values` (for the "all 70.00%" text of a flat target scale). */
  achieved?: Iterable<number>;
  /** Name of the layer metric (gain legends). */
  metric?: string;
}

/**
 * The scale of `kind` for these values. `values` are what the cells carry: achieved − target for
 * `target`, achieved sparsity for `absolute` and `range`, after − before for `gain`, B − A for
 * the differences.
 */
export function makeScale(kind: ScaleKind, values: Iterable<number>, o: ScaleOptions = {}): Scale {
  const { lo, hi, n } = extent(values);
  const flat = n > 0 && hi - lo <= EQUAL;
  const diverging = kind !== 'absolute' && kind !== 'range';
  let min: number;
  let max: number;
  if (kind === 'absolute') {
    min = 0;
    max = 1;
  } else if (kind === 'range') {
    min = lo;
    max = hi;
  } else {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    min = -m;
    max = m;
  }
  const stops = kind === 'gain' || kind === 'diff-gain' ? RDBU : diverging ? PUOR : VIRIDIS;
  const span = max - min;
  const rgb = (v: number): [number, number, number] => {
    if (flat || !(span > 0)) return hexRgb(NEUTRAL);
    return interpolate(stops, (v - min) / span);
  };
  const metric = o.metric ?? 'metric';
  const f = kind === 'gain' || kind === 'diff-gain' ? fmt.gain : kind === 'target' || kind === 'diff-sparsity' ? fmt.pp : fmt.pct;
  const title = {
    target: 'achieved − target sparsity (purple below target, orange above)',
    absolute: 'achieved sparsity, 0–100%',
    range: 'achieved sparsity, stretched to the observed range',
    gain: `TRIM gain in ${metric} (after − before; blue = better)`,
    'diff-sparsity': 'sparsity B − A (orange: B pruned more)',
    'diff-gain': `TRIM gain in ${metric}, B − A (blue: B gained more)`,
  }[kind];
  let flatText: string | null = null;
  if (n === 0) flatText = 'no values yet';
  else if (flat) {
    const v = lo;
    if (kind === 'target') {
      const a = o.achieved ? extent(o.achieved) : null;
      const where = Math.abs(v) <= EQUAL ? 'on target' : `${fmt.pp(v)} from target`;
      flatText = a && a.n > 0 && a.hi - a.lo <= EQUAL ? `all ${fmt.pct(a.lo)} (${where})` : `all ${where}`;
    } else if (kind === 'absolute' || kind === 'range') flatText = `all ${fmt.pct(v)}`;
    else if (kind === 'gain') flatText = `all ${fmt.gain(v)}`;
    else flatText = Math.abs(v) <= EQUAL ? 'no difference: all equal' : `all ${f(v)}`;
  }
  return {
    kind,
    min,
    max,
    stops,
    flat: flat || n === 0,
    title,
    lo: f(min),
    hi: f(max),
    flatText,
    rgb,
    color: (v: number) => {
      const [r, g, b] = rgb(v);
      return `rgb(${r}, ${g}, ${b})`;
    },
  };
}

/** A CSS linear-gradient of the scale, for the legend. */
export function gradientCss(scale: Scale): string {
  return scale.flat ? NEUTRAL : `linear-gradient(to right, ${scale.stops.join(', ')})`;
}
