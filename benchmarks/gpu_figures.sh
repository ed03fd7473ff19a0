#!/usr/bin/env bash
# GPU figures in one run: the CUDA tests, policy step latency per backend (shipped and
# paper-size models; torch eager, CUDA graphs, ONNX Runtime with TensorRT when onnxruntime-gpu
# is installed) and training throughput on the GPU. Targets (issue 23, one H100/H200): shipped
# model <= 2 ms p50, paper config at its DDIM steps <= 10 ms p50. Training the recipe itself on
# the GPU: benchmarks/gpu_training.sh.
#
#   bash benchmarks/gpu_figures.sh STORE [OUT_DIR]      (STORE: a demo store, >= 32 px)
#
# DEVICE=cpu runs the same figures on the CPU (the CUDA tests then skip). Each part has its own
# time limit (LIMIT_S, default 150 s), so one that hangs costs its part only.
set -uo pipefail
store=$1
out=${2:-results/gpu}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
limit=${LIMIT_S:-150}
mkdir -p "$out"
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
fi
timeout "$limit" "$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 \
  | tee "$out/test_cuda.txt" || echo "CUDA tests FAILED or timed out"
# Policy step, p50/p99 per backend, one variant per run (a variant that fails loses its row
# only). Shipped model at the runtime's sampling; paper config (untrained) at its DDIM steps.
variants="torch torch_channels_last onnxruntime"
if [ "$device" = cuda ]; then
  variants="torch torch_cuda_graph"
  if "$python" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"; then
    variants="$variants onnxruntime"
  else
    echo "onnxruntime-gpu is not installed: the ONNX Runtime GPU rows are not measured"
  fi
fi
for model in "--checkpoint data/checkpoints/df_fruit_swap" "--config config/model_paper.yaml --sampling-steps 0"; do
  for variant in $variants; do
    timeout "$limit" "$python" benchmarks/policy_step_bench.py --device "$device" --steps 100 \
      --variants "$variant" $model || echo "{\"failed\": \"$variant $model\"}"
  done
done | tee "$out/policy_step.json"
for run in "config/model_cpu.yaml 8" "config/model_cpu.yaml 64"; do
  set -- $run
  timeout "$limit" "$python" benchmarks/train_bench.py --data "$store" --device "$device" \
    --config "$1" --batch "$2" || echo "{\"failed\": \"train_bench $1 $2\"}"
done | tee "$out/train_bench.json"
