"""Worked numbers: each expectation is derived by hand from the published architecture,
not by calling the code under test."""

from __future__ import annotations

import pytest

from planner import catalog, tensors
from planner.memory import GIB, kv_bytes_per_token, kv_pool, layers_per_stage, stage_weight_bytes
from planner.specs import RuntimeProfile

# Llama 3.1 70B (config.json): hidden 8192, intermediate 28672, 80 layers, 64 heads, 8 KV heads,
# head_dim 128, vocab 128256, untied embeddings, RMSNorm, no biases.
H, INTER, L, HEADS, KV, D, V = 8192, 28672, 80, 64, 8, 128, 128256


def llama70b_layer(tp: int) -> int:
    q = H * HEADS * D // tp
    kv = 2 * H * max(1, KV // tp) * D
    o = HEADS * D // tp * H
    mlp = 3 * H * (INTER // tp)
    norms = 2 * H
    return q + kv + o + mlp + norms


def test_llama70b_total_params_match_published(llama70b):
    # 70,553,706,496 from the published safetensors total
    assert tensors.total_params(llama70b) == 70_553_706_496
    assert L * llama70b_layer(1) + 2 * V * H + H == 70_553_706_496


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_llama70b_bf16_weights_per_gpu(llama70b, tp):
    # embedding replicated across TP; LM head split by TP (vocab padded to a multiple of TP)
    expected = 2 * (L * llama70b_layer(tp) + V * H + (-(-V // tp)) * H + H)
    got = stage_weight_bytes(llama70b, "bf16", tp, 0, L, True, True)
    assert got == expected
    table = {1: 141_107_412_992, 2: 71_605_698_560, 4: 36_854_841_344, 8: 19_479_412_736}
    assert got == table[tp]


def test_llama70b_bf16_pp2(llama70b):
    assert layers_per_stage(80, 2) == [40, 40]
    first = stage_weight_bytes(llama70b, "bf16", 1, 0, 40, True, False)
    last = stage_weight_bytes(llama70b, "bf16", 1, 40, 40, False, True)
    assert first == 2 * (40 * 855_654_400 + V * H) == 70_553_698_304
    assert last == 2 * (40 * 855_654_400 + V * H + H) == 70_553_714_688


@pytest.mark.parametrize(
    "name,tp,kv_dtype,expected",
    [
        # 2 (K and V) × layers × KV heads per rank × head_dim × bytes
        ("llama-3.1-8b", 1, "bf16", 2 * 32 * 8 * 128 * 2),  # 131,072
        ("llama-3.1-8b", 2, "bf16", 2 * 32 * 4 * 128 * 2),
        ("llama-3.1-8b", 8, "bf16", 2 * 32 * 1 * 128 * 2),
        ("llama-3.1-8b", 1, "fp8", 2 * 32 * 8 * 128 * 1),
        ("llama-3.1-8b", 8, "fp8", 2 * 32 * 1 * 128 * 1),
        ("llama-3.1-70b", 1, "bf16", 2 * 80 * 8 * 128 * 2),  # 327,680
        ("llama-3.1-70b", 2, "bf16", 2 * 80 * 4 * 128 * 2),
        ("llama-3.1-70b", 8, "bf16", 2 * 80 * 1 * 128 * 2),
        ("llama-3.1-70b", 8, "fp8", 2 * 80 * 1 * 128 * 1),
        ("llama-3.1-70b", 2, "int8", 2 * 80 * 4 * 128 * 1),
    ],
)
def test_kv_bytes_per_token(name, tp, kv_dtype, expected):
    model = catalog.get_model(name)
    assert kv_bytes_per_token(model, model.num_layers, tp, kv_dtype) == expected


def test_kv_heads_replicated_beyond_kv_count():
    # Llama 3.1 8B has 8 KV heads: at TP 16 each rank still holds one whole head.
    model = catalog.get_model("llama-3.1-8b")
    assert tensors.kv_heads_per_rank(model, 16) == 1
    assert kv_bytes_per_token(model, 32, 16, "bf16") == 2 * 32 * 1 * 128 * 2


def test_trtllm_memory_doc_example_reproduced_by_kv_pool_rule():
    # TensorRT-LLM docs, reference/memory.md example log (see ../shared/calibration.md):
    # available 70.48 GiB, 64 tokens per block -> 4060 blocks, 259,840 tokens, 63.44 GiB.
    # Llama-2-7B-class engine with an fp8 KV cache: 2 × 32 layers × 32 heads × 128 × 1 B.
    bpt = 2 * 32 * 32 * 128 * 1
    runtime = RuntimeProfile(kv_cache_free_gpu_mem_fraction=0.9, tokens_per_block=64)
    tokens, blocks = kv_pool(int(70.48 * GIB), bpt, runtime)
    assert blocks == 4060
    assert blocks * 64 == 259_840
    assert round(blocks * 64 * bpt / GIB, 2) == 63.44


def test_kv_pool_cap_by_max_tokens():
    runtime = RuntimeProfile(tokens_per_block=32, max_tokens_in_paged_kv_cache=1000)
    tokens, blocks = kv_pool(80 * GIB, 131_072, runtime)
    assert tokens == 1000 and blocks == 32  # ceil(1000 / 32)


def test_mixtral_8x7b_weights():
    m = catalog.get_model("mixtral-8x7b")
    # hidden 4096, 32 layers, 32 heads / 8 KV heads, 8 experts of intermediate 14336, vocab 32000
    attn = 4096 * 4096 * 2 + 2 * 4096 * 1024
    experts = 8 * 3 * 4096 * 14336
    router, norms = 4096 * 8, 2 * 4096
    layer = attn + experts + router + norms
    assert tensors.total_params(m) == 32 * layer + 2 * 32000 * 4096 + 4096 == 46_702_792_704
    # TP 2 (experts split by TP, TensorRT-LLM's default moe_tp_size = tp_size), bf16
    attn2 = 4096 * 2048 * 2 + 2 * 4096 * 512
    layer2 = attn2 + 8 * 3 * 4096 * 7168 + router + norms
    expected = 2 * (32 * layer2 + 32000 * 4096 + 16000 * 4096 + 4096)
    assert stage_weight_bytes(m, "bf16", 2, 0, 32, True, True) == expected


def test_deepseek_v3_weights():
    m = catalog.get_model("deepseek-v3")
    h, heads, vocab = 7168, 128, 129280
    # MLA: q_a 7168→1536, q_b 1536→128×(128+64), kv_a 7168→(512+64), kv_b 512→128×(128+128), o 128×128→7168
    attn = h * 1536 + 1536 * heads * 192 + h * 576 + 512 * heads * 256 + heads * 128 * h
    attn_norms = 1536 + 512
    dense_layer = attn + attn_norms + 3 * h * 18432 + 2 * h
    moe_layer = attn + attn_norms + 256 * 3 * h * 2048 + 3 * h * 2048 + h * 256 + 256 + 2 * h
    total = 3 * dense_layer + 58 * moe_layer + 2 * vocab * h + h
    assert tensors.total_params(m) == total == 671_026_419_200
    # MLA caches one latent of kv_lora_rank + rope dim per layer, replicated on every TP rank
    assert kv_bytes_per_token(m, 61, 8, "bf16") == 61 * 576 * 2
    # fp8 weights at TP 8: linear layers at 1 byte (+ two fp32 scales each), the rest bf16
    got = stage_weight_bytes(m, "fp8", 8, 0, 61, True, True)
    assert 0.11 * 671e9 / 1 < got < 0.13 * 671e9


def test_awq_quantized_linear_bytes():
    from planner.quant import SCHEMES, linear_bytes

    # 8192 → 28672 at int4 with one bf16 scale per 128 inputs and a per-input pre-quant scale
    got = linear_bytes(SCHEMES["int4_awq"], 8192, 28672, 2)
    assert got == 8192 * 28672 // 2 + (8192 // 128) * 28672 * 2 + 8192 * 2
