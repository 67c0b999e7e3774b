// "Download by model id": against a local HTTP server on 127.0.0.1 that answers as the Hub does
// (the tree API for the file list; GET/HEAD /ORG/NAME/resolve/REV/FILE naming the commit in
// X-Repo-Commit, LFS files redirected to a CDN URL, Range requests answered with 206). A download
// cut off mid-file resumes from the bytes already on disk (the server sees the Range request),
// and the result is the cache layout huggingface_hub writes, which the scan then finds.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveModel, scanHubCache } from '../../src/core/model/hfCache';
import { DownloadError, downloadModel } from '../../src/core/model/hubDownload';
import { etagOf, gitOid, isLfs, sha256 } from './hfLayout';

const DEMO = path.resolve(__dirname, '../../media/models/trim-demo-qwen2-small');
const REPO = 'trim/demo-qwen2';
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const files = new Map(readdirSync(DEMO).map((f) => [f, readFileSync(path.join(DEMO, f))]));
const WEIGHTS = files.get('model.safetensors')!;

let server: Server;
let hub: string;
let root: string;
/** Requests seen: "GET /path Range" lines. */
const seen: string[] = [];
/** Bytes of the weights after which the server cuts the connection (once), or null. */
let cutAfter: number | null = null;
let token: string | null = null;

function serveBytes(
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
  body: Buffer,
  extra: Record<string, string>,
): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const from = range ? Number(range[1]) : 0;
  const headers: Record<string, string> = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', ...extra };
  if (range) headers['content-range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
  headers['content-length'] = String(body.length - from);
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD') return void res.end();
  const slice = body.subarray(from);
  if (cutAfter !== null && body === WEIGHTS && from < cutAfter) {
    const n = cutAfter - from;
    cutAfter = null;
    res.write(slice.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 50));
    return;
  }
  res.end(slice);
}

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'trim-dl-'));
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    seen.push(`${req.method} ${url.pathname}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401);
      return void res.end();
    }
    const tree = new RegExp(`^/api/models/${REPO}/tree/([^/]+)$`).exec(url.pathname);
    if (tree && req.method === 'GET') {
      if (tree[1] !== COMMIT && tree[1] !== 'main') {
        res.writeHead(404);
        return void res.end();
      }
      const items = [...files].map(([p, b]) => ({
        type: 'file',
        path: p,
        size: isLfs(p) ? 134 : b.length,
        oid: gitOid(isLfs(p) ? Buffer.from(`lfs pointer ${p}`) : b),
        ...(isLfs(p) ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } } : {}),
      }));
      items.push({ type: 'file', path: 'pytorch_model.bin', size: 10, oid: gitOid(Buffer.from('x')) });
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(items));
    }
    const resolve = new RegExp(`^/${REPO}/resolve/([^/]+)/(.+)$`).exec(url.pathname);
    if (resolve) {
      const [, rev, file] = resolve;
      const body = files.get(decodeURIComponent(file));
      if ((rev !== 'main' && rev !== COMMIT) || !body) {
        res.writeHead(404);
        return void res.end();
      }
      const extra = { 'x-repo-commit': COMMIT, etag: `"${etagOf(file, body)}"` };
      if (isLfs(file)) {
        // As the Hub: LFS files are redirected to the CDN, which honours Range.
        res.writeHead(302, {
          ...extra,
          'x-linked-etag': `"${sha256(body)}"`,
          'x-linked-size': String(body.length),
          location: `${hub}/cdn/${sha256(body)}`,
        });
        return void res.end();
      }
      return serveBytes(req, res, body, extra);
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const body = [...files.values()].find((b) => sha256(b) === cdn[1]);
      if (body) return serveBytes(req, res, body, {});
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hub = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('download by model id', () => {
  it('a download cut off mid-file resumes with a Range request and ends in the cache layout', async () => {
    const cache = path.join(root, 'hub-a');
    const cut = 5_000_000;
    cutAfter = cut;
    seen.length = 0;
    await assert.rejects(downloadModel({ repo: REPO, cacheDir: cache, hubUrl: hub }));
    const blob = path.join(cache, 'models--trim--demo-qwen2', 'blobs', sha256(WEIGHTS));
    assert.equal(statSync(`${blob}.incomplete`).size, cut, 'the bytes received are kept');
    assert.ok(!existsSync(blob));

    seen.length = 0;
    const progress: number[] = [];
    const snap = await downloadModel({ repo: REPO, cacheDir: cache, hubUrl: hub, onProgress: (p) => progress.push(p.done / p.total) });
    assert.ok(
      seen.includes(`GET /cdn/${sha256(WEIGHTS)} bytes=${cut}-`),
      `the weights were resumed from byte ${cut} (requests: ${seen.join(', ')})`,
    );
    assert.ok(!seen.some((s) => s.startsWith(`GET /cdn/${sha256(WEIGHTS)}`) && !s.includes('bytes=')), 'not fetched again from the start');
    assert.ok(!seen.some((s) => s.includes('pytorch_model.bin')), 'only what a checkpoint needs');
    assert.equal(progress.at(-1), 1);
    assert.ok(
      progress.every((x, i) => i === 0 || x >= progress[i - 1]),
      'progress never goes back',
    );

    assert.equal(snap, path.join(cache, 'models--trim--demo-qwen2', 'snapshots', COMMIT));
    assert.equal(readFileSync(path.join(cache, 'models--trim--demo-qwen2', 'refs', 'main'), 'utf8'), COMMIT);
    for (const [f, b] of files) {
      const p = path.join(snap, f);
      assert.ok(lstatSync(p).isSymbolicLink(), `${f} is a link`);
      assert.equal(readlinkSync(p), path.join('..', '..', 'blobs', etagOf(f, b)));
      assert.ok(readFileSync(p).equals(b), `${f} has the served bytes`);
    }
    assert.ok(!readdirSync(path.join(cache, 'models--trim--demo-qwen2', 'blobs')).some((f) => f.endsWith('.incomplete')));
    // The scan and the CLI's --model resolution find it.
    const { models } = await scanHubCache(cache);
    assert.equal(models[0].id, REPO);
    assert.equal(models[0].family, 'qwen2');
    assert.equal(resolveModel(REPO, cache), snap);

    // A second download fetches nothing again.
    seen.length = 0;
    await downloadModel({ repo: REPO, cacheDir: cache, hubUrl: hub });
    assert.ok(!seen.some((s) => s.startsWith('GET /cdn/')), `nothing fetched again: ${seen.join(', ')}`);
  });

  it('a cancel (abort) keeps the bytes for the next try', async () => {
    const cache = path.join(root, 'hub-b');
    const ac = new AbortController();
    let chunks = 0;
    await assert.rejects(
      downloadModel({
        repo: REPO,
        cacheDir: cache,
        hubUrl: hub,
        signal: ac.signal,
        // Cancelled once a few chunks of the weights have arrived.
        onProgress: (p) => {
          if (p.file === 'model.safetensors' && ++chunks === 4) ac.abort();
        },
      }),
    );
    const blob = path.join(cache, 'models--trim--demo-qwen2', 'blobs', sha256(WEIGHTS));
    const kept = statSync(`${blob}.incomplete`).size;
    assert.ok(kept > 0 && kept < WEIGHTS.length, `kept ${kept} bytes`);
    seen.length = 0;
    await downloadModel({ repo: REPO, cacheDir: cache, hubUrl: hub });
    assert.ok(seen.includes(`GET /cdn/${sha256(WEIGHTS)} bytes=${kept}-`));
    assert.ok(readFileSync(blob).equals(WEIGHTS));
  });

  it('a gated model without a token says what to do; with the token it downloads', async () => {
    token = 'hf_secret';
    try {
      const cache = path.join(root, 'hub-c');
      await assert.rejects(
        downloadModel({ repo: REPO, cacheDir: cache, hubUrl: hub }),
        (e: unknown) => e instanceof DownloadError && /HF_TOKEN/.test(e.message),
      );
      const snap = await downloadModel({ repo: REPO, cacheDir: cache, hubUrl: hub, accessToken: 'hf_secret' });
      assert.ok(readFileSync(path.join(snap, 'model.safetensors')).equals(WEIGHTS));
    } finally {
      token = null;
    }
  });

  it('an unknown model is a clear error', async () => {
    await assert.rejects(downloadModel({ repo: 'nobody/nothing', cacheDir: path.join(root, 'hub-d'), hubUrl: hub }), /was not found/);
  });
});
