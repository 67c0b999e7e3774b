"""Loads a pruned checkpoint written by `node dist/cli.js prune` with transformers, as a user would,
and measures its perplexity with the protocol of REFERENCE.md §4 (text tokenized once with
tokenizers.Tokenizer.from_file, non-overlapping windows, mean of per-window mean cross-entropy).
Prints one JSON line: transformers' perplexity, ours (from trim-report.json), the linear sparsity
counted in torch, and loading info (missing/unexpected keys).

    python3 scripts/gpu/check_pruned_transformers.py PRUNED_DIR EVAL_TEXT [--seqlen 512] [--max-windows N]
"""
import json, math, sys
import torch, transformers
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
d, text = sys.argv[1], sys.argv[2]
seqlen = int(sys.argv[sys.argv.index("--seqlen") + 1]) if "--seqlen" in sys.argv else 512
max_windows = int(sys.argv[sys.argv.index("--max-windows") + 1]) if "--max-windows" in sys.argv else None
dev = "cuda" if torch.cuda.is_available() else "cpu"
model, info = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
model = model.to(dev).eval()
ids = Tokenizer.from_file(f"{d}/tokenizer.json").encode(open(text, encoding="utf-8").read(), add_special_tokens=False).ids
n = len(ids) // seqlen
if max_windows is not None: n = min(n, max_windows)
losses = []
with torch.no_grad():
    for w in range(n):
        x = torch.tensor([ids[w * seqlen:(w + 1) * seqlen]], device=dev)
        losses.append(model(x, labels=x).loss.item())
zeros = total = 0
for name, p in model.named_parameters():
    if any(k in name for k in ("qkv_proj", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "out_proj", "fc1", "fc2")) and name.endswith("weight"):
        zeros += (p == 0).sum().item(); total += p.numel()
report = json.load(open(f"{d}/trim-report.json"))
ours = report["perplexity"]["pruned"]["perplexity"]
theirs = math.exp(sum(losses) / len(losses))
print(json.dumps({"model": d, "transformers": transformers.__version__, "windows": n, "tokens": len(ids),
                  "perplexity_transformers": theirs, "perplexity_ours": ours, "relative_difference": abs(theirs - ours) / ours,
                  "sparsity_torch": zeros / total, "sparsity_report": report["sparsity"],
                  "missing_keys": sorted(info["missing_keys"]), "unexpected_keys": sorted(info["unexpected_keys"])}))
