/** `tokenizer.json` applied as written, through the maintained `@huggingface/tokenizers` package. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Tokenizer } from '@huggingface/tokenizers';
import { TrimError, type TrimErrorCode } from '../errors';
import { readJsonFile, readRegular, READ_LIMITS, sysCode } from '../model/safeRead';

export class TextTokenizer {
  private constructor(
    private readonly tok: Tokenizer,
    readonly source: string,
  ) {}

  static fromFolder(dir: string): TextTokenizer {
    const file = tokenizerSource(dir);
    let json: Record<string, unknown>;
    try {
      json = readJsonFile(file, { what: 'tokenizer.json', code: 'E_TOKENIZER', max: READ_LIMITS.tokenizer }) as Record<string, unknown>;
    } catch (e) {
      if (sysCode(e) === 'ENOENT')
        throw new TrimError('E_TOKENIZER', `${dir}: no tokenizer.json. Copy the model's tokenizer.json into the checkpoint folder.`);
      throw e;
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new TrimError('E_TOKENIZER', `${file}: is not a JSON object.`);
    let config: Record<string, unknown> = {};
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    if (fs.existsSync(cfgFile)) {
      config = readJsonFile(cfgFile, { what: 'tokenizer_config.json', code: 'E_TOKENIZER', max: READ_LIMITS.tokenizerConfig }) as Record<
        string,
        unknown
      >;
      if (typeof config !== 'object' || config === null || Array.isArray(config))
        throw new TrimError('E_TOKENIZER', `${cfgFile}: is not a JSON object.`);
    }
    try {
      return new TextTokenizer(new Tokenizer(json as never, config as never), file);
    } catch (e) {
      throw new TrimError('E_TOKENIZER', `${file}: cannot be loaded (${(e as Error).message}).`);
    }
  }

  /** Token ids of a whole text, tokenized once as one string, without special tokens. */
  encode(text: string): Int32Array {
    try {
      return Int32Array.from(this.tok.encode(text, { add_special_tokens: false }).ids);
    } catch (e) {
      throw new TrimError('E_TOKENIZER', `${this.source}: tokenization failed (${(e as Error).message}).`);
    }
  }
}

/** The file a checkpoint's tokenizer comes from (named in errors about its ids). */
export function tokenizerSource(dir: string): string {
  return path.join(dir, 'tokenizer.json');
}

/** Token ids must index the model's embedding table; a tokenizer of another model does not fit. */
export function checkIds(ids: Int32Array, vocab: number, source: string): Int32Array {
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw new TrimError(
        'E_TOKENIZER',
        `${source} produced token id ${ids[i]}, but the model's vocab_size is ${vocab}: the tokenizer does not belong to this checkpoint. Copy the model's own tokenizer.json.`,
      );
    }
  }
  return ids;
}

export function readText(file: string, what: string): string {
  return readRegular(file, { what: `${what} text`, code: 'E_TEXT', max: READ_LIMITS.text }).toString('utf8');
}

/** Token ids of a text file with the tokenizer of the checkpoint in `dir`. */
export function encodeFile(dir: string, file: string, what: string): Int32Array {
  return TextTokenizer.fromFolder(dir).encode(readText(file, what));
}

/**
 * Token ids of a text file (encodeFile), tokenized on a worker thread, so that this thread can meanwhile do work that holds it (creating
 * a session). The worker is dist/tokenize.js beside the bundle, or tokenizeWorker.ts through tsx
 * when run from the sources (tests); without either, the text is tokenized here.
 */
export function encodeFileOffThread(dir: string, file: string, what: string): Promise<Int32Array> {
  const bundled = path.join(__dirname, 'tokenize.js');
  const source = path.join(__dirname, 'tokenizeWorker.ts');
  const workerData = { dir, file, what };
  if (!fs.existsSync(bundled) && !fs.existsSync(source)) {
    return new Promise((resolve) => resolve(encodeFile(dir, file, what)));
  }
  return new Promise((resolve, reject) => {
    const w = fs.existsSync(bundled)
      ? new Worker(bundled, { workerData })
      : new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(source)});`, { eval: true, workerData });
    let settled = false;
    w.once('message', (m: { ids?: Int32Array; error?: { code: TrimErrorCode | null; message: string } }) => {
      settled = true;
      if (m.ids) resolve(m.ids);
      else reject(m.error!.code ? new TrimError(m.error!.code, m.error!.message) : new Error(m.error!.message));
    });
    w.once('error', (e) => {
      settled = true;
      reject(e);
    });
    w.once('exit', (code) => {
      if (!settled) reject(new Error(`the tokenizer's worker thread exited (code ${code}) before answering`));
    });
  });
}
