#!/bin/bash
# Fails fast, before any GPU is touched, when the artifact volume is not populated or the
# engines were built for another world size. trtllm-build writes config.json and one
# rank<N>.engine per rank into the engine directory.
# Expects DATA_DIR, MODEL_REPO, ENGINE_DIR, TOKENIZER_DIR and WORLD_SIZE in the environment.
set -euo pipefail
cd "$DATA_DIR"
fail() {
  echo "planner: $*" >&2
  exit 1
}
[ -f "$MODEL_REPO/tensorrt_llm/config.pbtxt" ] \
  || fail "no $MODEL_REPO/tensorrt_llm/config.pbtxt: copy the planner's output directory into the volume"
[ -f "$ENGINE_DIR/config.json" ] || fail "no engine in $ENGINE_DIR (relative to $DATA_DIR): run build.sh first"
last=$((WORLD_SIZE - 1))
[ -f "$ENGINE_DIR/rank${last}.engine" ] || fail "$ENGINE_DIR holds fewer than $WORLD_SIZE rank engines"
[ ! -e "$ENGINE_DIR/rank${WORLD_SIZE}.engine" ] || fail "$ENGINE_DIR holds more than $WORLD_SIZE rank engines"
[ -d "$TOKENIZER_DIR" ] || fail "no tokenizer directory $TOKENIZER_DIR (relative to $DATA_DIR)"
echo "planner: artifacts for $WORLD_SIZE rank(s) found"
