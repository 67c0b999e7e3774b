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

/** A difference of fractions in percentage points, signed: −0.0016 → "−0.16 pp". */
export function pp(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const x = v * 100;
  const a = Math.abs(x);
  const s = a === 0 || a >= 0.01 ? a.toFixed(2) : Number(a.toPrecision(2)).toString();
  return `${x < 0 && s !== '0.00' ? '−' : x > 0 && s !== '0.00' ? '+' : '±'}${s} pp`;
}
