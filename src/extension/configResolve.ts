/**
 * Resolves the options of a pruning job from its layers, in this order (later wins):
 *
 *   defaults (the schema's `default`s) ← `trim.*` settings ← `trim.config.json` ← overrides
 *
 * Every layer is validated against `schemas/trim.config.schema.json` (the same schema that VS
 * Code's JSON language service uses for completion, hover and Problems on `trim.config.json`), so
 * there is one description of the options; then the merged options are checked once against the
 * file system and the model's `config.json`. Every message names the field and where it came
 * from. No `vscode` import: the extension reads settings and files and passes plain values.
 */
import Ajv, { type ErrorObject } from 'ajv';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { parseJson, readJsonFile, readRegularAsync, READ_LIMITS } from '../core/model/safeRead';
import { homedir } from 'node:os';
import * as path from 'node:path';
import type { PruneOptions } from '../contract';
import { isTrimError } from '../core/errors';
import { checkOutputPath, notATrimOutput } from '../core/io/outputPath';
import { overlap } from '../core/io/paths';
import schema from '../../schemas/trim.config.schema.json';
import { closestName } from '../core/suggest';
import { fractionHint, parseNM } from '../core/options';

export type OptionField = keyof PruneOptions;

/** A problem with the user's options; `toString` is the message shown to the user. */
export class ConfigIssue {
  constructor(
    /** Where the value came from: `trim.config.json`, `settings`, `Run again`, … */
    readonly source: string,
    /** The field as the user wrote it (`sparsity`, or `trim.calibrationFile` for a setting). */
    readonly field: string,
    readonly message: string,
  ) {}
  toString(): string {
    return this.field ? `${this.source}: "${this.field}" ${this.message}` : `${this.source}: ${this.message}`;
  }
}

/** One layer of values, before merging. Paths in it are relative to `baseDir`. */
export interface Layer {
  source: string;
  values: Partial<Record<OptionField, unknown>>;
  baseDir: string | null;
  /** How the user spells a field in this layer (settings have their own keys). */
  names?: Partial<Record<OptionField, string>>;
}

export interface LayerResult {
  layer: Layer | null;
  issues: ConfigIssue[];
}

// ---------------------------------------------------------------------------------------------
// Validation against the schema

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, verbose: true });
// VS Code's schema keywords: descriptions, and the message shown for a failed check.
for (const k of ['enumDescriptions', 'markdownEnumDescriptions', 'markdownDescription', 'errorMessage', 'deprecationMessage'])
  ajv.addKeyword(k);
const validateLayer = ajv.compile(schema);

type SchemaProp = { default?: unknown; enum?: unknown[] };
const PROPS = schema.properties as Record<string, SchemaProp>;

/** The built-in defaults: the `default` of every schema property that has one. */
export const DEFAULTS: Partial<PruneOptions> = Object.fromEntries(
  Object.entries(PROPS)
    .filter(([, p]) => 'default' in p)
    .map(([k, p]) => [k, p.default]),
) as Partial<PruneOptions>;

const fmt = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)));

function issuesFromSchema(layer: Layer, errors: ErrorObject[] | null | undefined): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    const parts = e.instancePath.split('/').slice(1);
    const field = parts[0] ?? '';
    // For a union type such as ["string", "null"] Ajv reports the type error once; skip repeats.
    // A key that is no option (the schema's patternProperties catch its slips, else additionalProperties): one message per key.
    const extraKey =
      e.keyword === 'additionalProperties'
        ? (e.params as { additionalProperty: string }).additionalProperty
        : parts.length >= 1 && !Object.hasOwn(PROPS, field)
          ? field
          : null;
    const key = extraKey !== null ? `unknown|${extraKey}` : `${e.instancePath}|${e.keyword}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const value = parts.reduce<unknown>((v, p) => (v as Record<string, unknown> | undefined)?.[p], layer.values);
    const name = (layer.names?.[field as OptionField] ?? field) + (parts.length > 1 ? `[${parts.slice(1).join('][')}]` : '');
    if (extraKey !== null) {
      out.push(new ConfigIssue(layer.source, extraKey, unknownOption(extraKey)));
      continue;
    }
    let message: string;
    // A failed `if` says only that its `then` failed, which is reported itself.
    if (e.keyword === 'if') continue;
    if (typeof e.parentSchema?.errorMessage === 'string') {
      // The schema's own words (VS Code shows them too); fractions given as percentages get the number to write.
      message =
        typeof value === 'number' && /fraction/.test(e.parentSchema.errorMessage)
          ? `is a fraction below 1: ${fractionHint(value)} (got ${fmt(value)})`
          : `${e.parentSchema.errorMessage.replace(/\.$/, '')} (got ${fmt(value)})`;
      out.push(new ConfigIssue(layer.source, name, message));
      continue;
    }
    switch (e.keyword) {
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
        const close = typeof value === 'string' ? closestName(value, allowed.map(String)) : null;
        message = `must be one of ${allowed.map(fmt).join(', ')} (got ${fmt(value)}${close ? `; did you mean ${fmt(close)}?` : ''})`;
        break;
      }
      case 'pattern':
        message = `must look like "2:4" (got ${fmt(value)})`;
        break;
      default:
        message = `${e.message ?? 'is invalid'} (got ${fmt(value)})`;
    }
    out.push(new ConfigIssue(layer.source, name, message));
  }
  // In the order of the keys as written.
  const order = Object.keys(layer.values);
  const at = (i: ConfigIssue): number => {
    const k = order.findIndex((f) => i.field === f || i.field.startsWith(`${f}[`) || i.field === layer.names?.[f as OptionField]);
    return k < 0 ? order.length : k;
  };
  return out
    .map((i, n) => ({ i, n }))
    .sort((a, b) => at(a.i) - at(b.i) || a.n - b.n)
    .map(({ i }) => i);
}

/** The message for a key that is not an option: the closest option, else where the list is. */
export function unknownOption(key: string): string {
  const known = Object.keys(PROPS).filter((k) => k !== '$schema');
  const c = closestName(key, [...known, ...Object.keys(ALIASES)]);
  if (c) return `is not an option; did you mean "${ALIASES[c] ?? c}"?`;
  return `is not an option (hover a key, or type \`"\` for completion, to see the ${known.length} options)`;
}

/** Names from elsewhere (settings, CLI flags) that a user may carry into trim.config.json. */
const ALIASES: Record<string, string> = {
  executionProvider: 'ep',
  calibrationFile: 'calib',
  evaluationFile: 'eval',
  maxWindows: 'maxEvalWindows',
  searchRowSparsity: 'trim',
  outputFolder: 'out',
};

function checked(layer: Layer): LayerResult {
  if (validateLayer(layer.values)) return { layer, issues: [] };
  return { layer: null, issues: issuesFromSchema(layer, validateLayer.errors) };
}

// ---------------------------------------------------------------------------------------------
// Layers

/** How each `trim.*` setting maps onto an option (settings that are not options are handled apart). */
export const SETTING_FIELDS: Record<string, OptionField> = {
  sparsity: 'sparsity',
  iterations: 'iterations',
  score: 'score',
  /** The former name of searchRowSparsity, read when that one is not set. */
  trim: 'trim',
  searchRowSparsity: 'trim',
  allocation: 'allocation',
  owlLambda: 'owlLambda',
  owlM: 'owlM',
  layerMetric: 'layerMetric',
  rowMetric: 'rowMetric',
  nsamples: 'nsamples',
  seqlen: 'seqlen',
  nm: 'nm',
  maxEvalWindows: 'maxEvalWindows',
  executionProvider: 'ep',
  calibrationFile: 'calib',
  evaluationFile: 'eval',
};
/** Settings that are not one option each: `evaluate` (false = eval null), `outputFolder`, `gpuProviderDir` (read by "Set Up GPU"). */
export const OTHER_SETTINGS = ['evaluate', 'outputFolder', 'gpuProviderDir'] as const;

/**
 * The settings layer from the `trim.*` values the user set (keys without the `trim.` prefix).
 * Empty strings mean "not set" (the settings UI cannot remove a value).
 */
export function settingsLayer(settings: Record<string, unknown>, workspaceFolder: string | null): LayerResult {
  const values: Partial<Record<OptionField, unknown>> = {};
  const names: Partial<Record<OptionField, string>> = {};
  const issues: ConfigIssue[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (key === 'trim' && settings.searchRowSparsity !== undefined) continue;
    const field = SETTING_FIELDS[key];
    if (field) {
      if (value === '' && (field === 'calib' || field === 'eval' || field === 'nm')) {
        if (field === 'nm') {
          values.nm = null;
          names.nm = 'trim.nm';
        }
        continue;
      }
      values[field] = value;
      names[field] = `trim.${key}`;
    } else if (key === 'evaluate') {
      if (typeof value !== 'boolean')
        issues.push(new ConfigIssue('settings', 'trim.evaluate', `must be true or false (got ${fmt(value)})`));
      else if (!value) {
        values.eval = null;
        names.eval = 'trim.evaluate';
      }
    } else if (key === 'outputFolder') {
      if (typeof value !== 'string') issues.push(new ConfigIssue('settings', 'trim.outputFolder', `must be a string (got ${fmt(value)})`));
    }
    // Other keys under trim.* (e.g. view state) are not options.
  }
  const r = checked({ source: 'settings', values, baseDir: workspaceFolder, names });
  return { layer: issues.length ? null : r.layer, issues: [...issues, ...r.issues] };
}

/** The layer of a `trim.config.json` file (its text as the editor or the disk has it). */
export function configFileLayer(filePath: string, text: string): LayerResult {
  const source = path.basename(filePath);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { layer: null, issues: [new ConfigIssue(source, '', `is not valid JSON: ${(e as Error).message}`)] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { layer: null, issues: [new ConfigIssue(source, '', 'must hold one JSON object of options')] };
  }
  return checked({ source, values: parsed as Layer['values'], baseDir: path.dirname(filePath) });
}

/** A layer of explicit values: "Run again" overrides, a run's own options, command arguments. */
export function valuesLayer(source: string, values: Record<string, unknown>, baseDir: string | null): LayerResult {
  const defined = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
  return checked({ source, values: defined, baseDir });
}

// ---------------------------------------------------------------------------------------------
// Resolution

export interface ResolveContext {
  /** Folder of the installed extension (holds media/models and media/data). */
  extensionPath: string;
  workspaceFolder: string | null;
  /** `trim.outputFolder` as set (may be relative to the workspace), or null. */
  outputFolder: string | null;
  /** Where outputs go when there is neither an output folder setting nor a workspace. */
  storageDir: string;
  /** Names the default output folder. */
  runId: string;
  /** Check paths and the model's config.json (tests of pure merging turn it off). */
  checkFiles?: boolean;
}

export type ResolveResult =
  | {
      ok: true;
      options: PruneOptions;
      /** `out` was derived (not given by the user): a re-run derives a new one. */
      outAuto: boolean;
      /** Where each option's value came from (`default` when no layer set it). */
      sources: Record<OptionField, string>;
    }
  | { ok: false; issues: ConfigIssue[] };

export const demoModelPath = (extensionPath: string): string => path.join(extensionPath, 'media', 'models', 'trim-demo-qwen2-small');
export const demoCalibPath = (extensionPath: string): string => path.join(extensionPath, 'media', 'data', 'calib.txt');
export const demoEvalPath = (extensionPath: string): string => path.join(extensionPath, 'media', 'data', 'eval-brown.txt');

const PATH_FIELDS = ['model', 'out', 'calib', 'eval'] as const;

export function expandPath(p: string, baseDir: string | null, workspaceFolder: string | null): string {
  let s = p;
  if (workspaceFolder) s = s.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  if (s === '~' || s.startsWith('~/')) s = path.join(homedir(), s.slice(1));
  return path.resolve(baseDir ?? workspaceFolder ?? process.cwd(), s);
}

/** Folder name of a derived output: model, score, TRIM, target and run id. */
export function defaultOutName(o: Pick<PruneOptions, 'model' | 'score' | 'trim' | 'sparsity' | 'allocation'>, runId: string): string {
  const pct = Math.round(o.sparsity * 1000) / 10;
  // A Hugging Face cache snapshot (…/models--ORG--NAME/snapshots/REV) is named NAME, not REV.
  const hub = /[\\/]models--(?:[^\\/]*--)?([^\\/]+)[\\/]snapshots[\\/][^\\/]+[\\/]?$/.exec(o.model);
  const parts = [hub ? hub[1] : path.basename(o.model), o.score];
  if (o.allocation !== 'uniform') parts.push(o.allocation);
  if (o.trim) parts.push('trim');
  parts.push(`${pct}`, runId);
  return parts.join('-');
}

/** The folder under which derived outputs are created. */
export function outputRoot(ctx: ResolveContext): string {
  if (ctx.outputFolder) return expandPath(ctx.outputFolder, ctx.workspaceFolder, ctx.workspaceFolder);
  if (ctx.workspaceFolder) return path.join(ctx.workspaceFolder, 'trim-out');
  return path.join(ctx.storageDir, 'out');
}

/**
 * Merges the layers over the defaults and validates the result. Layers that failed their own
 * validation are passed as their issues (see `LayerResult`): all problems are reported at once.
 */
export function resolveOptions(layers: LayerResult[], ctx: ResolveContext, modelConfigs?: Map<string, unknown>): ResolveResult {
  const issues = layers.flatMap((l) => l.issues);
  if (issues.length) return { ok: false, issues };

  const merged: Record<string, unknown> = { ...DEFAULTS };
  const sources: Record<string, string> = Object.fromEntries(Object.keys(DEFAULTS).map((k) => [k, 'default']));
  const names: Record<string, string> = {};
  for (const { layer } of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer.values)) {
      if (k === '$schema' || v === undefined) continue;
      const field = k as OptionField;
      merged[field] =
        (PATH_FIELDS as readonly string[]).includes(field) && typeof v === 'string' ? expandPath(v, layer.baseDir, ctx.workspaceFolder) : v;
      sources[field] = layer.source;
      names[field] = layer.names?.[field] ?? field;
    }
  }
  if (merged.model === undefined) {
    merged.model = demoModelPath(ctx.extensionPath);
    sources.model = 'default (demo model)';
  }
  if (merged.calib === undefined) {
    merged.calib = demoCalibPath(ctx.extensionPath);
    sources.calib = 'default (bundled text)';
  }
  if (merged.eval === undefined) {
    merged.eval = demoEvalPath(ctx.extensionPath);
    sources.eval = 'default (bundled text)';
  }
  const outAuto = merged.out === undefined;
  if (outAuto) {
    merged.out = path.join(outputRoot(ctx), defaultOutName(merged as unknown as PruneOptions, ctx.runId));
    sources.out = 'default (output folder)';
  }
  const o = merged as unknown as PruneOptions;
  const at = (field: OptionField, message: string): ConfigIssue =>
    new ConfigIssue(sources[field] ?? 'default', names[field] ?? field, message);

  // Relations between options.
  if (o.nm !== null) {
    // The core's own check of N:M (the schema's pattern gives the form, parseNM the bound).
    const valid = ((): boolean => {
      try {
        parseNM(o.nm!);
        return true;
      } catch {
        return false;
      }
    })();
    if (!valid) issues.push(at('nm', `needs 1 ≤ N < M ≤ 64, e.g. "2:4" or "4:8" (got "${o.nm}")`));
    if (o.trim) issues.push(at('nm', `applies to the plain score path only: set "trim" to false, or "nm" to null`));
    if (o.allocation !== 'uniform')
      issues.push(at('nm', `fixes every layer at N/M: it cannot be combined with allocation "${o.allocation}"`));
    if (o.blockSparsity) issues.push(at('nm', 'fixes every layer at N/M: it cannot be combined with per-block targets ("blockSparsity")'));
  }
  if (ctx.checkFiles !== false) issues.push(...checkFiles(o, at, modelConfigs));
  return issues.length ? { ok: false, issues } : { ok: true, options: o, outAuto, sources: sources as Record<OptionField, string> };
}

/**
 * resolveOptions for the extension host: the model's config.json is read asynchronously (opened
 * without blocking, regular files only, bounded), so that no file can hold the editor's thread.
 */
export async function resolveOptionsAsync(layers: LayerResult[], ctx: ResolveContext): Promise<ResolveResult> {
  const merged = resolveOptions(layers, { ...ctx, checkFiles: false });
  if (!merged.ok || ctx.checkFiles === false) return merged;
  const cfgPath = path.join(merged.options.model, 'config.json');
  const pre = new Map<string, unknown>();
  try {
    pre.set(
      cfgPath,
      parseJson(
        (await readRegularAsync(cfgPath, { what: 'config.json', code: 'E_CONFIG', max: READ_LIMITS.config })).toString('utf8'),
        cfgPath,
        'E_CONFIG',
      ),
    );
  } catch (e) {
    pre.set(cfgPath, e instanceof Error ? e : new Error(String(e)));
  }
  return resolveOptions(layers, ctx, pre);
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * Whether `p` lies outside every workspace folder, as the file system resolves it (a symlink in
 * the workspace that leads out of it counts as outside). No workspace folder: outside.
 */
export function outsideWorkspace(p: string, workspaceFolders: string[]): boolean {
  return !workspaceFolders.some((w) => {
    const r = overlap(p, w);
    return r === 'same' || r === 'inside';
  });
}

/**
 * The question to ask before a run whose output a workspace file chose outside the workspace
 * (`out` in trim.config.json, or a workspace `trim.outputFolder`): a workspace someone else wrote
 * may not aim writes at the user's folders without the user's yes. Null: nothing to confirm.
 */
export function outputConfirmation(
  r: Extract<ResolveResult, { ok: true }>,
  workspaceFolders: string[],
  configSource: string,
  outputFolderFromWorkspace: boolean,
): string | null {
  const fromConfig = r.sources.out === configSource;
  const fromWorkspaceSetting = r.outAuto && outputFolderFromWorkspace;
  if (!fromConfig && !fromWorkspaceSetting) return null;
  if (!outsideWorkspace(r.options.out, workspaceFolders)) return null;
  const by = fromConfig ? `${configSource} ("out")` : 'the workspace setting trim.outputFolder';
  const replace = fromConfig && r.options.overwrite && existsSync(r.options.out) ? ', replacing what is there' : '';
  return `${by} writes the pruned model outside the workspace, to ${r.options.out}${replace}. Write there?`;
}

function checkFiles(o: PruneOptions, at: (f: OptionField, m: string) => ConfigIssue, modelConfigs?: Map<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!isDir(o.model)) {
    issues.push(at('model', `is not a folder: ${o.model}`));
  } else {
    const cfgPath = path.join(o.model, 'config.json');
    const names = readdirSync(o.model);
    if (!existsSync(cfgPath))
      issues.push(
        at('model', `has no config.json: choose a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json): ${o.model}`),
      );
    else if (!names.some((n) => n.endsWith('.safetensors'))) issues.push(at('model', `has no *.safetensors weights: ${o.model}`));
    else if (!names.includes('tokenizer.json')) issues.push(at('model', `has no tokenizer.json: ${o.model}`));
    else {
      let cfg: Record<string, unknown> | null = null;
      // Read ahead off this thread by resolveOptionsAsync; else opened without blocking (a FIFO is refused, not waited on) and bounded.
      const pre = modelConfigs?.get(cfgPath);
      try {
        if (pre instanceof Error) throw pre;
        cfg = (pre ?? readJsonFile(cfgPath, { what: 'config.json', code: 'E_CONFIG', max: READ_LIMITS.config })) as Record<string, unknown>;
        if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new Error('not a JSON object');
      } catch (e) {
        cfg = null;
        issues.push(at('model', `has an unreadable config.json: ${(e as Error).message}`));
      }
      if (cfg) {
        const text = (cfg.text_config ?? cfg) as Record<string, unknown>;
        const blocks = Number(text.num_hidden_layers ?? text.n_layer ?? NaN);
        const positions = Number(text.max_position_embeddings ?? text.n_positions ?? NaN);
        if (o.blockSparsity && Number.isFinite(blocks) && o.blockSparsity.length !== blocks) {
          issues.push(at('blockSparsity', `must have one entry per block: the model has ${blocks} blocks (got ${o.blockSparsity.length})`));
        }
        if (o.seqlen !== null && Number.isFinite(positions) && o.seqlen > positions) {
          issues.push(at('seqlen', `must not exceed the model's ${positions} positions (got ${o.seqlen})`));
        }
      }
    }
  }
  if (!isFile(o.calib)) issues.push(at('calib', `is not a file: ${o.calib}`));
  if (o.eval !== null && !isFile(o.eval)) issues.push(at('eval', `is not a file: ${o.eval}`));
  // The same check as the worker's (core/io/outputPath.ts), on every spelling of the paths.
  try {
    checkOutputPath(o.model, o.out, o.overwrite, [o.calib, ...(o.eval !== null ? [o.eval] : [])]);
  } catch (e) {
    if (!isTrimError(e)) throw e;
    if (e.code === 'E_OPTION') issues.push(at('out', `must be outside the model folder (the source is never written): ${e.message}`));
    else if (!o.overwrite) issues.push(at('out', `already exists: set "overwrite" to true or choose another folder: ${o.out}`));
    else
      issues.push(
        at(
          'out',
          `is not a TRIM output, so "overwrite" does not replace it (${notATrimOutput(o.out) ?? e.message}); only the output of an earlier TRIM run or an empty folder is replaced. Choose another folder, or empty or remove it yourself: ${o.out}`,
        ),
      );
  }
  return issues;
}
