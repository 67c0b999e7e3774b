/**
 * `trim-report.json` as a person can read it: objects and arrays of objects indented, one member
 * per line; arrays of numbers or strings (the row-sparsity vectors, the block targets) and small
 * objects of plain values (`seconds`, `versions`) stay on one line each. It parses to exactly what
 * `JSON.stringify` would have written (members left out or turned into null the same way).
 */

/** The value as JSON.stringify sees it: toJSON applied, functions/undefined/symbols dropped (undefined). */
function normalize(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    return (v as { toJSON: () => unknown }).toJSON();
  return v;
}

const isPlain = (v: unknown): boolean => v === null || typeof v !== 'object';

/** A one-line object is one whose every member is a plain value and which is short. */
const INLINE_OBJECT_CHARS = 100;

export function formatReportJson(value: unknown, indent = '  '): string {
  const out = write(value, '', indent);
  if (out === undefined) throw new TypeError('the report is not a JSON value');
  return out + '\n';
}

function write(raw: unknown, pad: string, indent: string): string | undefined {
  const v = normalize(raw);
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  if (isPlain(v)) return JSON.stringify(v);
  const inner = pad + indent;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const items = v.map((x) => write(x, inner, indent) ?? 'null');
    if (v.every((x) => isPlain(normalize(x)))) return `[${items.join(',')}]`;
    return `[\n${items.map((s) => inner + s).join(',\n')}\n${pad}]`;
  }
  const entries: [string, string][] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const s = write(x, inner, indent);
    if (s !== undefined) entries.push([JSON.stringify(k), s]);
  }
  if (entries.length === 0) return '{}';
  const plain = Object.values(v as Record<string, unknown>).every((x) => isPlain(normalize(x)));
  if (plain) {
    const line = `{${entries.map(([k, s]) => `${k}: ${s}`).join(', ')}}`;
    if (line.length <= INLINE_OBJECT_CHARS) return line;
  }
  return `{\n${entries.map(([k, s]) => `${inner}${k}: ${s}`).join(',\n')}\n${pad}}`;
}
