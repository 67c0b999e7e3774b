#!/usr/bin/env bash
# GPU checks of the fused pruning graph on the lent H200 (bundle unpacked into /opt/trimgpu; see
# ../shared/gpu/README.md). Prints short tables; figures go to BENCHMARKS.md by hand.
#   bash scripts/gpu/fused-checks.sh parity                      demo rows of REFERENCE.md §5 on --ep cuda
#   bash scripts/gpu/fused-checks.sh placement                   provider of every node of the fused graph
#   bash scripts/gpu/fused-checks.sh bench PRESET [prune options] full real-shaped synth, TRIM 70%, 128 × 2048
#        (LAYERS=n: only the first n blocks of PRESET)
#   bash scripts/gpu/fused-checks.sh profile PRESET LAYERS [prune options]   the first LAYERS blocks of PRESET:
#        ORT's per-node profile with CUDA_LAUNCH_BLOCKING=1 (GPU time per node), summed by phase and operator
set -u
export PATH=/opt/trimgpu:$PATH NODE_PATH=/opt/trimgpu/node_modules
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
export TRIM_CACHE_DIR=/tmp/trim-cache
DEMO=media/models/trim-demo-qwen2-small
# setup DIR SYNTH-OPTIONS: the synthetic checkpoint (once), the calibration text, the page cache warm.
setup() {
  local dir=$1; shift
  [ -d "$dir" ] || node dist/cli.js synth "$@" --out "$dir" | tail -1
  # 128 × 2048 tokens need more text than calib.txt's 94k tokens: repeat it (timing only).
  [ -f /tmp/calib3.txt ] || for i in 1 2 3; do cat media/data/calib.txt; done > /tmp/calib3.txt
  cat "$dir"/*.safetensors > /dev/null   # page cache warm, as the criterion says
}
mode=$1; shift
case $mode in
parity)
  node dist/cli.js eval --model $DEMO --text media/data/eval-brown.txt --ep cuda --json | tail -1 | cut -c1-160
  for row in "wanda70:--sparsity 0.7" "trim70:--sparsity 0.7 --trim" "wanda80:--sparsity 0.8" "trim80:--sparsity 0.8 --trim" "owl70:--sparsity 0.7 --allocation owl" "mag70:--sparsity 0.7 --score magnitude"; do
    name=${row%%:*}; flags=${row#*:}
    node dist/cli.js prune --model $DEMO --out /tmp/demo-$name --overwrite --ep cuda --json $flags "$@" | tail -1 |
      node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log('$name', j.perplexity, j.sparsity, 'prune', j.seconds.prune.toFixed(2), 's')})"
  done ;;
placement)
  TRIM_ORT_LOG=verbose node dist/cli.js prune --model $DEMO --out /tmp/placement --overwrite --trim --nsamples 4 --seqlen 128 --no-eval --ep cuda > /tmp/verbose.log 2>&1
  echo "exit $?"
  grep -iE "placed on|Node placements|All nodes" /tmp/verbose.log | sed -E 's/^.*\] //' | sort | uniq -c | sort -rn | head -30 ;;
bench)
  preset=$1; shift
  dir=/tmp/synth-$preset${LAYERS:+-L$LAYERS}
  setup "$dir" --preset "$preset" ${LAYERS:+--layers $LAYERS}
  node scripts/bench.mjs --model "$dir" --calib /tmp/calib3.txt --trim --sparsity 0.7 --nsamples 128 --seqlen 2048 --no-eval --ep cuda "$@" ;;
profile)
  preset=$1; layers=$2; shift 2
  dir=/tmp/synth-$preset-L$layers
  setup "$dir" --preset "$preset" --layers "$layers"
  rm -rf /tmp/prof && mkdir -p /tmp/prof
  CUDA_LAUNCH_BLOCKING=1 TRIM_ORT_PROFILE=/tmp/prof/p node dist/cli.js prune --model "$dir" --calib /tmp/calib3.txt --trim --sparsity 0.7 \
    --nsamples 128 --seqlen 2048 --no-eval --ep cuda --out /tmp/prof/out --overwrite --json "$@" | grep '"Blocks ' | cut -c1-400
  node scripts/gpu/profile-summary.mjs /tmp/prof/p_*.json ;;
esac
