/**
 * Which failed runs a Re-run (the same options on the same inputs) could fix. An unsupported
 * architecture, a broken or quantized checkpoint, a bad text or an impossible option fail the same
 * way again: the user must change the model, the files or the options first, so those runs offer
 * no Re-run (the Runs view's context value says so) and their error says what to change instead.
 * Cancelled runs, crashes, a busy or missing GPU, I/O (a full disk) and an output folder that
 * exists (a re-run derives a new one) may well pass the second time. No `vscode` import.
 */

/** Error codes whose cause a re-run with the same options cannot remove. */
const FINAL = new Set([
  'E_MODEL_NOT_FOUND',
  'E_CONFIG',
  'E_UNSUPPORTED_ARCH',
  'E_SAFETENSORS',
  'E_MISSING_TENSOR',
  'E_SHAPE',
  'E_DTYPE',
  'E_NONFINITE',
  'E_TOKENIZER',
  'E_TEXT',
  'E_OPTION',
]);

/** Whether a run that ended with this error (none: cancelled or done) could succeed when run again as it is. */
export function rerunCanHelp(error: { code: string } | null | undefined): boolean {
  return !error || !FINAL.has(error.code);
}

/**
 * The Runs view's context value of a run: `run.<status>`, with `.final` for a failure that a
 * re-run cannot fix and `.resumable` for a run that left a checkpoint to continue from.
 */
export function runContextValue(r: { status: string; error?: { code: string } | null }, resumable = false): string {
  return `run.${r.status}${r.status === 'failed' && !rerunCanHelp(r.error) ? '.final' : ''}${resumable ? '.resumable' : ''}`;
}

/** The VS Code settings search that shows this extension's settings only. */
export const SETTINGS_QUERY = '@ext:trim-tools.trim-vscode';
