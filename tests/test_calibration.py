"""Measured figures from ../shared/calibration.md, reproduced by the memory model."""

from __future__ import annotations

import pytest

from planner import catalog, tensors
from planner.memory import GIB, kv_bytes_per_token, layers_per_stage, stage_weight_bytes


@pytest.mark.parametrize(
    "name,params",
    [("llama-3.1-8b", 8_030_261_248), ("llama-3.1-70b", 70_553_706_496), ("llama-3.1-405b", 405_853_388_800)],
)
def test_exact_parameter_counts(name, params):
    assert tensors.total_params(catalog.get_model(name)) == params


# vLLM 0.19 startup logs, H100 80GB, bf16 (llm-d-incubation/llm-d-planner accuracy/results/v0.19.0/logs):
# "Model loading took X GiB memory" per GPU. vLLM shards the input embedding; at TP 1 that is moot.
@pytest.mark.parametrize("pp,measured_gib", [(1, 14.99), (2, 7.51)])
def test_llama8b_weights_per_gpu_within_2_percent(pp, measured_gib):
    model = catalog.get_model("llama-3.1-8b")
    split = layers_per_stage(model.num_layers, pp)
    worst = 0
    for stage, layers in enumerate(split):
        got = stage_weight_bytes(model, "bf16", 1, sum(split[:stage]), layers, stage == 0, stage == pp - 1)
        worst = max(worst, got)
    assert abs(worst / GIB - measured_gib) / measured_gib < 0.02


def test_llama8b_kv_bytes_per_token_within_half_percent():
    # 58.11 GiB of KV for 476,016 tokens -> 131,080 B per token per GPU (rounded log figures)
    measured = 58.11 * GIB / 476_016
    model = catalog.get_model("llama-3.1-8b")
    got = kv_bytes_per_token(model, 32, 1, "bf16")
    assert abs(got - measured) / measured < 0.005


# TensorRT-LLM docs, reference/memory.md, example log (../shared/calibration.md): an engine of
# 6695 MiB whose KV cache holds 259,840 tokens of 64-token blocks in 63.44 GiB, i.e. 256 B per
# token: a Llama-2-7B-shaped model (32 layers × 32 KV heads × 128) with fp8 weights and fp8 KV
# cache. The build settings are not in the log; trtllm-build's defaults (max_batch_size 2048,
# max_num_tokens 8192) are assumed. Llama-2-7B's config.json: hidden 4096, intermediate 11008,
# vocab 32000, untied embeddings.
LLAMA2_7B = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
    "tie_word_embeddings": False, "torch_dtype": "float16",
}


def test_trtllm_doc_example_end_to_end(tmp_path):
    import json

    from planner.api import make_plan

    (tmp_path / "config.json").write_text(json.dumps(LLAMA2_7B))
    plan = make_plan(model_path=str(tmp_path), gpus="h100", quant="fp8", kv_cache_dtype="fp8",
                     max_batch_size=2048, max_input_len=1024, max_output_len=1024, max_num_tokens=8192,
                     tokens_per_block=64)
    (stage,) = plan.memory.per_gpu
    assert abs(stage.weights_bytes / (6695 << 20) - 1) < 0.02  # "Loaded engine size: 6695 MiB"
    assert plan.kv_cache.bytes_per_token_per_gpu == 2 * 32 * 32 * 128 * 1
    assert abs(plan.kv_cache.max_tokens / 259_840 - 1) < 0.01  # "... paged KV cache (259840)"
    # "Allocated 1134.01 MiB for execution context memory": the estimate is within 10%
    assert abs(stage.activation_bytes / (1134.01 * (1 << 20)) - 1) < 0.10
