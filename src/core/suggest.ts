/**
 * "Did you mean …?" for a misspelled name (an option of trim.config.json, a setting): the known
 * name closest by edit distance, compared without case and without `-`/`_` (so `max_eval_windows`
 * and `max-eval-windows` find `maxEvalWindows`), when it is close enough to be a slip.
 */
import { distance } from 'fastest-levenshtein';

const norm = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');

/** The closest of `known` to `name`, or null when none is within a slip (≤ 2 edits, and under 40% of its length). */
export function closestName(name: string, known: readonly string[]): string | null {
  const n = norm(name.replace(/^-+/, ''));
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(n, norm(k));
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  if (best === null) return null;
  return bestD <= Math.min(2, Math.max(1, Math.floor(0.4 * norm(best).length))) ? best : null;
}

/** ` Did you mean "x"?` or '' — to end a message. */
export function didYouMean(name: string, known: readonly string[]): string {
  const c = closestName(name, known);
  return c ? ` Did you mean "${c}"?` : '';
}
