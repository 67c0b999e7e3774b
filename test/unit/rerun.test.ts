// No Re-run after a failure that a re-run cannot fix (extension/rerun.ts), checked through the
// Runs view's menus as package.json declares them (their `viewItem =~ /…/` clauses, run as regexes).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { TrimErrorCode } from '../../src/core/errors';
import { rerunCanHelp, runContextValue } from '../../src/extension/rerun';

const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));
const items = pkg.contributes.menus['view/item/context'] as { command: string; when: string }[];

/** Whether the command is in the context menu of a row with this context value. */
function offered(command: string, contextValue: string): boolean {
  return items
    .filter((m) => m.command === command)
    .some((m) => {
      const re = /viewItem =~ \/(.+)\/$/.exec(m.when);
      if (re) return new RegExp(re[1]).test(contextValue);
      const eq = /viewItem == (\S+)$/.exec(m.when);
      return eq ? eq[1] === contextValue : false;
    });
}

describe('Re-run only where it can help', () => {
  const final: TrimErrorCode[] = [
    'E_UNSUPPORTED_ARCH',
    'E_SAFETENSORS',
    'E_CONFIG',
    'E_DTYPE',
    'E_NONFINITE',
    'E_OPTION',
    'E_TEXT',
    'E_TOKENIZER',
    'E_MISSING_TENSOR',
    'E_SHAPE',
    'E_MODEL_NOT_FOUND',
  ];
  const maybe = ['E_EP', 'E_IO', 'E_OUTPUT', 'E_CANCELLED', 'E_WORKER', 'E_CRASH'];

  it('errors of the model, files or options: no Re-run, still Remove and Open', () => {
    for (const code of final) {
      assert.equal(rerunCanHelp({ code }), false, code);
      const cv = runContextValue({ status: 'failed', error: { code } });
      assert.equal(cv, 'run.failed.final');
      assert.equal(offered('trim.rerun', cv), false, code);
      assert.equal(offered('trim.removeRun', cv), true, code);
      assert.equal(offered('trim.openResults', cv), true, code);
    }
  });

  it('a busy GPU, a full disk, a crash, a cancel: Re-run offered', () => {
    for (const code of maybe) {
      assert.equal(rerunCanHelp({ code }), true, code);
      assert.equal(offered('trim.rerun', runContextValue({ status: 'failed', error: { code } })), true, code);
    }
    assert.equal(offered('trim.rerun', runContextValue({ status: 'cancelled', error: null })), true);
    assert.equal(offered('trim.rerun', runContextValue({ status: 'done', error: null })), true);
    assert.equal(offered('trim.rerun', runContextValue({ status: 'running', error: null })), false);
  });

  it('a run that left a checkpoint: Resume offered; Re-run still only where it can help', () => {
    const interrupted = runContextValue({ status: 'failed', error: { code: 'INTERRUPTED' } }, true);
    assert.equal(interrupted, 'run.failed.resumable');
    assert.equal(offered('trim.resumeRun', interrupted), true);
    assert.equal(offered('trim.rerun', interrupted), true);
    assert.equal(offered('trim.removeRun', interrupted), true);
    const finalKept = runContextValue({ status: 'failed', error: { code: 'E_SAFETENSORS' } }, true);
    assert.equal(finalKept, 'run.failed.final.resumable');
    assert.equal(offered('trim.resumeRun', finalKept), true);
    assert.equal(offered('trim.rerun', finalKept), false);
    const cancelled = runContextValue({ status: 'cancelled', error: null }, true);
    assert.equal(offered('trim.resumeRun', cancelled), true);
    assert.equal(offered('trim.rerun', cancelled), true);
    assert.equal(offered('trim.cancelRun', cancelled), false);
    assert.equal(offered('trim.resumeRun', runContextValue({ status: 'done', error: null })), false);
  });
});
