/**
 * Errors a user can cause (a bad path, an unsupported architecture, a corrupt file, an impossible
 * option). Each carries a stable code and a message that says what is wrong, where, and what to
 * do. The CLI prints only the message; the extension shows it in a notification and in the run.
 * Bugs are plain Errors and keep their stack.
 */
export type TrimErrorCode =
  | 'E_MODEL_NOT_FOUND'
  | 'E_CONFIG'
  | 'E_UNSUPPORTED_ARCH'
  | 'E_SAFETENSORS'
  | 'E_MISSING_TENSOR'
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_NONFINITE'
  | 'E_TOKENIZER'
  | 'E_TEXT'
  | 'E_OPTION'
  | 'E_OUTPUT'
  | 'E_EP'
  | 'E_CANCELLED'
  | 'E_IO'
  | 'E_NETWORK'
  | 'E_INTEGRITY';

export class TrimError extends Error {
  constructor(
    readonly code: TrimErrorCode,
    message: string,
  ) {
    super(oneLine(message));
    this.name = 'TrimError';
  }
}

/** Longest run of characters without a space that a message quotes whole (a path, a name). */
const MAX_WORD = 400;
/** Longest message: what a user's file holds is quoted, never all of it. */
export const MAX_MESSAGE = 4000;

/**
 * A message as one line of bounded length: control characters (a newline in a path could forge
 * an `error:` line; an escape sequence could rewrite the terminal) are shown escaped, a very long
 * word (a 10 MB tensor name, a path near PATH_MAX) keeps its start and end, and the whole is cut
 * at MAX_MESSAGE characters.
 */
export function oneLine(message: string): string {
  let s = String(message).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (s.length > MAX_WORD) {
    s = s
      .split(' ')
      .map((w) => (w.length > MAX_WORD ? `${w.slice(0, 240)}…(${w.length - 340} characters)…${w.slice(-100)}` : w))
      .join(' ');
  }
  if (s.length > MAX_MESSAGE) s = `${s.slice(0, MAX_MESSAGE - 40)}…(${s.length - MAX_MESSAGE + 40} more characters)`;
  return s;
}

export function isTrimError(e: unknown): e is TrimError {
  return e instanceof TrimError;
}
