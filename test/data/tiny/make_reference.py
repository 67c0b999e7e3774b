"""Reference logits of the tiny checkpoints from transformers (run on the device machine).

    python3 test/data/tiny/make_reference.py > test/data/tiny/reference-logits.json

Loads each folder with AutoModelForCausalLM in float32 (weights upcast from their stored dtype),
eager attention, TF32 off, and records the logits of TINY_INPUT (the same list as make-models.ts).
"""
import json, os, sys
import torch, transformers
from transformers import AutoModelForCausalLM

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
HERE = os.path.dirname(os.path.abspath(__file__))
INPUT = [5, 17, 3, 88, 42, 0, 61, 9, 33, 70, 2, 95, 14, 50, 27, 8, 66, 1, 45, 90, 12, 37, 81, 6]
out = {"transformers": transformers.__version__, "torch": torch.__version__, "input": INPUT, "models": {}}
for name in sorted(os.listdir(HERE)):
    d = os.path.join(HERE, name)
    if not os.path.isfile(os.path.join(d, "config.json")):
        continue
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        logits = m(torch.tensor([INPUT])).logits[0].double()
    out["models"][name] = {"stored_dtype": json.load(open(os.path.join(d, "config.json"))).get("torch_dtype"),
                           "shape": list(logits.shape), "logits": [round(v, 7) for v in logits.flatten().tolist()]}
    print(name, logits.shape, file=sys.stderr)
json.dump(out, sys.stdout)
