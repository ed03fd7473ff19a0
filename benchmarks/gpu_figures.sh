#!/usr/bin/env bash
# GPU figures in one run: the CUDA tests, policy step latency per backend (shipped and
# paper-size models; torch eager, CUDA graphs, ONNX Runtime with TensorRT) and training
# throughput (benchmark loop and the real trainer) on the GPU. Targets (issue 23, one
# H100/H200): shipped model <= 2 ms p50, paper config at its DDIM steps <= 10 ms p50.
#
#   bash benchmarks/gpu_figures.sh STORE [OUT_DIR]      (STORE: a demo store, >= 32 px)
#
# DEVICE=cpu runs the same figures on the CPU (the CUDA tests then skip).
set -euo pipefail
store=$1
out=${2:-results/gpu}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
mkdir -p "$out"
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
fi
"$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.txt" || echo "CUDA tests FAILED"
# Policy step, p50/p99 per backend: eager torch, torch from CUDA graphs, and the exported ONNX
# graphs in ONNX Runtime (TensorRT execution provider, else CUDA). The ONNX rows need
# onnxruntime-gpu (the version of onnxruntime in requirements.txt, installed in its place).
# Shipped model at the runtime's sampling; paper config (untrained) at its DDIM steps (25).
variants=torch,torch_channels_last,onnxruntime
if [ "$device" = cuda ]; then
  variants=torch,torch_cuda_graph,onnxruntime
  if ! "$python" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"; then
    echo "onnxruntime-gpu is not installed: the ONNX Runtime GPU rows are not measured"
    variants=torch,torch_cuda_graph
  fi
fi
for model in "--checkpoint data/checkpoints/df_fruit_swap" "--config config/model_paper.yaml --sampling-steps 0"; do
  "$python" benchmarks/policy_step_bench.py --device "$device" --steps 100 --variants "$variants" $model
done | tee "$out/policy_step.json"
for run in "config/model_cpu.yaml 8" "config/model_cpu.yaml 64" "config/model_paper.yaml 64"; do
  set -- $run
  "$python" benchmarks/train_bench.py --data "$store" --device "$device" --config "$1" --batch "$2"
done | tee "$out/train_bench.json"
run=$(mktemp -d)/run
"$python" -m df_policy.cli train --data "$store" --config config/model_cpu.yaml \
  --out "$run" --steps 300 --device "$device" --set train.checkpoint_every=300 --set train.log_every=100 --quiet 2>&1 | tail -2
tail -3 "$run/log.csv" | tee "$out/train_run_log.txt"
