"""config.json of today's families (and pre-quantized checkpoints) read into the same ModelSpec."""

from __future__ import annotations

import json

import pytest

from planner import catalog, tensors
from planner.api import make_plan
from planner.checkpoint_quant import from_quantization_config, unquantized_kinds
from planner.errors import InputError
from planner.hf_config import load_local_model

QWEN3_8B = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": False, "head_dim": 128,
    "hidden_size": 4096, "intermediate_size": 12288, "max_position_embeddings": 40960, "num_attention_heads": 32,
    "num_hidden_layers": 36, "num_key_value_heads": 8, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "sliding_window": None, "vocab_size": 151936,
}
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "decoder_sparse_step": 1, "head_dim": 128,
    "hidden_size": 2048, "intermediate_size": 6144, "max_position_embeddings": 40960, "mlp_only_layers": [],
    "moe_intermediate_size": 768, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_key_value_heads": 4, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "vocab_size": 151936,
}
GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "attention_bias": True, "head_dim": 64,
    "hidden_size": 2880, "intermediate_size": 2880, "layer_types": ["sliding_attention", "full_attention"] * 12,
    "max_position_embeddings": 131072, "num_attention_heads": 64, "num_experts_per_tok": 4,
    "num_hidden_layers": 24, "num_key_value_heads": 8, "num_local_experts": 32, "sliding_window": 128,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 201088, "experts_per_token": 4,
    "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]},
}
LLAMA4_VISION = {
    "hidden_size": 1408, "image_size": 336, "intermediate_size": 5632, "num_attention_heads": 16,
    "num_hidden_layers": 34, "patch_size": 14, "pixel_shuffle_ratio": 0.5, "projector_input_dim": 4096,
    "projector_output_dim": 4096, "vision_output_dim": 4096, "model_type": "llama4_vision_model",
}
LLAMA4_SCOUT = {
    "architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "torch_dtype": "bfloat16",
    "text_config": {
        "model_type": "llama4_text", "attention_chunk_size": 8192, "head_dim": 128, "hidden_size": 5120,
        "interleave_moe_layer_step": 1, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
        "max_position_embeddings": 10485760, "num_attention_heads": 40, "num_experts_per_tok": 1,
        "num_hidden_layers": 48, "num_key_value_heads": 8, "num_local_experts": 16, "use_qk_norm": True,
        "vocab_size": 202048, "tie_word_embeddings": False,
        "no_rope_layers": [int((i + 1) % 4 != 0) for i in range(48)],
    },
    "vision_config": LLAMA4_VISION,
}
GEMMA3_27B = {
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "torch_dtype": "bfloat16",
    "text_config": {"head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504, "model_type": "gemma3_text",
                    "num_attention_heads": 32, "num_hidden_layers": 62, "num_key_value_heads": 16,
                    "query_pre_attn_scalar": 168, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                      "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                      "patch_size": 14, "vision_use_head": False},
}
KIMI_K2 = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2", "first_k_dense_replace": 1,
    "hidden_size": 7168, "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 131072,
    "moe_intermediate_size": 2048, "n_routed_experts": 384, "n_shared_experts": 1, "num_attention_heads": 64,
    "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 64, "num_nextn_predict_layers": 0,
    "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "vocab_size": 163840, "tie_word_embeddings": False,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
}


def _load(tmp_path, cfg, **files):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    spec, _ = load_local_model(str(tmp_path))
    return spec


@pytest.mark.parametrize("cfg,catalog_name", [
    (QWEN3_8B, "qwen3-8b"), (QWEN3_30B_A3B, "qwen3-30b-a3b"), (GPT_OSS_20B, "gpt-oss-20b"),
    (LLAMA4_SCOUT, "llama-4-scout"), (GEMMA3_27B, "gemma-3-27b"), (KIMI_K2, "kimi-k2"),
])
def test_config_gives_the_published_total(tmp_path, cfg, catalog_name):
    spec = _load(tmp_path, cfg)
    expected = catalog.get_model(catalog_name)
    assert tensors.total_params(spec) == expected.params
    assert spec.architecture == expected.architecture
    assert spec.attention_pattern == expected.attention_pattern
    assert spec.checkpoint_quant == (expected.checkpoint_quant and expected.checkpoint_quant.model_copy(
        update={"source": spec.checkpoint_quant.source}))


def test_kimi_k2_resolves_by_its_architectures_class(tmp_path):
    spec = _load(tmp_path, KIMI_K2)
    assert spec.architecture == "deepseek_v3" and spec.mla and spec.moe.num_experts == 384
    assert spec.checkpoint_quant.weights == "fp8_block"


def test_llama4_maverick_interleaves_moe_and_dense(tmp_path):
    text = {**LLAMA4_SCOUT["text_config"], "num_local_experts": 128, "interleave_moe_layer_step": 2,
            "max_position_embeddings": 1048576, "moe_layers": list(range(1, 48, 2))}
    spec = _load(tmp_path, {**LLAMA4_SCOUT, "text_config": text})
    assert tensors.total_params(spec) == 401_583_781_376
    bad = {**text, "moe_layers": [0, 5]}
    with pytest.raises(InputError, match="moe_layers differ"):
        _load(tmp_path, {**LLAMA4_SCOUT, "text_config": bad})


def test_gemma3_text_only_checkpoint_has_no_vision_tower(tmp_path):
    text = {**GEMMA3_27B["text_config"], "architectures": ["Gemma3ForCausalLM"], "torch_dtype": "bfloat16"}
    spec = _load(tmp_path, text)
    assert spec.encoder_params == 0 and spec.architecture == "gemma3"
    assert tensors.total_params(spec) == 27_432_406_640 - 423_060_336


def test_gemma4_dense_counted_by_hand(tmp_path):
    # 6 layers: 0-4 sliding (head_dim 16, 2 KV heads), 5 full (global_head_dim 32, attention_k_eq_v:
    # 1 KV head and no v_proj); q/k norms, four norms and one layer_scalar per layer; tied embeddings.
    cfg = {"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4", "dtype": "bfloat16",
           "text_config": {"model_type": "gemma4_text", "hidden_size": 64, "num_hidden_layers": 6,
                           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                           "global_head_dim": 32, "attention_k_eq_v": True, "num_global_key_value_heads": 1,
                           "intermediate_size": 128, "vocab_size": 100, "hidden_size_per_layer_input": 0,
                           "num_kv_shared_layers": 0, "enable_moe_block": False, "sliding_window": 8}}
    spec = _load(tmp_path, cfg)
    sliding = (64 * 64 + 2 * 64 * 32 + 64 * 64) + 2 * 16 + 4 * 64 + 1 + 3 * 64 * 128
    full = (64 * 128 + 64 * 32 + 128 * 64) + 2 * 32 + 4 * 64 + 1 + 3 * 64 * 128
    assert spec.attention_pattern == ("sliding",) * 5 + ("full",)
    assert tensors.total_params(spec) == 5 * sliding + full + 100 * 64 + 64 == 235_558
    assert tensors.kv_elements_per_token(spec, 0, 1) == 2 * 2 * 16
    assert tensors.kv_elements_per_token(spec, 5, 1) == 2 * 1 * 32
    for key in ("hidden_size_per_layer_input", "num_kv_shared_layers", "enable_moe_block"):
        with pytest.raises(InputError, match=key):
            _load(tmp_path, {**cfg, "text_config": {**cfg["text_config"], key: 1}})


def test_glm4_moe_counted_by_hand(tmp_path):
    cfg = {"architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe", "hidden_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
           "intermediate_size": 128, "moe_intermediate_size": 32, "n_routed_experts": 4, "num_experts_per_tok": 2,
           "n_shared_experts": 1, "first_k_dense_replace": 1, "vocab_size": 100, "attention_bias": True,
           "use_qk_norm": True, "num_nextn_predict_layers": 1, "tie_word_embeddings": False}
    spec = _load(tmp_path, cfg)
    attention = 64 * 64 + 2 * 64 * 32 + 64 * 64 + (64 + 32 + 32) + 2 * 16 + 2 * 64  # q/k/v bias, q/k norms, norms
    dense = attention + 3 * 64 * 128
    moe = attention + 4 * 3 * 64 * 32 + 3 * 64 * 32 + 64 * 4 + 4  # experts, shared, router + correction bias
    assert tensors.total_params(spec) == dense + moe + 2 * 100 * 64 + 64 == 93_572
    assert spec.mtp_layers == 1


def test_qwen3_moe_dense_layers(tmp_path):
    # decoder_sparse_step 2: layers 1 and 3 sparse, but 3 is in mlp_only_layers
    cfg = {**QWEN3_30B_A3B, "num_hidden_layers": 4, "decoder_sparse_step": 2, "mlp_only_layers": [3]}
    spec = _load(tmp_path, cfg)
    assert [spec.is_moe_layer(i) for i in range(4)] == [False, True, False, False]
    dense, moe = tensors.layer_tensors(spec, 0, 1), tensors.layer_tensors(spec, 1, 1)
    assert dense.params - moe.params == 3 * 2048 * 6144 - (128 * 3 * 2048 * 768 + 2048 * 128)


def test_unknown_family_lists_the_supported_ones(tmp_path):
    with pytest.raises(InputError) as exc:
        _load(tmp_path, {"model_type": "mamba", "architectures": ["MambaForCausalLM"]})
    for family in ("qwen3", "qwen3_moe", "gpt_oss", "llama4", "gemma3", "gemma4", "glm4_moe", "deepseek_v3"):
        assert family in exc.value.message
    assert "Qwen3MoeForCausalLM" in exc.value.message


# ---------------------------------------------------------------- pre-quantized checkpoints
MODELOPT_FP8 = {"producer": {"name": "modelopt", "version": "0.29.0"},
                "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}}


def test_modelopt_checkpoint_is_planned_without_quant(tmp_path):
    spec = _load(tmp_path, QWEN3_8B, **{"hf_quant_config.json": MODELOPT_FP8})
    assert spec.checkpoint_quant.weights == "fp8" and spec.checkpoint_quant.kv_cache == "fp8"
    plan = make_plan(model_path=str(tmp_path), gpus="h100x1", max_batch_size=8, trtllm_version="1.2.1")
    assert (plan.quantization.weights, plan.quantization.kv_cache) == ("fp8", "fp8")
    assert plan.quantization.checkpoint.endswith("hf_quant_config.json") and plan.fits
    bf16 = make_plan(model="qwen3-8b", gpus="h100x1", max_batch_size=8, trtllm_version="1.2.1")
    # every decoder linear in FP8; embeddings and LM head stay BF16 (2 x 151936 x 4096 x 2 bytes)
    embed = 2 * 151936 * 4096 * 2
    w8, w16 = plan.memory.per_gpu[0].weights_bytes, bf16.memory.per_gpu[0].weights_bytes
    assert abs((w8 - embed) * 2 - (w16 - embed)) / (w16 - embed) < 0.001
    with pytest.raises(InputError, match="--quant int4_awq contradicts the checkpoint"):
        make_plan(model_path=str(tmp_path), gpus="h100x1", quant="int4_awq", trtllm_version="1.2.1")
    # the KV dtype stays the user's to choose
    assert make_plan(model_path=str(tmp_path), gpus="h100x1", kv_cache_dtype="bf16",
                     max_batch_size=8, trtllm_version="1.2.1").quantization.kv_cache == "bf16"


def test_modelopt_nvfp4_leaves_excluded_modules_in_bf16(tmp_path):
    nvfp4 = {"quantization": {"quant_algo": "NVFP4", "group_size": 16, "kv_cache_quant_algo": "FP8",
                              "exclude_modules": ["lm_head", "model.layers.*.self_attn*", "*mlp.gate"]}}
    spec = _load(tmp_path, QWEN3_30B_A3B, **{"hf_quant_config.json": nvfp4})
    assert spec.checkpoint_quant.unquantized == ("attention", "attention_output", "router")
    layer = tensors.layer_tensors(spec, 0, 1)
    assert {lin.kind for lin in layer.linears} == {"experts"}
    assert tensors.total_params(spec) == 30_532_122_624  # folding linears into plain keeps the count
    with pytest.raises(InputError, match="b200|cannot run nvfp4"):
        make_plan(model_path=str(tmp_path), gpus="h100x1", trtllm_version="1.2.1")
    assert make_plan(model_path=str(tmp_path), gpus="b200x1", max_batch_size=8, trtllm_version="1.2.1").fits


def test_gpt_oss_config_quantization_config(tmp_path):
    from test_hf_config import write_safetensors

    blocks = {"model.layers.0.mlp.experts.down_proj_blocks": [32, 2880, 90, 16]}
    write_safetensors(tmp_path / "model.safetensors", blocks)
    spec = _load(tmp_path, GPT_OSS_20B)
    assert spec.checkpoint_quant.weights == "mxfp4"
    assert spec.checkpoint_quant.unquantized == ("attention", "attention_output", "router")
    # packed MXFP4 blocks are not parameters: the headers give the files' size, not a count
    assert load_local_model(str(tmp_path))[1] is None and spec.checkpoint_size_gib is not None
    plan = make_plan(model_path=str(tmp_path), gpus="h100x1", max_batch_size=4, trtllm_version="1.2.1")
    assert plan.quantization.weights == "mxfp4"


@pytest.mark.parametrize("qc,weights,kv,kept", [
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True}, "int4_gptq", None, ()),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True,
      "modules_to_not_convert": ["mlp.gate"]}, "int4_awq", None, ("router",)),
    ({"quant_method": "fp8", "activation_scheme": "dynamic"}, "fp8", None, ()),
    ({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head", "re:.*mlp.gate$"],
      "config_groups": {"group_0": {"targets": ["Linear"],
                                    "weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
                                    "input_activations": {"num_bits": 8, "type": "float", "strategy": "token"}}},
      "kv_cache_scheme": {"num_bits": 8, "type": "float", "strategy": "tensor"}}, "fp8", "fp8", ("router",)),
    ({"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["lm_head"],
      "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "strategy": "group",
                                                "group_size": 128, "symmetric": True}}}}, "int4_awq", None, ()),
    ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "ignore": ["lm_head"],
      "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group",
                                                "group_size": 16},
                                    "input_activations": {"num_bits": 4, "type": "float", "group_size": 16}}}},
     "nvfp4", None, ()),
    ({"quant_method": "modelopt", "quant_algo": "FP8_BLOCK_SCALES", "exclude_modules": ["*self_attn*"]},
     "fp8_block", None, ("attention", "attention_output")),
])
def test_quantization_config_methods(qc, weights, kv, kept):
    q = from_quantization_config(qc, "config.json")
    assert (q.weights, q.kv_cache, q.unquantized) == (weights, kv, kept)


@pytest.mark.parametrize("qc,needle", [
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "unsupported quant_method 'bitsandbytes'"),
    ({"quant_method": "gptq", "bits": 3, "group_size": 128}, "bits 3"),
    ({"quant_method": "fp8", "weight_block_size": [64, 64]}, "weight_block_size"),
    ({"quant_method": "modelopt", "quant_algo": "W3A16"}, "unsupported quant_algo 'W3A16'"),
    ({"quant_method": "modelopt", "quant_algo": "MIXED_PRECISION"}, "mixed-precision"),
    ({"quant_method": "compressed-tensors", "config_groups": {}}, "no config_groups"),
    ("fp8", "must be a JSON object"),
])
def test_unsupported_quantization_is_one_clear_error(qc, needle):
    with pytest.raises(InputError) as exc:
        from_quantization_config(qc, "config.json")
    assert needle in exc.value.message


def test_module_patterns_name_kinds_of_linears():
    assert unquantized_kinds(["lm_head"]) == ()
    assert unquantized_kinds(["model.layers.*.self_attn"]) == ("attention", "attention_output")
    assert unquantized_kinds(["model.layers.*.self_attn.kv_b_proj"]) == ("attention",)  # MLA's input side only
    assert unquantized_kinds(["*.o_proj"]) == ("attention_output",)
    assert unquantized_kinds(["re:.*shared_experts.*", "*.mlp.gate"]) == ("router", "shared_experts")
    with pytest.raises(InputError):
        unquantized_kinds("lm_head")
