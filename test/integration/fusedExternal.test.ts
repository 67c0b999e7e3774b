// The fused path's weights read by ONNX Runtime from the checkpoint's files (external data, the
// CUDA default; core/fused.ts): a shard cut short after its header was checked gives an
// actionable E_SAFETENSORS, not ORT's raw message, and the device running out of memory while the
// session takes the weights an E_EP that says what to lower; a checkpoint reached through links
// to its files (a hub cache's layout) is read.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { Engine } from '../../src/core/ort/engine';
import { FusedPruner, planFused } from '../../src/core/prune/fused/fusedPruner';
import { defaultPruneOptions } from '../../src/core/options';
import { isTrimError } from '../../src/core/errors';

const DEMO = path.resolve(__dirname, '..', '..', 'media', 'models', 'trim-demo-qwen2-small');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trim-fused-ext-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function pruner(dir: string, engine?: Engine): Promise<FusedPruner> {
  process.env.TRIM_WEIGHTS = 'initializers';
  try {
    const ckpt = Checkpoint.open(dir);
    engine ??= await Engine.create('cpu');
    const o = { ...defaultPruneOptions(), model: dir, out: path.join(tmp, 'out'), nsamples: 2, seqlen: 16 };
    return new FusedPruner(ckpt, engine, 16, planFused(ckpt, 16, 2, 24, 2, 1), o);
  } finally {
    delete process.env.TRIM_WEIGHTS;
  }
}

test('a shard cut short after its header was read: E_SAFETENSORS naming the folder, asking whether it changed', async () => {
  const dir = path.join(tmp, 'cut');
  fs.cpSync(DEMO, dir, { recursive: true });
  const p = await pruner(dir);
  const file = path.join(dir, 'model.safetensors');
  fs.truncateSync(file, 64 * 1024); // the header and a little of the first tensor stay
  await assert.rejects(p.prepare(0, 1, true, true), (e: unknown) => {
    assert.ok(isTrimError(e) && e.code === 'E_SAFETENSORS', String(e));
    assert.match(e.message, /could not be read .*changed while pruning/);
    assert.ok(e.message.includes(dir));
    return true;
  });
  await p.release();
});

test('the device out of memory while the session reads the weights: E_EP asking for a lower --gpu-memory', async () => {
  // ORT's message when the CUDA allocator fails inside session creation (the shape of it; no GPU here).
  const oom = {
    ep: 'cpu',
    session: async () => {
      throw new Error('Deserialize tensor w.mlp.up_proj.weight.0 failed.CUDA failure 2: out of memory ; GPU=0');
    },
  } as unknown as Engine;
  const p = await pruner(DEMO, oom);
  await assert.rejects(p.prepare(0, 1, true, true), (e: unknown) => {
    assert.ok(isTrimError(e) && e.code === 'E_EP', String(e));
    assert.match(e.message, /too little free memory for the weights of block 0 .*Lower --gpu-memory/);
    return true;
  });
});

test('shards reached through links into another folder (as in a hub cache) are read', async () => {
  const dir = path.join(tmp, 'linked');
  const blobs = path.join(tmp, 'blobs');
  fs.mkdirSync(dir);
  fs.mkdirSync(blobs);
  for (const f of fs.readdirSync(DEMO)) {
    fs.copyFileSync(path.join(DEMO, f), path.join(blobs, f));
    fs.symlinkSync(path.join(blobs, f), path.join(dir, f));
  }
  const p = await pruner(dir);
  await p.prepare(0, 1, true, true);
  await p.release();
});
