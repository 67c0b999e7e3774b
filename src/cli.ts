#!/usr/bin/env node
/**
 * The headless command line: the same engine as the extension's worker.
 *   node dist/cli.js eval  --model DIR --text FILE [--seqlen 512] [--max-windows N] [--ep auto|cuda|cpu] [--json]
 *   node dist/cli.js prune [--model DIR] [--out DIR] [--sparsity 0.7] [--trim] ... [--json]
 */
import { Command, Option, InvalidArgumentError } from 'commander';
import * as cliProgress from 'cli-progress';
import type { TrimEvent } from './contract';
import { isTrimError } from './core/errors';
import { runEval } from './core/evalJob';

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
}

/** Prints events: JSON lines with --json, else a progress bar on a terminal and readable lines. */
function makeEmitter(json: boolean): { emit: (e: TrimEvent) => void; stop: () => void } {
  if (json) return { emit: (e) => process.stdout.write(JSON.stringify(e) + '\n'), stop: () => {} };
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | null = null;
  let barPhase = '';
  const stop = (): void => {
    bar?.stop();
    bar = null;
  };
  const emit = (e: TrimEvent): void => {
    switch (e.type) {
      case 'start':
        console.error(`${e.model.architecture} · ${e.model.blocks} blocks · ${(e.model.parameters / 1e6).toFixed(1)}M parameters · ${e.model.dtype} · execution provider: ${e.ep}`);
        if (e.epNotice) console.error(e.epNotice);
        break;
      case 'phase':
        stop();
        console.error(e.message);
        break;
      case 'progress':
        if (!tty) break;
        if (!bar || barPhase !== e.phase) {
          stop();
          bar = new cliProgress.SingleBar({ format: `  ${e.phase} [{bar}] {value}/{total} · {duration_formatted}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
          bar.start(e.total, e.done);
          barPhase = e.phase;
        } else bar.update(e.done);
        break;
      case 'block_end':
        if (!tty) console.error(`  block ${e.block + 1}/${e.blocks}: target ${e.report.target.toFixed(3)}, achieved ${e.report.achieved.toFixed(4)}`);
        break;
      case 'eval':
        stop();
        console.error(`  ${e.which} perplexity ${e.result.perplexity.toFixed(2)} (${e.result.windows} windows × ${e.result.seqlen}, ${e.result.seconds.toFixed(1)} s)`);
        break;
      case 'log':
        stop();
        console.error(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}`);
        break;
      default:
        break;
    }
  };
  return { emit, stop };
}

async function main(): Promise<void> {
  const program = new Command('trim').description('TRIM: row-wise metric-driven pruning of LLMs on ONNX Runtime').showHelpAfterError();
  program
    .command('eval')
    .description('perplexity of a checkpoint on a text (non-overlapping windows)')
    .requiredOption('--model <dir>', 'Hugging Face checkpoint folder')
    .requiredOption('--text <file>', 'evaluation text')
    .option('--seqlen <n>', 'tokens per window', int, 512)
    .option('--max-windows <n>', 'evaluate at most this many windows', int)
    .addOption(new Option('--ep <ep>', 'execution provider').choices(['auto', 'cuda', 'cpu']).default('auto'))
    .option('--json', 'print JSON events; the last line is the summary')
    .action(async (o) => {
      const { emit, stop } = makeEmitter(!!o.json);
      const r = await runEval({ model: o.model, text: o.text, seqlen: o.seqlen, maxWindows: o.maxWindows ?? null, ep: o.ep }, emit);
      stop();
      const summary = { type: 'eval_summary' as const, ...r };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else console.log(`perplexity ${r.perplexity.toFixed(3)} · ${r.windows} windows × ${r.seqlen} tokens (${r.tokens} tokens in the text) · ${r.ep} · ${r.seconds.toFixed(1)} s`);
    });
  await program.parseAsync(process.argv);
}

main().catch((e) => {
  if (isTrimError(e)) {
    console.error(`error: ${e.message}`);
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ type: 'error', error: { code: e.code, message: e.message } }) + '\n');
    process.exit(2);
  }
  console.error(e);
  process.exit(1);
});
