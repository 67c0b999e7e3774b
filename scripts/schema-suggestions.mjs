// Writes the "did you mean" part of schemas/trim.config.schema.json: for every option, a
// patternProperties entry that matches the slips of its name (other case or `-`/`_` between its
// words, a letter dropped, doubled, swapped or changed, a plural `s` added or dropped) but no
// option's own name, and fails with words that VS Code shows in Problems:
// "iteration" is not an option; did you mean "iterations"? The extension's own check
// (src/extension/configResolve.ts) suggests by edit distance and covers what these patterns miss.
//   node scripts/schema-suggestions.mjs [--check]   (--check: exit 1 when the schema is not up to date)
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../schemas/trim.config.schema.json', import.meta.url);
const text = readFileSync(file, 'utf8');
const schema = JSON.parse(text);
const options = Object.keys(schema.properties).filter((k) => k !== '$schema');
const esc = (c) => c.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
const ci = (c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : esc(c));

/** The slips of one name, as regex alternatives. */
function slips(name) {
  const alts = new Set();
  // Case and separators: words of the camelCase name, any case, `-`/`_` or nothing between, an optional final s.
  const words = name.split(/(?=[A-Z])/);
  alts.add(words.map((w) => [...w].map(ci).join('')).join('[-_]?') + (name.endsWith('s') ? '?' : 's?'));
  const c = [...name];
  for (let i = 0; i < c.length; i++) {
    alts.add(c.map((x, j) => (j === i ? '' : esc(x))).join('')); // dropped
    alts.add(c.map((x, j) => (j === i ? '[a-zA-Z]' : esc(x))).join('')); // changed
    alts.add(c.map((x, j) => (j === i ? `${esc(x)}[a-zA-Z]` : esc(x))).join('')); // one more
    if (i + 1 < c.length && c[i] !== c[i + 1]) alts.add(c.map((x, j) => esc(j === i ? c[i + 1] : j === i + 1 ? c[i] : x)).join('')); // swapped
  }
  alts.delete('');
  return [...alts];
}

const notAnOption = `(?!(?:${['$schema', ...options].map(esc).join('|')})$)`;
const patterns = {};
for (const name of options) {
  patterns[`^${notAnOption}(?:${slips(name).join('|')})$`] = {
    const: `(${name})`,
    errorMessage: `This is not an option; did you mean "${name}"?`,
  };
}

// The block is written as one line per pattern, after "additionalProperties".
const block = `"patternProperties": {\n${Object.entries(patterns)
  .map(([p, s]) => `    ${JSON.stringify(p)}: ${JSON.stringify(s)}`)
  .join(',\n')}\n  },`;
const start = text.indexOf('"patternProperties": {');
let next;
if (start >= 0) {
  const end = text.indexOf('\n  },', start) + '\n  },'.length;
  next = text.slice(0, start) + block + text.slice(end);
} else {
  const at = text.indexOf('"additionalProperties": false,') + '"additionalProperties": false,'.length;
  next = `${text.slice(0, at)}\n  ${block}${text.slice(at)}`;
}
JSON.parse(next);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('schemas/trim.config.schema.json: the patternProperties are not up to date; run node scripts/schema-suggestions.mjs');
    process.exit(1);
  }
} else writeFileSync(file, next);
