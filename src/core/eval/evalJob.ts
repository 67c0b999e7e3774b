/** An evaluation job: perplexity of a checkpoint on a text (REFERENCE.md §4). */
import type { EvalOptions, EvalResult, Ep, TrimEvent } from '../../contract';
import { Checkpoint } from '../model/checkpoint';
import { Engine } from '../ort/engine';
import { TrimError } from '../errors';
import { checkOption } from '../options';
import { evaluatePerplexity } from './perplexity';
import { Runner } from '../ort/runner';
import { checkIds, readText, TextTokenizer } from '../text/tokenizer';

export async function runEval(o: EvalOptions, emit: (e: TrimEvent) => void, job = 'eval'): Promise<EvalResult & { ep: Ep }> {
  const ckpt = Checkpoint.open(o.model);
  // The same options as a pruning job's, checked against the same table (the schema).
  checkOption('seqlen', o.seqlen ?? NaN);
  checkOption('maxEvalWindows', o.maxWindows);
  checkOption('ep', o.ep);
  if (o.seqlen > ckpt.config.maxPositions) {
    throw new TrimError('E_OPTION', `--seqlen ${o.seqlen} exceeds the model's ${ckpt.config.maxPositions} positions.`);
  }
  const engine = await Engine.create(o.ep);
  emit({ type: 'start', job, ep: engine.ep, epNotice: engine.notice, model: ckpt.summary(), options: o, device: engine.why });
  const tok = TextTokenizer.fromFolder(o.model);
  const ids = checkIds(tok.encode(readText(o.text, 'Evaluation')), ckpt.config.vocab, tok.source);
  const runner = new Runner(ckpt, engine, o.seqlen, Runner.autoBatch(ckpt, o.seqlen));
  try {
    emit({ type: 'phase', phase: 'eval', message: `Evaluating ${o.text}` });
    const r = await evaluatePerplexity(ckpt, runner, ids, o.maxWindows, (done, total) =>
      emit({ type: 'progress', phase: 'eval', done, total }),
    );
    return { ...r, ep: engine.ep };
  } finally {
    await runner.release();
  }
}
