/**
 * The expected colours, written from the published colour maps rather than from the code under
 * test: matplotlib's viridis and ColorBrewer's RdBu, sampled at nine evenly spaced points, linear
 * interpolation in sRGB. Domains as documented in the README of the panel: sparsity over
 * [min, max] of the values shown, metric gain over [−m, m] with m = max |gain|.
 */
import type { TrimReport } from '../../src/contract';

const VIRIDIS_9 = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
];
/** ColorBrewer PuOr (9 classes), from purple (negative) to orange (positive). */
const PUOR_9 = [
  [84, 39, 136],
  [128, 115, 172],
  [178, 171, 210],
  [216, 218, 235],
  [247, 247, 247],
  [254, 224, 182],
  [253, 184, 99],
  [224, 130, 20],
  [179, 88, 6],
];
const RDBU_9 = [
  [178, 24, 43],
  [214, 96, 77],
  [244, 165, 130],
  [253, 219, 199],
  [247, 247, 247],
  [209, 229, 240],
  [146, 197, 222],
  [67, 147, 195],
  [33, 102, 172],
];

function along(stops: number[][], t: number): [number, number, number] {
  const f = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(f));
  const u = f - i;
  return [0, 1, 2].map((k) => stops[i][k] + (stops[i + 1][k] - stops[i][k]) * u) as [number, number, number];
}

export function expectedSparsityColor(v: number, min: number, max: number): [number, number, number] {
  return along(VIRIDIS_9, (v - min) / (max - min));
}
export function expectedGainColor(v: number, m: number): [number, number, number] {
  return along(RDBU_9, (v + m) / (2 * m));
}
/** Sparsity against the target: PuOr over [−m, m], m = max |achieved − target| of the values shown. */
export function expectedTargetColor(diff: number, m: number): [number, number, number] {
  return along(PUOR_9, (diff + m) / (2 * m));
}
/** A difference B − A of sparsities: PuOr over [−m, m]. */
export const expectedDiffColor = expectedTargetColor;
/** The one grey of a scale whose values are all equal. */
export const NEUTRAL: [number, number, number] = [128, 128, 128];
export const PUOR_MID: [number, number, number] = [247, 247, 247];
export const PUOR_LOW: [number, number, number] = [84, 39, 136];
export const PUOR_HIGH: [number, number, number] = [179, 88, 6];
export const VIRIDIS_LOW: [number, number, number] = [68, 1, 84];
export const VIRIDIS_HIGH: [number, number, number] = [253, 231, 37];

/** Largest per-channel difference. */
export function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1]), Math.abs(a[2] - b[2]));
}

/** The report's layer values as a blocks × linears matrix (row = block, column = linear). */
export function layerMatrix(r: TrimReport, pick: (l: TrimReport['blocks'][number]['layers'][number]) => number): number[][] {
  return r.blocks.map((b) => r.model.linears.map((n) => pick(b.layers.find((l) => l.name === n)!)));
}

export const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
/** Percentage points, signed, as the legend writes them (two decimals from 0.01 pp up). */
export const pp = (v: number) => {
  const x = v * 100;
  const a = Math.abs(x);
  const s = a === 0 || a >= 0.01 ? a.toFixed(2) : Number(a.toPrecision(2)).toString();
  return `${s === '0.00' ? '±' : x < 0 ? '−' : '+'}${s} pp`;
};
