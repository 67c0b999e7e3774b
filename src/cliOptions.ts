/**
 * The flags of `trim prune`, built from the option table (schemas/trim.config.schema.json, read
 * through src/core/options.ts): one flag per option, named after it (`owlLambda` → `--owl-lambda`),
 * with its description as help, its choices, its default, and a parser that checks the value
 * against the option's type and bounds as the core does (the same E_OPTION message, before
 * anything runs). Only what the command line does differently is written here.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { OPTION_CHOICES, type PruneOptions } from './contract';
import { checkOption, defaultOut, flagOf, OPTION_BOUNDS, OPTION_SCHEMA } from './core/options';

/** Options without a flag: per-block targets are a list, written in trim.config.json. */
export const NO_FLAG = ['blockSparsity'] as const;

/** Help that differs from the option's description: the command line's own defaults and spellings. */
const CLI_HELP: Record<string, string> = {
  model: 'Hugging Face checkpoint folder, or the id (ORG/NAME) of a model in the Hugging Face cache (default: the embedded demo model)',
  out: 'output folder (default: <model>-pruned-<pct> or -trim-<pct> in the current folder)',
  eval: 'evaluation text for perplexity before and after (default: the embedded eval-brown.txt)',
  gpuMemory: "GPU memory (GiB) that CUDA runs are sized for; auto (the default): the card's free memory (nvidia-smi) less a margin",
};

/** The placeholder of a flag's value. */
const VALUE: Record<string, string> = {
  model: '<dir>',
  out: '<dir>',
  calib: '<file>',
  eval: '<file>',
  nm: '<N:M>',
  gpuMemory: '<GiB|auto>',
  score: '<kind>',
  allocation: '<kind>',
  layerMetric: '<m>',
  rowMetric: '<m>',
  precision: '<p>',
  ep: '<ep>',
};

/** An option's description as command-line help: option names as flags, "null = x" as "left out: x". */
export function cliHelp(key: string): string {
  if (CLI_HELP[key]) return CLI_HELP[key];
  return (OPTION_SCHEMA[key].description ?? '')
    .replace(/`(\w+): false`/g, (_, k: string) => `no ${flagOf(k)}`)
    .replace(/`([^`]+)`/g, (_, k: string) => (OPTION_SCHEMA[k] ? flagOf(k) : k))
    .replace(/ ?null for [^.]*\./g, '')
    .replace(/\bnull = /g, 'left out: ')
    .trim();
}

/** The parser of a numeric flag: the number (or `auto` where allowed), checked like the core checks it. */
function numberParser(key: string): (raw: string) => number | 'auto' {
  const b = OPTION_BOUNDS[key];
  return (raw) => {
    if (key === 'gpuMemory' && raw === 'auto') return raw;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) throw new InvalidArgumentError(b.integer ? 'must be an integer' : 'must be a number');
    if (b.integer && !Number.isInteger(v)) throw new InvalidArgumentError('must be an integer');
    checkOption(key, v);
    return v;
  };
}

/** Adds a flag for every option of the table (and --resume, which only the command line and Resume set). */
export function addPruneOptions(cmd: Command, d: PruneOptions): Command {
  const defaults = d as unknown as Record<string, unknown>;
  for (const [key, p] of Object.entries(OPTION_SCHEMA)) {
    if ((NO_FLAG as readonly string[]).includes(key)) continue;
    const flag = flagOf(key);
    const help = cliHelp(key);
    const types = ([] as unknown[]).concat(p.type);
    const dflt = defaults[key];
    const choices = (OPTION_CHOICES as Record<string, readonly string[]>)[key];
    if (choices) {
      cmd.addOption(new Option(`${flag} ${VALUE[key] ?? '<choice>'}`, help).choices(choices).default(dflt));
    } else if (types.includes('boolean')) {
      // A flag turns an option on: an option on by default would need a --no- flag instead.
      if (dflt !== false) throw new Error(`${key}: a boolean option that is on by default has no flag to turn it off`);
      cmd.addOption(new Option(flag, help));
    } else if (OPTION_BOUNDS[key]) {
      const o = new Option(`${flag} ${VALUE[key] ?? (OPTION_BOUNDS[key].integer ? '<n>' : '<x>')}`, help).argParser(numberParser(key));
      cmd.addOption(dflt === null || dflt === undefined ? o : o.default(dflt));
    } else {
      cmd.addOption(
        new Option(`${flag} ${VALUE[key] ?? '<value>'}`, help).argParser((raw: string) => {
          checkOption(key, raw);
          return raw;
        }),
      );
    }
    if (key === 'overwrite')
      cmd.option(
        '--resume',
        'continue an interrupted run from its last finished block (same options; a cancelled run keeps its checkpoint)',
      );
    if (key === 'eval') cmd.option('--no-eval', 'skip the perplexity evaluation');
  }
  return cmd;
}

/**
 * The job's options from the parsed flags: each option's flag, else its default. `model` is the
 * resolved checkpoint folder (a cache id stands for its snapshot); the output folder is named after
 * the model as given.
 */
export function pruneOptionsFrom(a: Record<string, unknown>, d: PruneOptions, model: string): PruneOptions {
  const o: Record<string, unknown> = { ...d };
  for (const key of Object.keys(OPTION_SCHEMA)) if (a[key] !== undefined) o[key] = a[key];
  o.model = model;
  o.resume = !!a.resume;
  if (a.gpuMemory === 'auto') o.gpuMemory = null;
  o.eval = a.eval === false ? null : typeof a.eval === 'string' ? a.eval : d.eval;
  const r = o as unknown as PruneOptions;
  if (a.out === undefined) r.out = defaultOut({ model: (a.model as string | undefined) ?? model, sparsity: r.sparsity, trim: r.trim });
  return r;
}
