/**
 * Downloads a model from the Hugging Face Hub into the standard cache (hfCache.ts's layout, as
 * `huggingface_hub` writes it), resumably: each file goes to `blobs/<etag>.incomplete` and an
 * interrupted download continues from the bytes already there with an HTTP Range request (as
 * huggingface_hub does). A finished blob is checked (size; SHA-256 for LFS files, whose etag it
 * is), renamed into place and linked from `snapshots/<commit>/<file>`; `refs/<revision>` is
 * written last.
 *
 * The file list comes from @huggingface/hub's `listFiles` (the tree API). The library's own
 * `downloadFileToCacheDir` is not used: it restarts a file from its first byte after an
 * interruption (it truncates the .incomplete file) and reports no progress, and a 7B
 * checkpoint's shards are gigabytes each. No `vscode` import.
 */
import { listFiles } from '@huggingface/hub';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hubCacheDir } from './hfCache';

export const HUB_URL = 'https://huggingface.co';

/** What a checkpoint folder needs: config, tokenizer and generation files, safetensors weights. */
const WANTED = /^[^/]+\.(json|safetensors|txt|model|tiktoken)$/;

export interface DownloadProgress {
  /** Bytes on disk of the files to fetch (resumed bytes included) and their total. */
  done: number;
  total: number;
  file: string;
}

export interface DownloadOptions {
  /** ORG/NAME. */
  repo: string;
  revision?: string;
  cacheDir?: string;
  hubUrl?: string;
  accessToken?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  fetch?: typeof fetch;
}

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

interface Entry {
  path: string;
  size: number;
  etag: string;
  sha256: string | null;
}

/** Downloads what a checkpoint needs; returns the snapshot folder. */
export async function downloadModel(o: DownloadOptions): Promise<string> {
  const hub = (o.hubUrl ?? HUB_URL).replace(/\/+$/, '');
  const doFetch = o.fetch ?? fetch;
  const auth: Record<string, string> = o.accessToken ? { Authorization: `Bearer ${o.accessToken}` } : {};
  const revision = o.revision ?? 'main';
  const repoDir = path.join(o.cacheDir ?? hubCacheDir(), `models--${o.repo.split('/').join('--')}`);

  // The commit the revision points to (the resolve endpoint names it in X-Repo-Commit).
  const head = await doFetch(`${hub}/${o.repo}/resolve/${encodeURIComponent(revision)}/config.json`, {
    method: 'HEAD',
    headers: auth,
    signal: o.signal,
  });
  if (head.status === 401 || head.status === 403) {
    throw new DownloadError(
      `${o.repo} needs access: it is gated or private. Accept its terms on the Hub and set HF_TOKEN, or log in with \`huggingface-cli login\`.`,
      head.status,
    );
  }
  if (head.status === 404)
    throw new DownloadError(`${o.repo} (revision ${revision}) was not found on ${hub}, or it has no config.json.`, 404);
  const commit = head.headers.get('x-repo-commit');
  if (!commit || !/^[0-9a-f]{40}$/.test(commit))
    throw new DownloadError(`${hub} did not name the commit of ${o.repo}@${revision} (HTTP ${head.status}).`, head.status);

  const entries: Entry[] = [];
  for await (const f of listFiles({
    repo: o.repo,
    revision: commit,
    recursive: true,
    hubUrl: hub,
    accessToken: o.accessToken,
    fetch: o.fetch,
  })) {
    if (f.type !== 'file' || !WANTED.test(f.path)) continue;
    const etag = f.lfs?.oid ?? f.oid;
    if (!etag) continue;
    entries.push({ path: f.path, size: f.lfs?.size ?? f.size, etag, sha256: f.lfs?.oid ?? null });
  }
  if (!entries.some((e) => e.path.endsWith('.safetensors'))) {
    throw new DownloadError(`${o.repo} has no *.safetensors weights (TRIM reads safetensors only).`);
  }

  const blobs = path.join(repoDir, 'blobs');
  const snapshot = path.join(repoDir, 'snapshots', commit);
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(snapshot, { recursive: true });
  const total = entries.reduce((a, e) => a + e.size, 0);
  const onDisk = (e: Entry): number => {
    const blob = path.join(blobs, e.etag);
    if (fs.existsSync(blob)) return e.size;
    try {
      return fs.statSync(`${blob}.incomplete`).size;
    } catch {
      return 0;
    }
  };
  let base = entries.reduce((a, e) => a + Math.min(onDisk(e), e.size), 0);
  for (const e of entries) {
    const blob = path.join(blobs, e.etag);
    const already = Math.min(onDisk(e), e.size);
    if (!fs.existsSync(blob)) {
      await fetchBlob(
        doFetch,
        `${hub}/${o.repo}/resolve/${commit}/${e.path.split('/').map(encodeURIComponent).join('/')}`,
        auth,
        e,
        blob,
        o.signal,
        (n) => o.onProgress?.({ done: base - already + n, total, file: e.path }),
      );
      base += e.size - already;
    }
    link(blob, path.join(snapshot, e.path));
    o.onProgress?.({ done: base, total, file: e.path });
  }
  if (revision !== commit) {
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'refs', revision), commit);
  }
  return snapshot;
}

/** GET with Range from what `.incomplete` holds; verify; rename into `blob`. */
async function fetchBlob(
  doFetch: typeof fetch,
  url: string,
  auth: Record<string, string>,
  e: Entry,
  blob: string,
  signal: AbortSignal | undefined,
  progress: (bytesOfThisFile: number) => void,
): Promise<void> {
  const part = `${blob}.incomplete`;
  let have = 0;
  try {
    have = fs.statSync(part).size;
  } catch {
    /* none */
  }
  if (have > e.size) {
    fs.rmSync(part);
    have = 0;
  }
  if (have < e.size) {
    const res = await doFetch(url, { headers: { ...auth, ...(have > 0 ? { Range: `bytes=${have}-` } : {}) }, signal });
    if (res.status === 401 || res.status === 403)
      throw new DownloadError(`${e.path}: access denied (HTTP ${res.status}); set HF_TOKEN for a gated model.`, res.status);
    if (res.status !== 200 && res.status !== 206) throw new DownloadError(`${e.path}: HTTP ${res.status} from ${url}`, res.status);
    // 200 to a Range request: the server sends the whole file; start over.
    if (res.status === 200) have = 0;
    const fd = fs.openSync(part, have > 0 ? 'a' : 'w');
    try {
      progress(have);
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        fs.writeSync(fd, value);
        have += value.byteLength;
        progress(have);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  const size = fs.statSync(part).size;
  if (size !== e.size) throw new DownloadError(`${e.path}: got ${size} of ${e.size} bytes; run the download again to continue.`);
  if (e.sha256) {
    const h = createHash('sha256');
    await new Promise<void>((ok, fail) =>
      fs
        .createReadStream(part)
        .on('data', (c) => h.update(c))
        .on('end', ok)
        .on('error', fail),
    );
    const got = h.digest('hex');
    if (got !== e.sha256) {
      fs.rmSync(part, { force: true });
      throw new DownloadError(
        `${e.path}: the downloaded bytes do not match the Hub's SHA-256 (${got} ≠ ${e.sha256}); removed, run the download again.`,
      );
    }
  }
  fs.renameSync(part, blob);
}

/** snapshots/<commit>/<file> → ../../blobs/<etag> (a relative link, as huggingface_hub makes; a copy where links fail). */
function link(blob: string, pointer: string): void {
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  try {
    const st = fs.lstatSync(pointer);
    if (st.isSymbolicLink() || st.isFile()) fs.rmSync(pointer);
  } catch {
    /* none */
  }
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  } catch {
    fs.copyFileSync(blob, pointer);
  }
}
