#!/usr/bin/env bash
# The GPU node check of issue #9, in two halves: the bundle is made where .NET is, the bench runs where the GPU is (a
# GPU node needs no .NET: the bundle carries its runtime and loads the node's own PyTorch libtorch, CUDA included).
#
#   deploy/gpu-check.sh prepare          # here: artifacts/bundle.tar.xz (~45 MB; deploy/bundle.sh --libtorch host --tar)
#   deploy/gpu-check.sh run OUTDIR       # on the GPU node, from the repository root with artifacts/bundle.tar.xz beside it
#
# `run` (each step has its own timeout, 2×100 + 5×30 + 2×75 + 3×20 + 30 s, and all of them together share one budget of
# GPU_CHECK_SECONDS, 450 by default, counted from the start with the unpacking: a step gets what is left of it and is skipped,
# saying so in its log, when less than 10 s is; so the whole check stays under 8 minutes and the least needed steps come last) writes to OUTDIR: gpu.csv (the device), device-mlp.md and device-cnn.md
# (`fedactors bench device --device cuda`: sequential vs client-batched training samples/s for K = 1…1000 clients and
# the batched updates' max |Δ| from the sequential ones, and the GPU's sequential updates' from the CPU's), gpu-util.csv (nvidia-smi every 250 ms during the benches) and
# the logs, run-{cuda,cuda-batched,cuda-batched-again,cpu,cuda-fedala}.log with their rounds (5 quickstart rounds with
# fedactors.device.kind = cuda, with 10 clients a batched call twice, and on the CPU: the accuracies should agree to float
# tolerance; repeat.txt says whether the two batched GPU runs gave the same bits; and FedALA on the GPU, 10 clients a
# batched call: its ALA step and the personal batched path on the device), and
# scale-batch-{1,250}.log with their rounds.csv and summary.json (FedAvgCNN, 1,000 clients a round, one at a time vs 250 a call),
# and method-{dbe,gpfl,fedcp,skymask}.log with their rounds (2 rounds each on the GPU: DBE, GPFL and FedCP on PFLlib's
# Dir(0.1) setting, SkyMask against the scaling backdoor in its own setting: they train and evaluate on the device, their
# extra modules and the masks included; the CPU's counterparts are the same commands with kind cpu, on any machine).
# The data is the synthetic set (1×28×28, 10 classes), so the node needs no Fashion-MNIST: samples per second
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
    deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-450} ))
    # within SECONDS CMD…: CMD under a timeout of SECONDS or of what is left of the budget, whichever is less; a CMD that
    # outlives its SIGTERM (the CLI writes its reports first) is killed 15 s later, and those 15 s are kept in the budget
    within() {
      local own=$1 left=$(( deadline - $(date +%s) - 15 )); shift
      if (( left < 10 )); then echo "skipped: the check's budget (GPU_CHECK_SECONDS) is spent"; return 124; fi
      timeout -k 15 $(( own < left ? own : left )) "$@"
    }
    work=$(mktemp -d)
    tar -C "$work" -xJf artifacts/bundle.tar.xz
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 250 > "$out/gpu-util.csv" &
    monitor=$!
    trap 'kill $monitor 2>/dev/null || true' EXIT
    for model in mlp cnn; do
      within 100 "$work/bundle/fedactors" bench device hocon/experiments/bench-scale.conf --device cuda --clients 1,32,256,1000 \
        --set fedactors.model.kind=$model --set 'fedactors.data.dataset = "synthetic"' --set fedactors.data.synthetic-samples=60000 \
        --out "$work/runs-$model" > "$out/bench-$model.log" 2>&1 || echo "bench $model failed: see bench-$model.log" >&2
      cp "$work"/runs-$model/bench-device-*/device.md "$out/device-$model.md" 2>/dev/null || true
    done
    # the actor runtime on the device (fedactors.device.kind = cuda), with batched clients (twice: does a GPU run repeat
    # bit for bit?), and the same run on the CPU, 5 quickstart rounds each: the accuracies should agree to float tolerance
    for kind in cuda cuda-batched cuda-batched-again cpu cuda-fedala; do
      within 30 "$work/bundle/fedactors" run hocon/experiments/quickstart.conf --set fedactors.device.kind=${kind%%-*} --set fedactors.rounds=5 \
        --set fedactors.device.batch-clients=$(case $kind in cuda-batched*|cuda-fedala) echo 10;; *) echo 1;; esac) \
        --set fedactors.personalization.method=$([ $kind = cuda-fedala ] && echo fedala || echo none) \
        --set 'fedactors.data.dataset = "synthetic"' --set fedactors.data.synthetic-samples=20000 --out "$work/runs-$kind" > "$out/run-$kind.log" 2>&1 \
        || echo "run on $kind failed: see run-$kind.log" >&2
      cut -d, -f1-12 "$work"/runs-$kind/*/rounds.csv > "$out/run-$kind-rounds.csv" 2>/dev/null || true
    done
    if [ ! -s "$out/run-cuda-batched-rounds.csv" ] || [ ! -s "$out/run-cuda-batched-again-rounds.csv" ]; then echo "repeat not checked: a batched GPU run failed" > "$out/repeat.txt"
    elif cmp -s "$out/run-cuda-batched-rounds.csv" "$out/run-cuda-batched-again-rounds.csv"; then echo "GPU batched run repeats bit for bit" > "$out/repeat.txt"
    else echo "GPU batched run does NOT repeat bit for bit:" > "$out/repeat.txt"; diff "$out/run-cuda-batched-rounds.csv" "$out/run-cuda-batched-again-rounds.csv" >> "$out/repeat.txt" || true; fi
    # the issue's target: FedAvgCNN, batch 10, 1,000 clients a round on one GPU (3 rounds; wall time per round in the log,
    # 20,000 samples a round at bench-scale's 20 a client), one at a time (16 workers) and 250 clients a call (4 workers)
    for batch in 1 250; do
      within 75 "$work/bundle/fedactors" run hocon/experiments/bench-scale.conf --set fedactors.device.kind=cuda --set fedactors.model.kind=cnn \
        --set fedactors.rounds=3 --set fedactors.device.batch-clients=$batch --set fedactors.device.workers=$([ $batch = 1 ] && echo 16 || echo 4) \
        --set fedactors.round.max-in-flight=1000 --set fedactors.state.store=memory --set 'fedactors.data.dataset = "synthetic"' --set fedactors.data.synthetic-samples=60000 \
        --out "$work/scale-$batch" > "$out/scale-batch-$batch.log" 2>&1 || echo "scale run (batch $batch) failed: see scale-batch-$batch.log" >&2
      cp "$work"/scale-$batch/*/rounds.csv "$out/scale-batch-$batch-rounds.csv" 2>/dev/null || true
      # with batched_busy_share: how full the batched calls were (places that trained a client ÷ all places)
      cp "$work"/scale-$batch/*/summary.json "$out/scale-batch-$batch-summary.json" 2>/dev/null || true
    done
    # the methods that make tensors of their own (TensorPlacementTests checks on the CPU that each names its device)
    for method in dbe gpfl fedcp skymask; do
      if [ $method = skymask ]; then set -- hocon/experiments/skymask-fmnist.conf --set fedactors.attack.kind=scaling --set fedactors.data.synthetic-samples=6000
      else set -- hocon/experiments/pfl-fmnist-dir01.conf --set fedactors.personalization.method=$method --set fedactors.data.synthetic-samples=6000; fi
      within $([ $method = skymask ] && echo 30 || echo 20) "$work/bundle/fedactors" run "$@" --set fedactors.device.kind=cuda --set fedactors.rounds=2 --set 'fedactors.data.dataset = "synthetic"' \
        --out "$work/method-$method" > "$out/method-$method.log" 2>&1 || echo "$method on cuda failed: see method-$method.log" >&2
      cut -d, -f1-12 "$work"/method-$method/*/rounds.csv > "$out/method-$method-rounds.csv" 2>/dev/null || true
    done
    tail -n 20 "$out"/bench-*.log "$out"/run-*.log "$out"/scale-*.log "$out"/method-*.log; cat "$out/repeat.txt" ;;
  *)
    echo "usage: deploy/gpu-check.sh prepare | run OUTDIR (see the header of $0)" >&2; exit 2 ;;
esac
