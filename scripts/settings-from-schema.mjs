// Writes the option settings of package.json (`contributes.configuration`) from the option table,
// schemas/trim.config.schema.json. VS Code reads package.json as it is, so the settings stay literal
// JSON there; this script and test/unit/optionTable.test.ts keep them equal to the table.
//   - a setting that holds an option's value as is (trim.sparsity, trim.executionProvider = ep, …)
//     takes the option's type, bounds, choices and their descriptions, default and description;
//   - a setting that encodes an option (an empty string for "not set": trim.nm, the two files;
//     trim.searchRowSparsity and its former name trim.trim for `trim`) takes its type and default
//     from that encoding (nm: the option's pattern, or empty), and keeps its own words;
//   - settings that are no option (trim.evaluate, trim.outputFolder, trim.gpuProviderDir) are left alone.
// The order of the settings, their `order` and other keys (scope, deprecation) are kept.
//   node scripts/settings-from-schema.mjs [--check]   (--check: exit 1 when package.json is not up to date)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Settings named otherwise than their option. */
export const RENAMED = { executionProvider: 'ep' };
/** Settings that encode their option (see above). */
export const ENCODED = { searchRowSparsity: 'trim', trim: 'trim', nm: 'nm', calibrationFile: 'calib', evaluationFile: 'eval' };
const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
const DERIVED = ['type', ...BOUNDS, 'enum', 'markdownEnumDescriptions', 'default', 'markdownDescription', 'pattern'];

/** The settings `contributes.configuration.properties` should hold, from the schema's properties. */
export function settingsFrom(settings, props) {
  const out = {};
  for (const [name, s] of Object.entries(settings)) {
    const key = name.replace(/^trim\./, '');
    const option = RENAMED[key] ?? (Object.hasOwn(props, key) && !ENCODED[key] ? key : null);
    const next = {};
    if (option) {
      const p = props[option];
      next.type = p.type;
      for (const b of BOUNDS) if (p[b] !== undefined) next[b] = p[b];
      // A fraction's "below 1" (the schema's if/then, which settings cannot state) as its exclusive maximum.
      if (next.exclusiveMaximum === undefined && typeof p.if?.minimum === 'number' && p.then) next.exclusiveMaximum = p.if.minimum;
      if (p.enum) next.enum = p.enum;
      if (p.markdownEnumDescriptions) next.markdownEnumDescriptions = p.markdownEnumDescriptions;
      next.default = p.default;
      next.markdownDescription = p.markdownDescription ?? p.description;
    } else if (ENCODED[key]) {
      const p = props[ENCODED[key]];
      const boolean = [].concat(p.type).includes('boolean');
      next.type = boolean ? 'boolean' : 'string';
      next.default = boolean ? p.default : '';
      if (p.pattern) next.pattern = `^(${p.pattern.replace(/^\^|\$$/g, '')})?$`;
    }
    const rest = Object.fromEntries(Object.entries(s).filter(([k]) => !(k in next) && !(option && DERIVED.includes(k))));
    out[name] = { ...next, ...rest };
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const pkgFile = new URL('../package.json', import.meta.url);
  const text = readFileSync(pkgFile, 'utf8');
  const pkg = JSON.parse(text);
  const schema = JSON.parse(readFileSync(new URL('../schemas/trim.config.schema.json', import.meta.url), 'utf8'));
  pkg.contributes.configuration.properties = settingsFrom(pkg.contributes.configuration.properties, schema.properties);
  const next = `${JSON.stringify(pkg, null, 2)}\n`;
  if (process.argv.includes('--check')) {
    if (next !== text) {
      console.error(
        'package.json: the trim.* settings differ from schemas/trim.config.schema.json; run node scripts/settings-from-schema.mjs',
      );
      process.exit(1);
    }
  } else writeFileSync(pkgFile, next);
}
