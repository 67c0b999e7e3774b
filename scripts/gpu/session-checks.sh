#!/usr/bin/env bash
# GPU checks of the 2026-12-05 work, on the lent device (after the ONNX Runtime CUDA bundle of
# ../shared/gpu is unpacked into /opt/trimgpu). Prints short tables; writes logs under $OUT.
#   1. the CLI's job in a child process (src/cliSupervisor.ts) on CUDA: a plain run, and SIGTERM in
#      the middle of a long device run (seconds from the signal to the exit, what is left on disk);
#   2. the four new families (test/data/families) on CUDA: dense perplexity against transformers'
#      reference, prune --trim on CUDA, the pruned checkpoint loaded by transformers;
#   3. the fused path's phase words on CUDA (the summary's split).
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
export PATH=/opt/trimgpu:$PATH NODE_PATH=/opt/trimgpu/node_modules
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
export TRIM_CACHE_DIR=/tmp/trim-cache PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
node --version

echo "== 1. demo on CUDA through the supervised child"
node dist/cli.js prune --out /tmp/demo-trim --overwrite --trim --sparsity 0.7 --ep cuda > "$OUT/demo-cuda.log" 2>&1; echo "exit $?"
grep -iE "device|time|perplexity|sparsity|precision" "$OUT/demo-cuda.log" | tail -8
echo "== 1b. SIGTERM in the middle of one long CUDA run"
for sig in TERM INT2; do
  rm -rf /tmp/stop-out
  node dist/cli.js prune --out /tmp/stop-out --trim --iterations 1000 --nsamples 128 --seqlen 512 --blocks-per-run 6 --no-eval --ep cuda --json > /tmp/stop.jsonl 2> /tmp/stop.err &
  P=$!
  for i in $(seq 1 600); do grep -q '"block_start"' /tmp/stop.jsonl 2>/dev/null && break; sleep 0.1; done
  sleep 2
  t0=$(date +%s.%N)
  if [ $sig = TERM ]; then kill -TERM $P; else kill -INT $P; sleep 0.1; kill -INT $P; fi
  wait $P; rc=$?; t1=$(date +%s.%N)
  left=$(ls -a /tmp | grep -c "stop-out" || true)
  echo "signal $sig: exit $rc after $(python3 -c "print(round($t1-$t0,2))") s; entries named stop-out left in /tmp: $left; last error: $(grep -m1 error /tmp/stop.err | cut -c1-160)"
  pgrep -f "dist/cli.js prune" >/dev/null && echo "  a job process is still alive!" || echo "  no job process left"
done

echo "== 2. families on CUDA"
python3 -c "open('/tmp/fam-text.txt','w',encoding='utf-8').write(open('media/data/eval-brown.txt',encoding='utf-8').read()[:4000])"
printf '%-12s %5s %12s %12s %9s %5s %12s %12s %9s %8s %8s %s\n' model eval dense_cuda dense_tf rel prune pruned_ours pruned_tf rel spars_tf spars_rep missing/unexpected
for m in qwen3-bf16 gemma2-f32 gemma3-bf16 phi3-f32; do
  d=test/data/families/$m
  node dist/cli.js eval --model $d --text /tmp/fam-text.txt --seqlen 64 --max-windows 8 --ep cuda --json > "$OUT/eval-$m.jsonl" 2>&1; erc=$?
  node dist/cli.js prune --model $d --out /tmp/fam-$m --overwrite --trim --sparsity 0.5 --nsamples 16 --seqlen 64 --max-eval-windows 64 --ep cuda --json > "$OUT/fam-$m.jsonl" 2>&1; prc=$?
  tf=$( [ $prc = 0 ] && python3 scripts/gpu/check_pruned_transformers.py /tmp/fam-$m media/data/eval-brown.txt --seqlen 64 --max-windows 64 2>/dev/null | tail -1 )
  python3 - "$m" "$erc" "$prc" "$tf" "$OUT" <<'PY' 2>&1
import json, sys
m, erc, prc, tf, out = sys.argv[1:6]
ref = json.load(open('test/data/families/reference.json'))['models'][m]['perplexity']
def last(f):
    r = {}
    for l in open(f):
        try:
            e = json.loads(l)
        except Exception:
            continue
        if isinstance(e, dict) and e.get('type') in ('summary', 'eval', 'result', 'done'): r = e
        elif isinstance(e, dict) and 'perplexity' in e: r = e
    return r
ev = last(f'{out}/eval-{m}.jsonl'); pr = last(f'{out}/fam-{m}.jsonl')
try: t = json.loads(tf)
except Exception: t = {}
def f(v, n=4): return f'{v:.{n}f}' if isinstance(v, (int, float)) else '-'
d = ev.get('perplexity')
print(f"{m:<12} {erc:>5} {f(d):>12} {f(ref):>12} {f(abs(d-ref)/ref if isinstance(d,(int,float)) else None,6):>9} {prc:>5} {f(pr.get('perplexity')):>12} {f(t.get('perplexity_transformers')):>12} {f(t.get('relative_difference'),6):>9} {f(t.get('sparsity_torch')):>8} {f(t.get('sparsity_report')):>8} {len(t.get('missing_keys',[]))}/{len(t.get('unexpected_keys',[]))}")
if erc != '0' or prc != '0':
    print('   eval:', open(f'{out}/eval-{m}.jsonl').read()[-300:]); print('   prune:', open(f'{out}/fam-{m}.jsonl').read()[-300:])
PY
done

echo "== 3. phase words on CUDA (demo, the summary line)"
grep -iE "statistics|unsplit|phase" "$OUT/demo-cuda.log" | tail -3
ls "$OUT"
