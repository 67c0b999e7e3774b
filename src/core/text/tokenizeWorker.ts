/**
 * Worker thread (bundled as dist/tokenize.js): tokenizes a text file with a checkpoint's
 * tokenizer, so that the thread that started it can create a session meanwhile
 * (tokenizer.ts encodeFileOffThread).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeFile } from './tokenizer';
import { isTrimError } from '../errors';

const { dir, file, what } = workerData as { dir: string; file: string; what: string };
try {
  const ids = encodeFile(dir, file, what);
  parentPort!.postMessage({ ids }, [ids.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ error: { code: isTrimError(e) ? e.code : null, message: String((e as Error).message ?? e) } });
}
