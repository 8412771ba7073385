#!/bin/bash
# One MPI rank of the LLM API (TensorRT-LLM PyTorch flow), 8 rank(s) in all (TP 8 x PP 1).
# Started by mpirun (Kubernetes, Compose) or by `srun --mpi=pmix` (Slurm). trtllm-llmapi-launch runs
# tritonserver on rank 0, whose tensorrt_llm model builds the LLM over the whole MPI world, and
# makes every other rank one of its workers (tensorrtllm_backend docs/llmapi.md, multi-node launch).
# No --disable-auto-complete-config: the model's auto-complete applies model.yaml's triton_config.
# Expects DATA_DIR and MODEL_REPO in the environment (TRITONSERVER overrides the binary,
# LLMAPI_MODEL_CODE the directory of the llmapi model code).
# Several replicas on one host set HTTP_PORT, GRPC_PORT, METRICS_PORT and SHM_PREFIX per replica
# (deploy/docker/compose.yaml does).
set -euo pipefail
rank="${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}"
# model.yaml names the checkpoint relative to the output directory.
cd "$DATA_DIR"
# The repository holds config.pbtxt and model.yaml; the model code is the container's own
# (/app/all_models/llmapi/tensorrt_llm/1), copied into a private copy of the repository so it always matches
# the container's TensorRT-LLM and the mounted output directory stays read-only.
code="${LLMAPI_MODEL_CODE:-/app/all_models/llmapi/tensorrt_llm/1}"
run_repo="$(mktemp -d)/model_repository"
cp -r "$MODEL_REPO" "$run_repo"
cp "$code/model.py" "$run_repo/tensorrt_llm/1/model.py"
cp "$code/helpers.py" "$run_repo/tensorrt_llm/1/helpers.py"
args=(
  "--model-repository=$run_repo"
  "--http-port=${HTTP_PORT:-8000}"
  "--grpc-port=${GRPC_PORT:-8001}"
  "--metrics-port=${METRICS_PORT:-8002}"
  # each rank's Python backend stubs need their own shared-memory region names
  "--backend-config=python,shm-region-prefix-name=${SHM_PREFIX:-prefix}${rank}_"
)
exec trtllm-llmapi-launch "${TRITONSERVER:-/opt/tritonserver/bin/tritonserver}" "${args[@]}"
