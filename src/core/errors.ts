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
  constructor(readonly code: TrimErrorCode, message: string) {
    super(message);
    this.name = 'TrimError';
  }
}

export function isTrimError(e: unknown): e is TrimError {
  return e instanceof TrimError;
}
