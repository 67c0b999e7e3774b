#!/usr/bin/env node
/**
 * The headless command line: the same engine as the extension's worker.
 *   trim eval  [--model DIR] [--text FILE] [--seqlen 512] [--max-eval-windows N] [--ep auto|cuda|cpu] [--json]
 *   trim prune [--model DIR] [--out DIR] [--sparsity 0.7] [--trim] ... [--json]
 * `trim` is bin/trim.js (package.json "bin"); `node dist/cli.js` is the same.
 */
import { Command, Option, InvalidArgumentError } from 'commander';
import * as cliProgress from 'cli-progress';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrimEvent } from './contract';
import { isTrimError, oneLine, TrimError } from './core/errors';

class TrimErrorCancelled extends TrimError {
  constructor() {
    super('E_CANCELLED', 'Cancelled; nothing was written.');
  }
}
import { runEval } from './core/eval/evalJob';
import { resolveModel } from './core/model/hfCache';
import { defaultPruneOptions } from './core/options';
import { addPruneOptions, pruneOptionsFrom } from './cliOptions';
import { runPrune, systemError } from './core/prune/prune';
import { defaults } from './core/defaults';
import { PRESETS, writeSynth } from './core/model/synth';
import { EP_CHOICES, formatEta } from './contract';
import { ORT_VERSION } from './core/ort/engine';
import pkg from '../package.json';
import { cpus } from 'node:os';
import { addGpuCommands, runWithCudaLibraries } from './cliGpu';
import { isJobChild, noteLock, watchSupervisor } from './cliSupervisor';

// Weight reads go out in parallel (core/fused.ts): more libuv threads than the default 4.
process.env.UV_THREADPOOL_SIZE ??= String(Math.min(16, Math.max(4, cpus().length)));

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
}

/**
 * Stopping at once (a second Ctrl-C or SIGTERM, or the reader of standard output gone): the job
 * registers how to settle its output (JobControl.onStopNow); this settles it, prints one line and
 * exits, without waiting for the device run in progress.
 */
const stopNow = {
  settle: null as (() => string) | null,
  /** The job had registered how to settle its output and handed that back (its commit, or its own clean-up, under way). */
  handedBack: false,
  /** Standard output was closed by its reader (`--json | head -1`): nothing more is written to it. */
  pipeClosed: false,
  now(why: string): never {
    const what = this.settle
      ? this.settle()
      : this.handedBack
        ? 'the job was already moving its result into place or removing its partial output; a run on the same --out finishes what was left.'
        : 'nothing was written.';
    this.settle = null;
    process.stderr.write(`error: ${oneLine(`${why}; ${what}`)}\n`);
    process.exit(2);
  },
};

/** Writes a line to standard output unless its reader is gone. */
function out(line: string): void {
  if (!stopNow.pipeClosed) process.stdout.write(line + '\n');
}

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  stopNow.pipeClosed = true;
  stopNow.now(`standard output failed (${e.code ?? e.message}${e.code === 'EPIPE' ? ': its reader went away' : ''}); stopped`);
});

/** Prints events: JSON lines with --json, else a progress bar on a terminal and readable lines. */
function makeEmitter(json: boolean): { emit: (e: TrimEvent) => void; stop: () => void } {
  if (json) return { emit: (e) => out(JSON.stringify(e)), stop: () => {} };
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | null = null;
  let barPhase = '';
  const stop = (): void => {
    bar?.stop();
    bar = null;
  };
  // Units done of all, time so far and, once one is done, the time left at the rate since the bar began.
  const LABELS: Record<string, [string, string]> = {
    dense_eval: ['dense evaluation', 'steps'],
    eval: ['evaluation', 'steps'],
    allocation: ['allocation', 'blocks'],
    blocks: ['pruning', 'blocks'],
  };
  // A phase's clock starts with its first bar (a log line in between redraws the bar, not the clock).
  const starts = new Map<string, { at: number; done: number }>();
  const times = (phase: string, done: number, total: number): { elapsed: string; left: string } => {
    let st = starts.get(phase);
    if (!st) starts.set(phase, (st = { at: performance.now(), done }));
    const s = (performance.now() - st.at) / 1000;
    return {
      elapsed: `${Math.round(s)} s`,
      left: done > st.done && done < total ? ` · ${formatEta(((total - done) * s) / (done - st.done))}` : '',
    };
  };
  const showBar = (phase: string, done: number, total: number): void => {
    if (!bar || barPhase !== phase) {
      stop();
      const [label, unit] = LABELS[phase] ?? [phase, ''];
      bar = new cliProgress.SingleBar(
        { format: `  ${label} [{bar}] {value}/{total} ${unit} · {elapsed}{left}`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, done, times(phase, done, total));
      barPhase = phase;
    } else bar.update(done, times(phase, done, total));
  };
  const emit = (e: TrimEvent): void => {
    switch (e.type) {
      case 'start':
        console.error(
          `${e.model.architecture} · ${e.model.blocks} blocks · ${(e.model.parameters / 1e6).toFixed(1)}M parameters · ${e.model.dtype} · execution provider: ${e.ep}`,
        );
        if (e.epNotice) console.error(oneLine(e.epNotice));
        else if (e.ep === 'cuda' && e.device) console.error(oneLine(e.device));
        break;
      case 'phase':
        stop();
        starts.clear();
        console.error(oneLine(e.message));
        break;
      case 'progress':
        if (tty) showBar(e.phase, e.done, e.total);
        break;
      case 'block_end':
        if (tty) showBar('blocks', e.block + 1, e.blocks);
        else
          console.error(
            `  block ${e.block + 1}/${e.blocks}: target ${e.report.target.toFixed(3)}, achieved ${e.report.achieved.toFixed(4)}`,
          );
        break;
      case 'eval':
        stop();
        console.error(
          `  ${e.which} perplexity ${e.result.perplexity.toFixed(2)} (${e.result.windows} windows × ${e.result.seqlen}, ${e.result.seconds.toFixed(1)} s)`,
        );
        break;
      case 'log':
        stop();
        console.error(`${e.level === 'warn' ? 'warning: ' : ''}${oneLine(e.message)}`);
        break;
      default:
        break;
    }
  };
  return { emit, stop };
}

/**
 * The name the usage text gives: the command as it was invoked (`trim`, `trim-vscode`: the
 * package's bin), or `node <path>` when the script was run with node.
 */
export function cliName(argv1 = process.argv[1] ?? '', cwd = process.cwd()): string {
  const base = path.basename(argv1);
  if (!base.endsWith('.js')) return base || 'trim';
  const rel = path.relative(cwd, argv1);
  return `node ${rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : argv1}`;
}

/** `--version`: this package's version and the ONNX Runtime it runs on. */
function versionText(): string {
  return `trim-vscode ${pkg.version} (onnxruntime-node ${ORT_VERSION}, node ${process.version})`;
}

async function main(): Promise<void> {
  const program = new Command(cliName())
    .description('TRIM: row-wise metric-driven pruning of LLMs on ONNX Runtime')
    .showHelpAfterError()
    .version(versionText(), '-v, --version', 'print the version of trim-vscode and of onnxruntime-node')
    // Usage errors exit with 2, like the typed errors below (inherited by the subcommands).
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  const d = defaultPruneOptions();
  program
    .command('eval')
    .description('perplexity of a checkpoint on a text (non-overlapping windows)')
    .option(
      '--model <dir>',
      'Hugging Face checkpoint folder, or the id (ORG/NAME) of a model in the Hugging Face cache (default: the embedded demo model)',
    )
    .option('--text <file>', 'evaluation text (default: the embedded eval-brown.txt)')
    .option('--seqlen <n>', 'tokens per window', int, 512)
    .option('--max-eval-windows <n>', 'evaluate at most this many windows', int)
    .addOption(
      new Option('--max-windows <n>', 'the same as --max-eval-windows (its former name)').argParser(int).conflicts('maxEvalWindows'),
    )
    .addOption(new Option('--ep <ep>', 'execution provider').choices(EP_CHOICES).default('auto'))
    .option('--json', 'print JSON events; the last line is the summary')
    .action(async (o) => {
      const { emit, stop } = makeEmitter(!!o.json);
      const r = await runEval(
        {
          model: o.model ? resolveModel(o.model) : d.model,
          text: o.text ?? d.eval!,
          seqlen: o.seqlen,
          maxWindows: o.maxEvalWindows ?? o.maxWindows ?? null,
          ep: o.ep,
        },
        emit,
      );
      stop();
      const summary = { type: 'eval_summary' as const, ...r };
      if (o.json) out(JSON.stringify(summary));
      else
        console.log(
          `perplexity ${r.perplexity.toFixed(3)} · ${r.windows} windows × ${r.seqlen} tokens (${r.tokens} tokens in the text) · ${r.ep} · ${r.seconds.toFixed(1)} s`,
        );
    });
  const prune = program
    .command('prune')
    .description('prune a checkpoint (Wanda/magnitude scores, uniform/OWL allocation, optional TRIM row-wise search)');
  // One flag per option of the table (src/cliOptions.ts).
  addPruneOptions(prune, d)
    .option('--json', 'stream JSON events, one per line; the last line is the summary')
    .action(async (a) => {
      // A model id (ORG/NAME) in the Hugging Face cache stands for its snapshot folder.
      const model = a.model ? resolveModel(a.model) : d.model;
      const o = pruneOptionsFrom(a, d, model);
      if (o.baseline && !o.trim)
        throw new TrimError('E_OPTION', '--baseline: the baseline is the same job with TRIM off; it goes with --trim.');
      const { emit, stop } = makeEmitter(!!a.json);
      const ac = { cancelled: false };
      // The first signal stops cleanly after the current step (a --resume run keeps its
      // checkpoint); a second one stops without finishing the step. onnxruntime-node 1.29 runs a
      // session synchronously on this thread (its RunOptions.terminate is read when a run starts),
      // so this process acts on a signal only when the device run in progress ends: the CLI runs
      // this job in a child (cliSupervisor.ts), whose parent receives the signals, asks this
      // process to stop (or receives a terminal's signal with it), and kills it and settles its
      // output when it does not stop within a second. Asked to stop, however often, this process
      // only stops after the current step: the parent decides when that is too late.
      const supervised = isJobChild() && process.connected;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (supervised) ac.cancelled = true;
        else if (!ac.cancelled) {
          ac.cancelled = true;
          process.stderr.write(`${sig}: stopping after the current step (send it again to stop without finishing it)\n`);
        } else stopNow.now(`stopped at once by a second ${sig}`);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // Closing the terminal: stop like Ctrl-C (the partial output removed), writing nowhere.
      process.on('SIGHUP', () => {
        for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
        onSignal('SIGHUP');
      });
      stopRequest.on = onSignal;
      if (stopRequest.pending) onSignal(stopRequest.pending);
      const r = await runPrune(o, emit, {
        check: () => {
          if (ac.cancelled) throw new TrimErrorCancelled();
        },
        onStopNow: (settle) => {
          stopNow.handedBack = settle === null && (stopNow.settle !== null || stopNow.handedBack);
          stopNow.settle = settle;
        },
        onLock: noteLock,
      });
      stop();
      if (a.json) {
        out(JSON.stringify(r));
        return;
      }
      const s = r.seconds;
      console.log('');
      console.log(`pruned ${model}`);
      console.log(`  → ${r.out}`);
      console.log(
        `  sparsity   ${(r.sparsity * 100).toFixed(2)}% of the linear weights (target ${(o.sparsity * 100).toFixed(0)}%${o.trim ? ', TRIM' : ''}${o.allocation !== 'uniform' ? ', ' + o.allocation : ''})`,
      );
      if (r.perplexity !== null && r.baseline_perplexity != null) {
        const d = (r.perplexity / r.baseline_perplexity - 1) * 100;
        console.log(
          `  perplexity ${r.dense_perplexity?.toFixed(2) ?? '?'} dense → ${r.baseline_perplexity.toFixed(2)} baseline (TRIM off) → ${r.perplexity.toFixed(2)} TRIM (${d <= 0 ? '−' : '+'}${Math.abs(d).toFixed(1)}% vs baseline)`,
        );
      } else if (r.perplexity !== null)
        console.log(`  perplexity ${r.dense_perplexity?.toFixed(2) ?? '?'} dense → ${r.perplexity.toFixed(2)} pruned`);
      const f = (x: number): string => x.toFixed(1);
      // The fused path's statistics, search and propagation run as one graph: its runs' time split by a profile (phaseProfile.ts).
      const pr = r.phaseRuns;
      const how =
        r.phaseSource === 'profiled'
          ? ` (device runs split by a profile of each${r.ep === 'cuda' ? '; on CUDA the profile times kernel launches, not kernels, so the split is rough' : ''})`
          : r.phaseSource === 'sampled' && pr
            ? ` (device runs split by a profile of ${pr.profiled} of the ${pr.runs}${pr.unsplit ? `; ${pr.unsplit} unsplit, in pruning` : ''})`
            : '';
      const phases =
        r.phaseSource !== 'unsplit' && (s.statistics + s.propagate > 0 || s.prune === 0)
          ? `statistics ${f(s.statistics)}, pruning ${f(s.prune)}${o.trim ? ` (TRIM search ${f(s.trim)})` : ''}, propagation ${f(s.propagate)}${how}`
          : `pruning ${f(s.prune)}, which holds statistics, ${o.trim ? 'the TRIM search' : 'masks'} and propagation run as one graph, unsplit (${
              r.ep === 'cuda'
                ? "on CUDA, ONNX Runtime's profile times kernel launches, not kernels"
                : 'TRIM_PHASES=1 splits them, at some cost'
            })`;
      console.log(
        `  time       ${f(s.total)} s (${phases}, evaluation ${f(s.eval + s.dense_eval)}) on ${r.ep}${r.precision ? ` (${r.precision})` : ''}`,
      );
      console.log(`  report     ${r.report}`);
    });
  program
    .command('synth')
    .description('write a random-weight checkpoint of a real model shape (safetensors), for benchmarks')
    .addOption(new Option('--preset <name>', 'model shape').choices(Object.keys(PRESETS)).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output folder (must not exist)')
    .option('--seed <n>', 'random seed', int, 0)
    .option('--layers <n>', 'keep only the first N blocks (smaller benchmarks of the same shapes)', int)
    .action((a) => {
      if (fs.existsSync(a.out)) throw new TrimError('E_OUTPUT', `--out ${a.out} already exists; choose a new folder.`);
      const spec = { ...PRESETS[a.preset], ...(a.layers ? { layers: a.layers } : {}) };
      const t = performance.now();
      const r = writeSynth(spec, a.out, a.seed);
      // Random weights need no particular tokenizer: borrow the demo model's (8,192 ids, within
      // every preset's vocabulary) so that the checkpoint can be pruned and evaluated as is.
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(defaults.model(), f), path.join(a.out, f));
      console.log(
        `${a.preset}: ${spec.layers} blocks, ${(r.bytes / 2 ** 30).toFixed(2)} GiB in ${r.files.length} file(s) → ${a.out} (${((performance.now() - t) / 1000).toFixed(1)} s)`,
      );
    });
  addGpuCommands(program);
  await program.parseAsync(process.argv);
}

/** Where the supervisor's stop requests go (cliSupervisor.ts): the prune job's signal handler once it runs. */
const stopRequest: { on: ((sig: NodeJS.Signals) => void) | null; pending: NodeJS.Signals | null } = { on: null, pending: null };
watchSupervisor((sig) => (stopRequest.on ? stopRequest.on(sig) : (stopRequest.pending = sig)));
runWithCudaLibraries()
  .then((code) => (code === null ? main() : process.exit(code)))
  .catch((e) => {
    if (isTrimError(e)) {
      console.error(`error: ${e.message}`);
      if (process.argv.includes('--json')) out(JSON.stringify({ type: 'error', error: { code: e.code, message: e.message } }));
      process.exit(2);
    }
    // An error of the system (a name too long, a parent that is a file, a full disk, …): what the
    // user can act on, in one line; only bugs keep their stack.
    if (systemError(e)) {
      console.error(`error: ${oneLine(e.message)}`);
      if (process.argv.includes('--json')) out(JSON.stringify({ type: 'error', error: { code: 'E_IO', message: oneLine(e.message) } }));
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  });
