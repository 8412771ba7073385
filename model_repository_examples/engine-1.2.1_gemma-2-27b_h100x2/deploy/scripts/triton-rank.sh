#!/bin/bash
# One Triton server per MPI rank, 2 rank(s) in all (TP 2 x PP 1).
# Started by mpirun (Kubernetes, Compose) or by `srun --mpi=pmix` (Slurm). The arguments follow
# tensorrtllm_backend's scripts/launch_triton_server.py (v0.19.0): rank 0 serves every model and
# the HTTP/gRPC/metrics endpoints; the other ranks load only the tensorrt_llm model (its
# ranks wait inside the backend for rank 0) and open no ports, as in Triton's multi-node
# Kubernetes tutorial (TensorRT-LLM_Multi-Node_Distributed_Models, server.py).
# Expects DATA_DIR and MODEL_REPO in the environment (TRITONSERVER overrides the binary).
# Several replicas on one host set HTTP_PORT, GRPC_PORT, METRICS_PORT and SHM_PREFIX per replica
# (and their own GPUs): deploy/docker/compose.yaml and the README's bare-metal commands do.
set -euo pipefail
rank="${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}"
http_port="${HTTP_PORT:-8000}"
grpc_port="${GRPC_PORT:-8001}"
metrics_port="${METRICS_PORT:-8002}"
shm_prefix="${SHM_PREFIX:-prefix}"
# config.pbtxt names the engine and tokenizer directories relative to the output directory.
cd "$DATA_DIR"
args=(
  "--model-repository=$MODEL_REPO"
  "--http-port=$http_port"
  "--grpc-port=$grpc_port"
  "--metrics-port=$metrics_port"
  --disable-auto-complete-config
  # each rank's Python backend stubs need their own shared-memory region names
  "--backend-config=python,shm-region-prefix-name=${shm_prefix}${rank}_"
)
if [ "$rank" != 0 ]; then
  args+=(
    --model-control-mode=explicit
    --load-model=tensorrt_llm
    --allow-http=false
    --allow-grpc=false
    --allow-metrics=false
  )
fi
exec "${TRITONSERVER:-/opt/tritonserver/bin/tritonserver}" "${args[@]}"
