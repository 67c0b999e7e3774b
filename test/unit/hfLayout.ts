/**
 * Lays a checkpoint folder out as `huggingface_hub` does in its cache (written here from its
 * documented layout, independently of src/core/model/hfCache.ts): models--ORG--NAME/blobs/<etag> with
 * the etag the Hub gives each file (SHA-256 for LFS files such as *.safetensors, the git blob
 * SHA-1 otherwise), snapshots/<commit>/<file> as relative links into blobs/, refs/main.
 * Shared by the unit tests and the end-to-end journey.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const isLfs = (file: string): boolean => file.endsWith('.safetensors');
export const gitOid = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const etagOf = (file: string, b: Buffer): string => (isLfs(file) ? sha256(b) : gitOid(b));

/** Returns the snapshot folder. */
export function layHubCache(cacheDir: string, repo: string, src: string, commit = 'c0ffee'.padEnd(40, '0'), withRef = true): string {
  const repoDir = join(cacheDir, `models--${repo.split('/').join('--')}`);
  const snap = join(repoDir, 'snapshots', commit);
  mkdirSync(join(repoDir, 'blobs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  for (const f of readdirSync(src)) {
    const b = readFileSync(join(src, f));
    const etag = etagOf(f, b);
    writeFileSync(join(repoDir, 'blobs', etag), b);
    symlinkSync(join('..', '..', 'blobs', etag), join(snap, f));
  }
  if (withRef) {
    mkdirSync(join(repoDir, 'refs'), { recursive: true });
    writeFileSync(join(repoDir, 'refs', 'main'), commit);
  }
  return snap;
}
