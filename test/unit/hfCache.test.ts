// Models from the Hugging Face cache: the scan (through @huggingface/hub's scanCacheDir) of a
// cache laid out as huggingface_hub lays it (snapshot files are links into blobs/), the
// environment variables that move the cache, and a model id resolved to its snapshot folder.
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Checkpoint } from '../../src/core/model/checkpoint';
import { hfToken, hubCacheDir, resolveModel, scanHubCache } from '../../src/core/model/hfCache';
import { layHubCache } from './hfLayout';

const DEMO = path.resolve(__dirname, '../../media/models/trim-demo-qwen2-small');
const COMMIT = 'a'.repeat(40);
let root: string;
let cache: string;
const saved = { ...process.env };

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'trim-hf-'));
  cache = path.join(root, 'hub');
  layHubCache(cache, 'trim/demo-qwen2', DEMO, COMMIT);
  // An older snapshot that refs/main does not name.
  const older = path.join(cache, 'models--trim--demo-qwen2', 'snapshots', 'b'.repeat(40));
  mkdirSync(older);
  writeFileSync(path.join(older, 'config.json'), '{}');
  // A model of an architecture TRIM does not prune, and a dataset.
  const gpt2 = path.join(root, 'gpt2-src');
  mkdirSync(gpt2);
  writeFileSync(path.join(gpt2, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }));
  writeFileSync(path.join(gpt2, 'model.safetensors'), Buffer.alloc(64));
  layHubCache(cache, 'openai-community/gpt2', gpt2, 'c'.repeat(40));
  mkdirSync(path.join(cache, 'datasets--x--y', 'snapshots'), { recursive: true });
  mkdirSync(path.join(cache, 'datasets--x--y', 'refs'), { recursive: true });
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  for (const k of ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME', 'HF_TOKEN', 'HF_TOKEN_PATH']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('Hugging Face cache', () => {
  it('the snapshot files are links into blobs/ (the layout under test)', () => {
    const snap = path.join(cache, 'models--trim--demo-qwen2', 'snapshots', COMMIT);
    for (const f of readdirSync(snap)) assert.ok(lstatSync(path.join(snap, f)).isSymbolicLink(), `${f} is a link`);
  });

  it('lists each model once, at the snapshot refs/main names, with its size and family', async () => {
    const { models } = await scanHubCache(cache);
    assert.deepEqual(
      models.map((m) => m.id),
      ['trim/demo-qwen2', 'openai-community/gpt2'],
      'models only, supported first',
    );
    const demo = models[0];
    assert.equal(demo.path, path.join(cache, 'models--trim--demo-qwen2', 'snapshots', COMMIT));
    assert.equal(demo.commit, COMMIT);
    assert.deepEqual(demo.refs, ['main']);
    const bytes = readdirSync(DEMO).reduce((a, f) => a + statSync(path.join(DEMO, f)).size, 0);
    assert.equal(demo.size, bytes, 'size = the blobs the links point to');
    assert.equal(demo.family, 'qwen2');
    assert.equal(demo.architecture, 'Qwen2ForCausalLM');
    assert.equal(demo.unsupported, null);
    const gpt2 = models[1];
    assert.equal(gpt2.family, null);
    assert.match(gpt2.unsupported!, /GPT2LMHeadModel.*not supported/);
  });

  it('the snapshot opens as a checkpoint through its links', async () => {
    const { models } = await scanHubCache(cache);
    const ck = Checkpoint.open(models[0].path);
    assert.equal(ck.summary().family, 'qwen2');
    assert.equal(ck.summary().parameters, Checkpoint.open(DEMO).summary().parameters);
  });

  it('honours HF_HUB_CACHE, then HF_HOME, then XDG_CACHE_HOME', async () => {
    delete process.env.HUGGINGFACE_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HOME = path.join(root, 'elsewhere');
    assert.equal(hubCacheDir(), cache);
    assert.equal((await scanHubCache()).models.length, 2);
    delete process.env.HF_HUB_CACHE;
    assert.equal(hubCacheDir(), path.join(root, 'elsewhere', 'hub'));
    assert.deepEqual((await scanHubCache()).models, [], 'a cache that does not exist is empty');
    delete process.env.HF_HOME;
    process.env.XDG_CACHE_HOME = path.join(root, 'xdg');
    assert.equal(hubCacheDir(), path.join(root, 'xdg', 'huggingface', 'hub'));
  });

  it('resolves a model id in the cache to its snapshot; paths and unknown ids pass through', () => {
    assert.equal(resolveModel('trim/demo-qwen2', cache), path.join(cache, 'models--trim--demo-qwen2', 'snapshots', COMMIT));
    assert.equal(resolveModel(DEMO, cache), DEMO);
    assert.equal(resolveModel('plainname', cache), 'plainname', 'not an ORG/NAME: left to the checkpoint reader');
    assert.throws(() => resolveModel('nobody/nothing', cache), /neither a folder nor a model in the Hugging Face cache/);
    // Without refs/main: the only snapshot, or an error that says what to pass.
    const single = path.join(root, 'single');
    layHubCache(single, 'a/b', DEMO, 'd'.repeat(40), false);
    assert.equal(resolveModel('a/b', single), path.join(single, 'models--a--b', 'snapshots', 'd'.repeat(40)));
    mkdirSync(path.join(single, 'models--a--b', 'snapshots', 'e'.repeat(40)));
    assert.throws(() => resolveModel('a/b', single), /2 snapshots and no refs\/main/);
  });

  it('reads the token from HF_TOKEN, else $HF_HOME/token', () => {
    const home = path.join(root, 'tok');
    mkdirSync(home);
    writeFileSync(path.join(home, 'token'), 'hf_file\n');
    assert.equal(hfToken({ HF_HOME: home }), 'hf_file');
    assert.equal(hfToken({ HF_HOME: home, HF_TOKEN: 'hf_env' }), 'hf_env');
    assert.equal(hfToken({ HF_HOME: path.join(root, 'none') }), undefined);
    assert.equal(readFileSync(path.join(home, 'token'), 'utf8'), 'hf_file\n');
  });
});
