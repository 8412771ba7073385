"""Build limits for maximum throughput, chosen as `trtllm-bench` chooses them.

The rules are TensorRT-LLM's `calc_engine_setting` and `finetune_setting`
(tensorrt_llm/bench/build/tuning.py, NVIDIA/TensorRT-LLM commit 04cba882084a25665e7f80f5bda71b35b9790b6f),
written here in the planner's terms:

1. bytes per KV token of the whole model = 2 × layers × max(tp, kv_heads) × head_dim × bytes per KV element;
2. memory for the KV cache = (CUDA total × GPUs − parameters × bytes per weight) × kv fraction;
   both byte counts come from one table (BYTES_PER_ELEM): 1 for FP8 and block-scaled FP8, 0.5 for NVFP4,
   2 for everything else (an INT8 or FP32 KV cache, INT4 weights and MXFP4 included);
3. requests the cache holds = that memory / (bytes per token × (input + output));
4. raw batch = min(requests, 4096) / pp; raw tokens = min(raw batch × (1 + input / output), 32768);
5. max_batch_size rounds the raw batch up: to 32 (at least 64) below 256, to 128 below 1024, else to 256;
   max_num_tokens rounds the raw tokens up: to 256 (at least 2048) below 4096, to 512 below 8192,
   else to 1024.

Where the rule's own byte count leaves no room (weights it counts at 2 bytes, such as MXFP4, outweigh the
GPUs), trtllm-bench refuses to choose ("The model requires at least ...") and a published run must have set
the limits itself. The planner then applies the same rule to the checkpoint's real size on the GPUs (the
memory model's weight bytes), which is the bound that run's KV cache actually had.
"""

from __future__ import annotations

import math

from planner import tensors
from planner.memory.common import checkpoint_bytes
from planner.specs import GpuSpec, ModelSpec

_BYTES = {"fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5}  # trtllm-bench's BYTES_PER_ELEM; anything else: 2


def max_throughput_limits(model: ModelSpec, weights: str, kv_dtype: str, gpu: GpuSpec, tp: int, pp: int,
                          isl: int, osl: int, kv_fraction: float) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) of a maximum-throughput build."""
    gib = float(1 << 30)
    if model.mla:  # the rule counts K and V heads; MLA's latent is the whole per-token cache
        per_token = model.num_layers * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim)
    else:
        per_token = 2 * model.num_layers * max(tp, model.num_kv_heads) * model.head_dim
    per_token = per_token * _BYTES.get(kv_dtype, 2.0) / gib
    engine = tensors.total_params(model) * _BYTES.get(weights, 2.0) / gib
    total = (gpu.cuda_total_bytes or gpu.memory_bytes) / gib * tp * pp
    if total - engine <= per_token * (isl + osl) / kv_fraction:  # trtllm-bench refuses: not one request fits
        engine = checkpoint_bytes(model, weights) / gib
    requests = max((total - engine) * kv_fraction / (per_token * (isl + osl)), 1.0)
    raw_bs = min(requests, 4096) / pp
    raw_tokens = min(raw_bs * (1 + isl / osl), 32768)
    if raw_bs < 256:
        bs = max(64, 32 * math.ceil(raw_bs / 32))
    elif raw_bs < 1024:
        bs = 128 * math.ceil(raw_bs / 128)
    else:
        bs = 256 * math.ceil(raw_bs / 256)
    if raw_tokens < 4096:
        tokens = max(2048, 256 * math.ceil(raw_tokens / 256))
    elif raw_tokens < 8192:
        tokens = 512 * math.ceil(raw_tokens / 512)
    else:
        tokens = 1024 * math.ceil(raw_tokens / 1024)
    return bs, tokens
