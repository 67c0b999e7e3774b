#!/usr/bin/env bash
# On the H200 (bundle unpacked into /opt/trimgpu): synthesize a real-shaped checkpoint with a few
# blocks and print the per-phase table of a TRIM 70% run at 128 windows × 2048 tokens.
# usage: bash scripts/gpu/bench-synth.sh PRESET LAYERS [extra prune options]
set -u
export PATH=/opt/trimgpu:$PATH NODE_PATH=/opt/trimgpu/node_modules
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
preset=$1; layers=$2; shift 2
dir=/tmp/synth-$preset-$layers
[ -d "$dir" ] || node dist/cli.js synth --preset "$preset" --layers "$layers" --out "$dir"
# 128 × 2048 tokens need more text than calib.txt's 94k tokens: repeat it (timing only).
[ -f /tmp/calib3.txt ] || for i in 1 2 3; do cat media/data/calib.txt; done > /tmp/calib3.txt
node scripts/bench.mjs --model "$dir" --calib /tmp/calib3.txt --trim --sparsity 0.7 --nsamples 128 --seqlen 2048 --no-eval --ep cuda "$@"
