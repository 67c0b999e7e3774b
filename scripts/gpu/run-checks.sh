#!/usr/bin/env bash
# GPU checks on the lent H200 (after the ONNX Runtime CUDA bundle of ../shared/gpu is unpacked into
# /opt/trimgpu; see ../shared/gpu/README.md). Writes its findings under $OUT (or ./gpu-out):
#   placement.txt   which execution provider ORT placed the graphs' nodes on (verbose ORT log)
#   demo-cuda.txt   the demo model's rows of REFERENCE.md §5 on --ep cuda (parity)
#   bench-cuda.txt  per-phase tables (npm run bench equivalent) on the GPU
# usage: bash scripts/gpu/run-checks.sh [placement] [parity] [bench]   (default: all three)
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
export PATH=/opt/trimgpu:$PATH NODE_PATH=/opt/trimgpu/node_modules
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
export TRIM_CACHE_DIR=/tmp/trim-cache
what=${*:-placement parity bench}
DEMO=media/models/trim-demo-qwen2-small
TEXT=media/data/eval-brown.txt
node --version
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if [[ $what == *placement* ]]; then
  TRIM_ORT_LOG=verbose node dist/cli.js prune --out /tmp/placement --overwrite --trim --nsamples 4 --seqlen 128 --max-eval-windows 2 --ep cuda > /tmp/verbose.log 2>&1
  echo "exit $?" > "$OUT/placement.txt"
  grep -iE "placed on|Node placements|CUDAExecutionProvider|CPUExecutionProvider" /tmp/verbose.log | sed -E 's/^.*\] //' | sort | uniq -c | sort -rn | head -60 >> "$OUT/placement.txt"
  tail -3 /tmp/verbose.log >> "$OUT/placement.txt"
fi

if [[ $what == *parity* ]]; then
  {
    node dist/cli.js eval --model $DEMO --text $TEXT --seqlen 512 --ep cuda --json | tail -1
    for row in "wanda70:--sparsity 0.7" "trim70:--sparsity 0.7 --trim" "wanda80:--sparsity 0.8" "trim80:--sparsity 0.8 --trim" "owl70:--sparsity 0.7 --allocation owl" "mag70:--sparsity 0.7 --score magnitude"; do
      name=${row%%:*}; flags=${row#*:}
      echo "$name $(node dist/cli.js prune --out /tmp/demo-$name --overwrite --ep cuda --json $flags | tail -1)"
    done
  } > "$OUT/demo-cuda.txt" 2>&1
fi

if [[ $what == *bench* ]]; then
  node scripts/bench.mjs --model $DEMO --trim --ep cuda --then --model $DEMO --trim --ep cpu > "$OUT/bench-cuda.txt" 2>&1
fi
ls -la "$OUT"
