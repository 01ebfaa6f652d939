#!/usr/bin/env bash
# The GPU node check of issue #9, in two halves: the bundle is made where .NET is, the bench runs where the GPU is (a
# GPU node needs no .NET: the bundle carries its runtime and loads the node's own PyTorch libtorch, CUDA included).
#
#   deploy/gpu-check.sh prepare          # here: artifacts/bundle.tar.xz (~36 MB; deploy/bundle.sh --libtorch host --tar)
#   deploy/gpu-check.sh run OUTDIR       # on the GPU node, from the repository root with artifacts/bundle.tar.xz beside it
#
# `run` (under 8 minutes on one H200) writes to OUTDIR: gpu.csv (the device), device-mlp.md and device-cnn.md
# (`fedactors bench device --device cuda`: sequential vs client-batched training samples/s for K = 1…1000 clients and
# the batched updates' max |Δ| from the sequential ones), gpu-util.csv (nvidia-smi every 250 ms during the benches) and
# the logs, and run-cuda.log / run-cpu.log (5 quickstart rounds with fedactors.device.kind = cuda, and on the CPU: the
# accuracies should agree to float tolerance). The data is the synthetic set (1×28×28, 10 classes), so the node needs no Fashion-MNIST: samples per second
# do not depend on the pixels. Put its figures in the README with the date.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in
  prepare)
    deploy/bundle.sh --libtorch host --out artifacts/bundle --tar
    ls -l artifacts/bundle.tar.xz ;;
  run)
    out="${2:?usage: deploy/gpu-check.sh run OUTDIR}"
    mkdir -p "$out"
    [ -f artifacts/bundle.tar.xz ] || { echo "artifacts/bundle.tar.xz missing: run 'deploy/gpu-check.sh prepare' where .NET is" >&2; exit 2; }
    work=$(mktemp -d)
    tar -C "$work" -xJf artifacts/bundle.tar.xz
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 250 > "$out/gpu-util.csv" &
    monitor=$!
    trap 'kill $monitor 2>/dev/null || true' EXIT
    for model in mlp cnn; do
      timeout 210 "$work/bundle/fedactors" bench device hocon/experiments/bench-scale.conf --device cuda --clients 1,32,256,1000 \
        --set fedactors.model.kind=$model --set 'fedactors.data.dataset = "synthetic"' --set fedactors.data.synthetic-samples=60000 \
        --out "$work/runs-$model" > "$out/bench-$model.log" 2>&1 || echo "bench $model failed: see bench-$model.log" >&2
      cp "$work"/runs-$model/bench-device-*/device.md "$out/device-$model.md" 2>/dev/null || true
    done
    # the actor runtime on the device (fedactors.device.kind = cuda) and the same run on the CPU, 5 quickstart rounds each
    for kind in cuda cpu; do
      timeout 100 "$work/bundle/fedactors" run hocon/experiments/quickstart.conf --set fedactors.device.kind=$kind --set fedactors.rounds=5 \
        --set 'fedactors.data.dataset = "synthetic"' --set fedactors.data.synthetic-samples=20000 --out "$work/runs-$kind" > "$out/run-$kind.log" 2>&1 \
        || echo "run on $kind failed: see run-$kind.log" >&2
    done
    tail -n 20 "$out"/bench-*.log "$out"/run-*.log ;;
  *)
    echo "usage: deploy/gpu-check.sh prepare | run OUTDIR (see the header of $0)" >&2; exit 2 ;;
esac
