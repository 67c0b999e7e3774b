// Issue 16, the core's side of classes 6, 7, 8 and 9, as seeded properties (counts printed):
//  6. safeRead refuses FIFOs, devices and folders at once and bounds sizes; jsonDepth agrees with
//     a recursive depth over random JSON; the option bounds are the schema's, and the settings in
//     package.json state the same ones;
//  7. parseConfig: over random numbers for eps, theta, scaling and heads, a config is either
//     refused (E_CONFIG) or its rotary tables are finite over every position and its eps positive;
//  8. the dense cache key changes with config.json's and tokenizer_config.json's content (same
//     size and time), the text's content, and a shard's bytes (header, sampled pieces, small
//     shards whole); it does not change when nothing changed;
//  9. oneLine: no control character, bounded length, unchanged when there is nothing to change.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { parseConfig } from '../../src/core/model/config';
import { denseKey } from '../../src/core/eval/denseCache';
import { isTrimError, MAX_MESSAGE, oneLine } from '../../src/core/errors';
import { OPTION_BOUNDS } from '../../src/core/options';
import { ropeTables } from '../../src/core/model/rope';
import { jsonDepth, readRegular, readRegularAsync } from '../../src/core/model/safeRead';
import { shardStamp } from '../../src/core/model/sourceKey';
import { tinyModel, tmpDir } from './badInputs';
import { rng as seededRng } from '../../src/core/model/synth';

const root = tmpDir('trim-rel16-unit-');
const counts: Record<string, number> = {};
const count = (k: string, n = 1): void => {
  counts[k] = (counts[k] ?? 0) + n;
};
after(() => {
  console.log(
    `issue 16 properties: ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  fs.rmSync(root, { recursive: true, force: true });
});

/** Deterministic pseudo-random numbers: the synthetic checkpoints' mulberry32 (src/core/model/synth.ts). */
const rng = (seed: number): (() => number) => seededRng(seed).uniform;

describe('class 6: only regular files, bounded', () => {
  const spec = { what: 'test file', code: 'E_TEXT' as const, max: 1000 };
  it('FIFO, /dev/zero, a folder: refused at once (sync and async); a file over the limit: refused', async () => {
    const fifo = path.join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [f, kind] of [
      [fifo, /FIFO/],
      ['/dev/zero', /device/],
      [root, /folder/],
    ] as [string, RegExp][]) {
      assert.throws(
        () => readRegular(f, spec),
        (e: unknown) => isTrimError(e) && e.code === 'E_TEXT' && kind.test(e.message),
      );
      await assert.rejects(readRegularAsync(f, spec), (e: unknown) => isTrimError(e) && kind.test(e.message));
      count('special files', 2);
    }
    const big = path.join(root, 'big.txt');
    fs.writeFileSync(big, 'x'.repeat(1001));
    assert.throws(() => readRegular(big, spec), /is 1001 bytes, more than the 1000 bytes/);
    await assert.rejects(readRegularAsync(big, spec), /more than the 1000 bytes/);
    fs.writeFileSync(big, 'x'.repeat(1000));
    assert.equal(readRegular(big, spec).length, 1000);
    assert.equal((await readRegularAsync(big, spec)).length, 1000);
  });

  it('jsonDepth equals a recursive depth over random JSON (strings with brackets and escapes)', () => {
    const random = rng(6);
    const depthOf = (v: unknown): number =>
      Array.isArray(v)
        ? 1 + Math.max(0, ...v.map(depthOf))
        : v && typeof v === 'object'
          ? 1 + Math.max(0, ...Object.values(v).map(depthOf))
          : 0;
    const gen = (d: number): unknown => {
      const r = random();
      if (d > 12 || r < 0.3) return ['[', ']', '{"a":[', '\\"', 'x\\\\', 'é'][Math.floor(random() * 6)] + (random() < 0.5 ? '"' : '');
      if (r < 0.4) return random() * 1e6;
      if (r < 0.7) return Array.from({ length: Math.floor(random() * 4) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i}[{`, gen(d + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const v = gen(0);
      assert.equal(jsonDepth(JSON.stringify(v)), depthOf(v), JSON.stringify(v));
      count('JSON depths');
    }
  });

  it('option bounds: the schema is the one source; package.json settings state the same bounds', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      contributes: { configuration: { properties: Record<string, Record<string, unknown>> } };
    };
    let n = 0;
    for (const [key, b] of Object.entries(OPTION_BOUNDS)) {
      const setting = pkg.contributes.configuration.properties[`trim.${key}`];
      if (!setting) continue;
      for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const)
        assert.equal(setting[k], b[k], `trim.${key}.${k}`);
      n++;
    }
    assert.ok(n >= 6, `${n} settings compared`);
    assert.equal(OPTION_BOUNDS.iterations.maximum, 1000);
    count('settings bounds', n);
  });
});

describe('class 7: a config that parses makes finite numbers', () => {
  it('random eps, theta, scaling and heads: refused, or finite rotary tables and positive eps', () => {
    const random = rng(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const num = (): number => pick([0, -0, -1, 1e-300, 1e-200, 1e-30, 1e-6, 0.5, 1, 2, 10000, 1e6, 1e38, 1e300, -1e-6, 3.4e38]);
    let accepted = 0;
    for (let i = 0; i < 600; i++) {
      const heads = pick([1, 2, 3, 4, 8]);
      const raw: Record<string, unknown> = {
        architectures: ['LlamaForCausalLM'],
        hidden_size: pick([8, 12, 16, 32]),
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: heads,
        num_key_value_heads: pick([1, 2, heads]),
        vocab_size: 10,
        max_position_embeddings: pick([16, 4096, 131072]),
        rms_norm_eps: num(),
        rope_theta: num(),
      };
      if (random() < 0.5)
        raw.rope_scaling = pick([
          { type: 'linear', factor: num() },
          { rope_type: 'llama3', factor: num(), low_freq_factor: num(), high_freq_factor: num(), original_max_position_embeddings: 8 },
          { type: 'dynamic', factor: num() },
        ]);
      let cfg;
      try {
        cfg = parseConfig(raw, 'config.json');
      } catch (e) {
        assert.ok(isTrimError(e) && e.code === 'E_CONFIG', String(e));
        count('configs');
        continue;
      }
      accepted++;
      assert.ok(cfg.normEps > 0 && cfg.normEps < 1, `eps ${cfg.normEps}`);
      const { cos, sin } = ropeTables(cfg.rope!.theta, cfg.headDim, cfg.rope!.scaling, Math.min(cfg.maxPositions, 4096));
      assert.ok(cos.every(Number.isFinite) && sin.every(Number.isFinite), `non-finite rotary table for ${JSON.stringify(raw)}`);
      if (cfg.maxPositions > 4096) {
        // The last position too (the largest angles).
        const last = ropeTables(cfg.rope!.theta, cfg.headDim, cfg.rope!.scaling, 1);
        assert.ok(last.cos.every(Number.isFinite));
      }
      count('configs');
    }
    assert.ok(accepted > 20, `${accepted} accepted`);
  });
});

describe('class 8: the dense cache key follows what determines the figure', () => {
  it('config, tokenizer config, text and shard bytes change it; nothing else does', () => {
    const dir = path.join(root, 'model');
    tinyModel(dir);
    const text = path.join(root, 'text.txt');
    fs.writeFileSync(text, 'some evaluation text');
    // Whole-second times, which utimes sets exactly (a Date loses the sub-millisecond part).
    const T = 1_700_000_000;
    for (const f of [...fs.readdirSync(dir).map((n) => path.join(dir, n)), text]) fs.utimesSync(f, T, T);
    const key = (): string => denseKey(Checkpoint.open(dir), text, 32, null, 'cpu');
    const k0 = key();
    assert.equal(key(), k0, 'stable');
    /** Rewrites a file with the same size and time. */
    const edit = (f: string, change: (b: Buffer) => void): (() => void) => {
      const before = fs.readFileSync(f);
      const b = Buffer.from(before);
      change(b);
      fs.writeFileSync(f, b);
      fs.utimesSync(f, T, T);
      return () => {
        fs.writeFileSync(f, before);
        fs.utimesSync(f, T, T);
      };
    };
    const cases: [string, () => () => void][] = [
      [
        'rms_norm_eps',
        () => edit(path.join(dir, 'config.json'), (b) => b.write(b.toString().replace('0.000001', '0.000002').slice(0, b.length))),
      ],
      [
        'tokenizer_config.json',
        () =>
          edit(path.join(dir, 'tokenizer_config.json'), (b) => {
            b[b.length - 2] ^= 1;
          }),
      ],
      [
        'text',
        () =>
          edit(text, (b) => {
            b[0] ^= 1;
          }),
      ],
    ];
    const random = rng(8);
    const shard = path.join(dir, 'model.safetensors');
    const size = fs.statSync(shard).size;
    for (let i = 0; i < 40; i++) {
      const at = Math.floor(random() * size);
      cases.push([
        `shard byte ${at}`,
        () =>
          edit(shard, (b) => {
            b[at] ^= 1 << Math.floor(random() * 8);
          }),
      ]);
    }
    for (const [what, make] of cases) {
      const restore = make();
      assert.notEqual(key(), k0, `${what}: same key`);
      restore();
      assert.equal(key(), k0, `${what}: restored, another key`);
      count('dense keys');
    }
  });

  it('a shard over 64 MiB: header and sampled pieces and time are in its stamp', () => {
    const f = path.join(root, 'big.safetensors');
    const fd = fs.openSync(f, 'w');
    const header = Buffer.from('{"w":{"dtype":"F32","shape":[20000000],"data_offsets":[0,80000000]}}   ');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeSync(fd, len, 0, 8, 0);
    fs.writeSync(fd, header, 0, header.length, 8);
    fs.ftruncateSync(fd, 8 + header.length + 80_000_000);
    fs.closeSync(fd);
    const T = 1_700_000_000;
    fs.utimesSync(f, T, T);
    const s0 = shardStamp(f);
    const poke = (at: number): void => {
      const h = fs.openSync(f, 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(h, b, 0, 1, at);
      b[0] ^= 0xff;
      fs.writeSync(h, b, 0, 1, at);
      fs.closeSync(h);
    };
    const st = fs.statSync(f);
    for (const at of [3, 20, st.size - 1, 8 + header.length + 5]) {
      poke(at);
      fs.utimesSync(f, T, T);
      assert.notEqual(shardStamp(f), s0, `byte ${at}`);
      poke(at);
      fs.utimesSync(f, T, T);
      assert.equal(shardStamp(f), s0);
      count('large-shard stamps');
    }
    fs.utimesSync(f, T, T + 1);
    assert.notEqual(shardStamp(f), s0, 'mtime');
    fs.rmSync(f);
  });
});

describe('class 9: one line, bounded', () => {
  it('random messages: no control character, at most MAX_MESSAGE characters, unchanged when plain', () => {
    const random = rng(9);
    const alphabet = ['a', ' ', '/', 'é', '\n', '\r', '\t', '\u001b', '\u0000', '\u007f', '\u0085', '\u2028', 'error: ', '"'];
    for (let i = 0; i < 400; i++) {
      const words = Math.floor(random() * 20);
      let s = '';
      for (let w = 0; w < words; w++) {
        const long = random() < 0.1 ? Math.floor(random() * 200_000) : Math.floor(random() * 20);
        s +=
          Array.from({ length: Math.min(long, 50) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('') +
          'x'.repeat(Math.max(0, long - 50)) +
          ' ';
      }
      const o = oneLine(s);
      assert.doesNotMatch(o, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      assert.ok(o.length <= MAX_MESSAGE, `${o.length}`);
      if (!/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) && s.length <= 400) assert.equal(o, s);
      count('messages');
    }
    assert.equal(oneLine('a\nerror: forged'), 'a\\nerror: forged');
  });
});
