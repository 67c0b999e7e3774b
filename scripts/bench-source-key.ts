// Cost of identifying a checkpoint's shards (src/core/model/sourceKey.ts), for the dense-perplexity cache
// and the resume fingerprint: the sampled stamp (size, time, header and 64 pieces of 64 KiB; shards
// of at most 64 MiB whole) against a full SHA-256 of every byte. Prints a table.
//   node --import tsx scripts/bench-source-key.ts [--model DIR] [--synthetic-gib 3]
// The synthetic file is written first (so it is in the page cache: warm reads) and removed after.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shardStamp } from '../src/core/model/sourceKey';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const model = arg('--model', path.resolve(__dirname, '..', '..', 'shared', 'fixtures', 'trim-fixture-qwen2'));
const gib = Number(arg('--synthetic-gib', '3'));

function fullHash(file: string): void {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(16 * 2 ** 20);
  let pos = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  fs.closeSync(fd);
  h.digest('hex');
}

function time(f: () => void, reps = 3): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    best = Math.min(best, performance.now() - t);
  }
  return best / 1000;
}

const rows: string[][] = [];
const measure = (label: string, files: string[]): void => {
  const bytes = files.reduce((a, f) => a + fs.statSync(f).size, 0);
  const full = time(() => files.forEach(fullHash));
  const stamp = time(() => files.forEach((f) => shardStamp(f)));
  rows.push([
    label,
    `${files.length}`,
    `${(bytes / 2 ** 20).toFixed(0)} MiB`,
    `${full.toFixed(3)} s`,
    `${(bytes / 2 ** 30 / full).toFixed(2)} GiB/s`,
    `${(stamp * 1000).toFixed(2)} ms`,
  ]);
};

if (fs.existsSync(model))
  measure(
    path.basename(model),
    fs
      .readdirSync(model)
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => path.join(model, f)),
  );
const synth = path.join(os.tmpdir(), `trim-bench-source-key-${process.pid}.safetensors`);
try {
  const fd = fs.openSync(synth, 'w');
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'U8', shape: [gib * 2 ** 30], data_offsets: [0, gib * 2 ** 30] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeSync(fd, len);
  fs.writeSync(fd, header);
  const chunk = Buffer.allocUnsafe(64 * 2 ** 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (let w = 0; w < gib * 16; w++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  measure(`synthetic ${gib} GiB`, [synth]);
} finally {
  fs.rmSync(synth, { force: true });
}
console.log(`host: ${os.cpus()[0]?.model} × ${os.cpus().length}, node ${process.version}; best of 3, files in the page cache`);
const head = ['checkpoint', 'shards', 'bytes', 'full SHA-256', 'rate', 'sampled stamp'];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
console.log([line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
