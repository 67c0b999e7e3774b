#!/usr/bin/env bash
# The H200 checks of issue 15 (GPU for everyone who installs the extension), run on the device
# machine from the repository root. NOT run yet: written on a CPU-only session for a later one.
#
# Here first: `node scripts/build.mjs && bash scripts/gpu/issue15-stage.sh` (→ .gpu15-1 … .gpu15-N).
# Device calls, back to back on the same warm machine (one call carries at most 64 MiB):
#   for K in 1 … N-1:  run carry [".gpu15-K"]         mkdir -p /opt/stage && cp .gpu15-K/* /opt/stage/
#   then:              run carry [".gpu15-N", "dist"] cp .gpu15-N/* /opt/stage/ && bash scripts/gpu/issue15-checks.sh unpack setup doctor demo
#   then:              run carry ["dist"]             bash scripts/gpu/issue15-checks.sh hold24        (~6-8 min: synth 7B once, then the run)
#   then:              run carry ["dist"]             bash scripts/gpu/issue15-checks.sh hold16
#   then:              run carry ["dist"]             bash scripts/gpu/issue15-checks.sh parity table
# (/opt survives between calls of one lease; ./node_modules, unpacked here, is ignored and kept too.)
# Every mode appends rows to /opt/trim15/results.tsv; `table` prints them all.
#
# No LD_LIBRARY_PATH is set: the CLI must find CUDA 13 and cuDNN by itself (gpu doctor), and the
# provider comes from `gpu setup --from` npm's tarball (integrity checked), not the hand bundle.
set -u
T=${ISSUE15_DIR:-/opt/trim15}; S=${ISSUE15_STAGE:-/opt/stage}; R=$T/results.tsv
export PATH=$T:$PATH TRIM_CACHE_DIR=$T/cache
unset LD_LIBRARY_PATH NODE_PATH
DEMO=media/models/trim-demo-qwen2-small
M=/tmp/synth-qwen2.5-7b; C=/tmp/calib3.txt
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> $R; printf '%-28s %-10s %s\n' "$1" "$2" "$3"; }
holder() {  # holder KEEP_GiB: the card looks like a KEEP-GiB card until `kill $H`
  python3 $T/hold_gpu.py "$1" > /tmp/holder.txt 2>&1 & H=$!
  until grep -q holding /tmp/holder.txt 2>/dev/null; do kill -0 $H 2>/dev/null || { cat /tmp/holder.txt; return 1; }; sleep 1; done
  cat /tmp/holder.txt; nvidia-smi --query-gpu=memory.free,memory.total --format=csv,noheader
}
synth7b() {
  [ -d $M ] || node dist/cli.js synth --preset qwen2.5-7b --out $M | tail -1
  [ -f $C ] || for i in 1 2 3; do cat media/data/calib.txt; done > $C
  cat $M/*.safetensors > /dev/null
}
hold() {  # hold KEEP: the 7B shape with no flags at all (only the protocol: TRIM 70%, 128 × 2048, no evaluation)
  synth7b; holder "$1" || { row "7B under $1 GiB holder" FAIL "holder did not start"; return; }
  node scripts/bench.mjs --model $M --calib $C --trim --sparsity 0.7 --nsamples 128 --seqlen 2048 --no-eval 2>&1 | tee /tmp/hold$1.txt
  rc=${PIPESTATUS[0]}; kill $H; wait $H 2>/dev/null
  span=$(grep -o 'prune span[^|]*| [0-9.]*' /tmp/hold$1.txt | grep -o '[0-9.]*$'); peak=$(grep -o 'peak GPU memory *| [^|]*' /tmp/hold$1.txt | sed 's/.*| //')
  plan=$(grep -o 'precision, GPU memory planned *| [^|]*' /tmp/hold$1.txt | sed 's/.*| //')
  row "7B no flags, ${1} GiB card" "$([ $rc = 0 ] && echo ok || echo FAIL)" "span ${span:-?} s, peak GPU ${peak:-?}, ${plan:-?}$(grep -o 'error: .*' /tmp/hold$1.txt | head -1)"
}
[ -f $R ] || { mkdir -p $T; : > $R; }
for mode in "$@"; do case $mode in
unpack)
  mkdir -p $T && cat $S/part.* | tar x -C $T && (cd $T && sha512sum -c SHA512SUMS) && cp $S/hold_gpu.py $T/ &&
  xz -d -c $T/node.xz > $T/node && chmod +x $T/node && xz -d -c $T/ort-npm.tar.xz | tar x -C . &&
  node --version && row unpack ok "node $(node --version), onnxruntime-node $(node -p "require('onnxruntime-node/package.json').version")" ;;
setup)
  t0=$(date +%s%N); node dist/cli.js gpu setup --from $T/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz; rc=$?
  row "gpu setup --from" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$(( ($(date +%s%N) - t0) / 1000000 )) ms"
  node dist/cli.js gpu setup | tail -1 ;;
doctor)
  node dist/cli.js gpu doctor | tee /tmp/doctor.txt
  row "gpu doctor" "$(grep -q '^CUDA ready' /tmp/doctor.txt && grep -q 'a CUDA session was created' /tmp/doctor.txt && echo ok || echo FAIL)" "$(head -1 /tmp/doctor.txt)" ;;
demo)
  node dist/cli.js prune --ep auto --out /tmp/demo-auto --overwrite --json > /tmp/demo.json 2>/tmp/demo.err; rc=$?
  node -e "const ls=require('fs').readFileSync('/tmp/demo.json','utf8').trim().split('\n').map(JSON.parse);const s=ls.find(e=>e.type==='start'),e=ls[ls.length-1];console.log(JSON.stringify({ep:s&&s.ep,notice:s&&s.epNotice,device:s&&s.device,precision:e.precision,ppl:e.perplexity,total:e.seconds&&e.seconds.total}))" | tee /tmp/demo.sum
  row "demo prune --ep auto" "$([ $rc = 0 ] && grep -q '"ep":"cuda"' /tmp/demo.sum && echo ok || echo FAIL)" "$(cat /tmp/demo.sum) $(tail -1 /tmp/demo.err | grep error)" ;;
hold24) hold 24 ;;
hold16) hold 16 ;;
parity)
  # REFERENCE.md §5, trim-demo-qwen2-small, the float16 column (the new defaults run float16 on CUDA);
  # tolerances there: dense 0.5%, 70% runs 1% (TRIM 3%), 80% runs 3%.
  for r in "wanda70:221.53:1:--sparsity 0.7" "trim70:221.03:3:--sparsity 0.7 --trim" "wanda80:629.07:3:--sparsity 0.8" \
           "trim80:610.46:3:--sparsity 0.8 --trim" "owl70:204.24:1:--sparsity 0.7 --allocation owl" "mag70:249.73:1:--sparsity 0.7 --score magnitude"; do
    IFS=: read -r name ref tol flags <<< "$r"
    out=$(node dist/cli.js prune --out /tmp/par-$name --overwrite --json $flags | tail -1)
    got=$(node -e "const j=JSON.parse(process.argv[1]);console.log(j.perplexity+' '+j.dense_perplexity+' '+j.ep+' '+j.precision)" "$out")
    read -r ppl dense ep prec <<< "$got"
    ok=$(node -e "console.log(Math.abs($ppl/$ref-1)*100<=$tol && Math.abs($dense/113.76-1)*100<=0.5 ? 'ok' : 'FAIL')")
    row "parity $name" "$ok" "$ppl vs $ref (±$tol%), dense $dense, $ep $prec"
  done ;;
table) echo; echo "issue 15 checks ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"; awk -F'\t' '{ printf "%-28s %-6s %s\n", $1, $2, $3 }' $R ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac; done
