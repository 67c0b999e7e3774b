/** How numbers read in the webviews (tooltips, labels, legends). One function per kind. */

/** A fraction as a percentage with two decimals: 0.51234 → "51.23%". */
export function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(2)}%`;
}

/** A layer metric (cosine, MSE, SNR…): five significant digits. */
export function metric(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v === 0 ? '0' : Number(v.toPrecision(5)).toString();
}

/** A signed difference of metrics: "+0.0012" / "−0.0034". */
export function gain(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const s = metric(Math.abs(v));
  return v < 0 ? `−${s}` : `+${s}`;
}

export function ppl(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(2);
}

export function seconds(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`;
}
