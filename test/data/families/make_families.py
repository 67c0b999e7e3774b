"""Tiny random checkpoints of four families, written by transformers' own save_pretrained, and
their reference figures (run on the device machine, where transformers and torch are installed):

    OUT=/tmp/fam python3 test/data/families/make_families.py

For each model: a config built with transformers' config class (small sizes, the family's own
features switched on), weights drawn with a fixed seed, saved in its stored dtype (one sharded);
then reloaded from disk by AutoModelForCausalLM in float32 (eager attention, TF32 off, CPU) and:
  - logits of INPUT (24 token ids), kept for vocabulary columns 0..COLS-1 ([24, COLS] row-major, to keep
    the file small; the perplexity covers the whole vocabulary);
  - perplexity as REFERENCE.md §4 on TEXT (the first CHARS characters of media/data/eval-brown.txt,
    tokenized by the demo model's tokenizer.json without special tokens): non-overlapping windows of
    SEQLEN tokens, at most WINDOWS, perplexity = exp(mean over windows of the window's mean loss).
Writes $OUT/<name>/ (checkpoint + tokenizer.json) and $OUT/reference.json.
"""
import json, math, os, shutil, sys, traceback
import torch, transformers
from transformers import AutoModelForCausalLM
from tokenizers import Tokenizer

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))
OUT = os.environ.get('OUT', '/tmp/families')
TOK = os.path.join(ROOT, 'media', 'models', 'trim-demo-qwen2-small', 'tokenizer.json')
TEXT_FILE = os.path.join(ROOT, 'media', 'data', 'eval-brown.txt')
CHARS, SEQLEN, WINDOWS, COLS = 4000, 64, 8, 512
INPUT = [5, 17, 3, 88, 42, 0, 61, 9, 33, 70, 2, 95, 14, 50, 27, 8, 66, 1, 45, 90, 12, 37, 81, 6]
VOCAB = 8192
common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
              pad_token_id=0, bos_token_id=0, eos_token_id=0)
LT = ['sliding_attention', 'full_attention', 'sliding_attention']

def specs():
    C = transformers
    return {
        # Qwen3: per-head q/k RMSNorm, explicit head_dim (q width 4*16=64 != hidden 32), tied embeddings; sharded.
        'qwen3-bf16': (C.Qwen3Config(**common, head_dim=16, tie_word_embeddings=True, rms_norm_eps=1e-6), torch.bfloat16, '300KB'),
        # Gemma 2: pre/post norms (1+w), scaled embeddings, GELU-tanh, attention and final soft-capping
        # (small caps so that tanh bends), alternating sliding window of 8, query_pre_attn_scalar.
        'gemma2-f32': (C.Gemma2Config(**common, head_dim=16, sliding_window=8, layer_types=LT,
                                      attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                      query_pre_attn_scalar=24, hidden_activation='gelu_pytorch_tanh'), torch.float32, None),
        # Gemma 3 text: q/k norms, local rotary base for sliding layers, no soft-capping.
        'gemma3-bf16': (C.Gemma3TextConfig(**common, head_dim=16, sliding_window=8, layer_types=LT,
                                           query_pre_attn_scalar=24, hidden_activation='gelu_pytorch_tanh'), torch.bfloat16, None),
        # Phi-3: fused qkv_proj and gate_up_proj, untied LM head.
        'phi3-f32': (C.Phi3Config(**common, tie_word_embeddings=False, rms_norm_eps=1e-5), torch.float32, None),
    }

def randomize(model, gemma):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.15)
            elif 'norm' in name:
                base = 0.0 if gemma else 1.0
                p.copy_(base + torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)

def main():
    os.makedirs(OUT, exist_ok=True)
    tok = Tokenizer.from_file(TOK)
    text = open(TEXT_FILE, encoding='utf-8').read()[:CHARS]
    ids = tok.encode(text, add_special_tokens=False).ids
    nwin = min(len(ids) // SEQLEN, WINDOWS)
    ref = {'transformers': transformers.__version__, 'torch': torch.__version__, 'input': INPUT,
           'text': {'file': 'media/data/eval-brown.txt', 'chars': CHARS, 'seqlen': SEQLEN, 'windows': nwin,
                    'ids': ids[:nwin * SEQLEN]}, 'models': {}}
    rows = []
    for name, (cfg, dtype, shard) in specs().items():
        try:
            torch.manual_seed(0)
            cfg._attn_implementation = 'eager'
            m = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation='eager')
            randomize(m, 'gemma' in name)
            d = os.path.join(OUT, name)
            shutil.rmtree(d, ignore_errors=True)
            m = m.to(dtype)
            kw = {'max_shard_size': shard} if shard else {}
            m.save_pretrained(d, **kw)
            shutil.copy(TOK, os.path.join(d, 'tokenizer.json'))
            del m
            r = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation='eager').eval()
            with torch.no_grad():
                logits = r(torch.tensor([INPUT])).logits[0].double()
                losses = []
                for w in range(nwin):
                    x = torch.tensor([ids[w * SEQLEN:(w + 1) * SEQLEN]])
                    lg = r(x).logits[0].double()
                    losses.append(torch.nn.functional.cross_entropy(lg[:-1], x[0, 1:]).item())
            ppl = math.exp(sum(losses) / len(losses))
            files = sorted(os.listdir(d))
            ref['models'][name] = {'architecture': type(r).__name__, 'stored_dtype': str(dtype).replace('torch.', ''),
                                   'files': files, 'shape': [logits.shape[0], COLS], 'full_shape': list(logits.shape),
                                   'logits_columns': f'vocabulary columns 0..{COLS - 1} of each of the {logits.shape[0]} positions',
                                   'logits': [round(v, 7) for v in logits[:, :COLS].flatten().tolist()],
                                   'window_losses': [round(v, 9) for v in losses], 'perplexity': ppl,
                                   'params': {k: list(v.shape) for k, v in r.state_dict().items()}}
            rows.append((name, type(r).__name__, str(dtype), len([f for f in files if f.endswith('.safetensors')]),
                         float(logits.abs().max()), ppl))
            print('CONFIG', name, json.dumps(json.load(open(os.path.join(d, 'config.json')))), flush=True)
        except Exception:
            traceback.print_exc()
            rows.append((name, 'FAILED', '', 0, 0.0, float('nan')))
    json.dump(ref, open(os.path.join(OUT, 'reference.json'), 'w'))
    print(f"{'model':<12} {'class':<22} {'dtype':<15} {'shards':>6} {'max|logit|':>10} {'perplexity':>12}")
    for r in rows:
        print(f'{r[0]:<12} {r[1]:<22} {r[2]:<15} {r[3]:>6} {r[4]:>10.4f} {r[5]:>12.4f}')

if __name__ == '__main__':
    main()
