/**
 * The provider package's tarball downloaded and hashed: streamed to a file with its sha512
 * (SRI form, as npm publishes integrities) computed on the way and progress reported; the hash of
 * a tarball already on disk.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TrimError } from '../errors';
import { offline, type PackageSpec } from './npmRegistry';
import type { SetupOptions } from './setup';

function sri(hash: Buffer): string {
  return `sha512-${hash.toString('base64')}`;
}

export async function hashFile(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha512');
  await pipeline(fs.createReadStream(file), h, { signal });
  return sri(h.digest());
}

export async function download(
  url: string,
  file: string,
  pkg: PackageSpec,
  signal: AbortSignal | undefined,
  onProgress: SetupOptions['onProgress'],
): Promise<{ bytes: number; integrity: string }> {
  const h = createHash('sha512');
  let bytes = 0;
  try {
    const res = await fetch(url, { signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const total = Number(res.headers.get('content-length')) || null;
    let last = -1;
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          h.update(chunk);
          bytes += chunk.length;
          if (last < 0 || bytes - last >= 1 << 20 || bytes === total) {
            last = bytes;
            onProgress?.({ phase: 'download', done: bytes, total });
          }
          cb(null, chunk);
        },
      }),
      fs.createWriteStream(file),
      { signal },
    );
    if (total !== null && bytes !== total) throw new Error(`the download ended after ${bytes} of ${total} bytes`);
  } catch (e) {
    if (signal?.aborted) throw new TrimError('E_CANCELLED', 'Cancelled; nothing was installed.');
    if (e instanceof TrimError) throw e;
    throw offline('download the CUDA provider', e, pkg, url);
  }
  return { bytes, integrity: sri(h.digest()) };
}
