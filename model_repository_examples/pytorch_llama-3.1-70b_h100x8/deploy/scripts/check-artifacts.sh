#!/bin/bash
# Fails fast, before any GPU is touched, when the artifact volume is not populated: the llmapi
# repository (config.pbtxt, model.yaml) and the Hugging Face checkpoint model.yaml names, and the
# container's own llmapi model code.
# Expects DATA_DIR, MODEL_REPO and TOKENIZER_DIR in the environment (LLMAPI_MODEL_CODE overrides
# where the image keeps the llmapi model code).
set -euo pipefail
cd "$DATA_DIR"
fail() {
  echo "planner: $*" >&2
  exit 1
}
[ -f "$MODEL_REPO/tensorrt_llm/config.pbtxt" ] \
  || fail "no $MODEL_REPO/tensorrt_llm/config.pbtxt: copy the planner's output directory into the volume"
[ -f "$MODEL_REPO/tensorrt_llm/1/model.yaml" ] || fail "no $MODEL_REPO/tensorrt_llm/1/model.yaml"
MODEL_DIR=./hf_model
[ -f "$MODEL_DIR/config.json" ] || fail "no checkpoint in $MODEL_DIR (relative to $DATA_DIR): run build.sh first"
[ -d "$TOKENIZER_DIR" ] || fail "no tokenizer directory $TOKENIZER_DIR (relative to $DATA_DIR)"
code="${LLMAPI_MODEL_CODE:-/app/all_models/llmapi/tensorrt_llm/1}"
[ -f "$code/model.py" ] || fail "this image has no $code/model.py: use a Triton TensorRT-LLM image (26.04 or later)"
[ -f "$code/helpers.py" ] || fail "this image has no $code/helpers.py: use a Triton TensorRT-LLM image (26.04 or later)"
echo "planner: llmapi repository and checkpoint found"
