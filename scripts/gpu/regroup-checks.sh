#!/usr/bin/env bash
# Issue 18 on the lent device: is the reshaped engine (src/core in folders, the split files) the
# same on CUDA as main before it (1a7fa8c)? Runs the demo in four settings with both builds on the
# same card and prints the sha256 of each pruned model.safetensors and its perplexities; the two
# builds must agree to the bit. Needs the ONNX Runtime CUDA bundle unpacked into /opt/trimgpu (see
# ../shared/gpu/README.md) and the earlier build in ./out-olddist (carried), this one in ./dist.
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
export PATH=/opt/trimgpu:$PATH NODE_PATH=/opt/trimgpu/node_modules
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
export TRIM_CACHE_DIR=/tmp/trim-cache-$$
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
printf '%-10s %-12s %-8s %-16s %-18s %-18s %-10s %s\n' setting build exit sha256 dense pruned sparsity seconds
for setting in "fused:--trim" "host:--trim --input-recalc" "owl:--trim --allocation owl" "alpha:--allocation alpha --alpha-epsilon 0.1"; do
  name=${setting%%:*}; args=${setting#*:}
  for build in out-olddist dist; do
    o=/tmp/rg-$name-$build; rm -rf "$o"
    t0=$(date +%s.%N)
    node $build/cli.js prune --out "$o" --ep cuda --json $args > "$OUT/$name-$build.jsonl" 2> "$OUT/$name-$build.err"; rc=$?
    t1=$(date +%s.%N)
    h=$( [ -f "$o/model.safetensors" ] && sha256sum "$o/model.safetensors" | cut -c1-16 || echo - )
    r=$( [ -f "$o/trim-report.json" ] && node -e 'const r=require(process.argv[1]);console.log(r.perplexity?.dense?.perplexity, r.perplexity?.pruned?.perplexity, Number(r.sparsity).toFixed(6))' "$o/trim-report.json" || echo "- - -")
    printf '%-10s %-12s %-8s %-16s %-18s %-18s %-10s %.1f\n' "$name" "$build" "$rc" "$h" $r "$(node -e "console.log($t1 - $t0)")"
  done
done
