"""Today's families: exact parameter counts, KV bytes per token by hand, pre-quantized checkpoints."""

from __future__ import annotations

import pytest

from planner import catalog, kvcache, tensors
from planner.api import make_plan
from planner.errors import InputError
from planner.memory import GIB, kv_bytes_per_token, layout_memory
from planner.quant import SCHEMES, linear_bytes
from planner.specs import RuntimeProfile, Workload

# Published totals (sources in planner/data/models.yaml): HF API safetensors.total for BF16
# checkpoints, GGUF general.parameter_count for gpt-oss (MXFP4 bytes are not parameters), the
# main model of DeepSeek-R1 (reconciled below) and Kimi K2's logical count.
PUBLISHED = {
    "qwen3-8b": 8_190_735_360,
    "qwen3-32b": 32_762_123_264,
    "qwen3-30b-a3b": 30_532_122_624,
    "qwen3-235b-a22b": 235_093_634_560,
    "gpt-oss-20b": 20_914_757_184,
    "gpt-oss-120b": 116_829_156_672,
    "llama-4-scout": 108_641_793_536,
    "llama-4-maverick": 401_583_781_376,
    "deepseek-r1": 671_026_419_200,
    "deepseek-r1-fp4": 671_026_419_200,  # NVIDIA's NVFP4 export of the same main model
    "kimi-k2": 1_026_408_232_448,
    "gemma-3-27b": 27_432_406_640,
}


@pytest.mark.parametrize("name,params", sorted(PUBLISHED.items()))
def test_exact_parameter_counts(name, params):
    model = catalog.get_model(name)
    assert tensors.total_params(model) == params == model.params


def test_deepseek_r1_checkpoint_dtypes_reconcile_with_the_hf_totals():
    # HF API for deepseek-ai/DeepSeek-R1: {BF16: 3918786560, F8_E4M3: 680571043840, F32: 41555600},
    # total 684531386000. F8: every decoder linear of the 61 layers and of the MTP layer (a MoE
    # layer); F32: one scale per 128 x 128 block of those, plus the routers' e_score_correction_bias
    # (256 per MoE layer, 58 + 1); BF16: norms, routers, embeddings, LM head and the MTP module's
    # own embedding, head, eh_proj and norms.
    m = catalog.get_model("deepseek-r1")
    layers = [tensors.layer_tensors(m, min(i, 60), 1) for i in range(62)]
    f8 = sum(lin.in_features * lin.out_features * lin.count for lt in layers for lin in lt.linears)
    blocks = sum(-(-lin.in_features // 128) * -(-lin.out_features // 128) * lin.count
                 for lt in layers for lin in lt.linears)
    router_bias = 59 * 256
    h, vocab = m.hidden_size, m.vocab_size
    mtp_extra = 2 * vocab * h + h * 2 * h + 3 * h
    bf16 = sum(lt.plain for lt in layers) - router_bias + 2 * vocab * h + h + mtp_extra
    assert (f8, blocks + router_bias, bf16) == (680_571_043_840, 41_555_600, 3_918_786_560)


# KV bytes per token, by hand: 2 (K and V) x layers x KV heads per rank x head_dim x bytes.
def test_kv_gqa_with_qk_norm_qwen3_8b():
    m = catalog.get_model("qwen3-8b")  # 36 layers, 8 KV heads of 128; q/k norms change no KV
    assert kv_bytes_per_token(m, 36, 1, "bf16") == 2 * 36 * 8 * 128 * 2 == 147_456
    assert kv_bytes_per_token(m, 36, 4, "bf16") == 2 * 36 * 2 * 128 * 2 == 36_864


def test_kv_sliding_window_gemma3_27b():
    m = catalog.get_model("gemma-3-27b")  # 62 layers: 10 full (5, 11, ..., 59), 52 sliding over 1024
    per_layer = 2 * 16 * 128 * 2  # 8192
    assert kv_bytes_per_token(m, 62, 1, "bf16") == 62 * per_layer == 507_904  # engine flow: all in full
    # PyTorch flow with max_attention_window: at 4096-token sequences a sliding layer holds 1024 tokens
    assert kv_bytes_per_token(m, 62, 1, "bf16", seq_len=4096, windowed=True) == (
        10 * per_layer + 52 * per_layer * 1024 // 4096) == 188_416
    # sequences no longer than the window: nothing to save
    assert kv_bytes_per_token(m, 62, 1, "bf16", seq_len=1024, windowed=True) == 507_904
    assert kvcache.attention_windows(m, 4096) == [1024] * 5 + [4096]
    assert kvcache.attention_windows(m, 1000) is None


def test_kv_sliding_window_gpt_oss_120b():
    m = catalog.get_model("gpt-oss-120b")  # 36 layers alternating sliding (128) / full, 8 KV heads of 64
    per_layer = 2 * 8 * 64 * 2  # 2048
    assert kv_bytes_per_token(m, 36, 1, "bf16") == 36 * per_layer == 73_728
    windowed = kv_bytes_per_token(m, 36, 1, "bf16", seq_len=2560, windowed=True)
    assert windowed == 18 * per_layer + -(-18 * per_layer * 128 // 2560) == 36_864 + 1_844


def test_kv_chunked_attention_llama4_scout_counts_every_layer():
    m = catalog.get_model("llama-4-scout")  # 36 chunked + 12 full layers, 8 KV heads of 128
    assert [m.attention_kind(i) for i in range(8)] == ["chunked"] * 3 + ["full"] + ["chunked"] * 3 + ["full"]
    full = 2 * 48 * 8 * 128 * 2
    assert kv_bytes_per_token(m, 48, 1, "bf16") == full == 196_608
    # chunks are a mask in the kernel, not a KV pool size: no flow holds less
    assert kv_bytes_per_token(m, 48, 1, "bf16", seq_len=65536, windowed=True) == full


def test_kv_mla_deepseek_r1():
    m = catalog.get_model("deepseek-r1")  # latent 512 + RoPE key 64, once per layer, whole on each rank
    assert kv_bytes_per_token(m, 61, 1, "bf16") == 61 * (512 + 64) * 2 == 70_272
    assert kv_bytes_per_token(m, 61, 8, "fp8") == 61 * 576 == 35_136


def test_pytorch_flow_memory_holds_only_the_windows():
    m = catalog.get_model("gemma-3-27b")
    gpu = catalog.get_gpu("h100")
    wl = Workload(max_batch_size=8, max_input_len=3584, max_output_len=512, max_num_tokens=4096)
    engine = layout_memory(m, "bf16", "bf16", 1, 1, wl, gpu, RuntimeProfile())[0]
    torch = layout_memory(m, "bf16", "bf16", 1, 1, wl, gpu, RuntimeProfile(flow="pytorch"))[0]
    assert (engine.kv_bytes_per_token, torch.kv_bytes_per_token) == (507_904, 188_416)
    # the same pool bytes hold 507904 / 188416 = 2.7 times the tokens of full-length layers
    assert torch.kv_tokens * 188_416 <= torch.kv_cache_bytes < (torch.kv_tokens + 32) * 188_416
    assert torch.kv_tokens > 2.6 * (torch.kv_cache_bytes // 507_904)


def test_interleaved_moe_layers_of_maverick():
    m = catalog.get_model("llama-4-maverick")
    assert [m.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    # even layers: dense, chunked; odd: MoE, every other one (3, 7, ...) full attention
    assert tensors.layer_groups(m, 0, 48) == ((0, 24), (1, 12), (3, 12))
    dense, moe = tensors.layer_tensors(m, 0, 1), tensors.layer_tensors(m, 1, 1)
    attention = 2 * 5120 * 5120 + 2 * 5120 * 1024
    assert dense.params == attention + 3 * 5120 * 16384 + 2 * 5120
    assert moe.params == attention + 129 * 3 * 5120 * 8192 + 5120 * 128 + 2 * 5120


def test_mxfp4_bytes():
    # one expert's gate_up projection of gpt-oss: 2880 x 5760 e2m1 values, one e8m0 byte per 32
    n = 2880 * 5760
    assert linear_bytes(SCHEMES["mxfp4"], 2880, 5760, 2) == n // 2 + n // 32
    # FP8 block scales: one fp32 per 128 x 128 tile (7168 x 2048: 56 x 16 tiles)
    assert linear_bytes(SCHEMES["fp8_block"], 7168, 2048, 2) == 7168 * 2048 + 56 * 16 * 4


def test_nvfp4_deepseek_r1_keeps_mla_input_projections_in_bf16():
    """nvidia/DeepSeek-R1-0528-FP4-v2 on B200: the MLPs, experts and MLA's output projection in NVFP4 (4 bits and
    an 8-bit scale per 16), MLA's input projections in BF16; Hopper has no FP4 tensor cores."""
    m = catalog.get_model("nvidia/DeepSeek-R1-0528-FP4-v2")
    assert m.name == "deepseek-r1-fp4"
    layer = tensors.layer_tensors(m, 3, 1)  # the first MoE layer, whole
    kinds = {lin.kind for lin in layer.linears}
    assert kinds == {"attention_output", "experts", "shared_experts"}
    inputs = 7168 * 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 * 128 * 256
    assert layer.plain == inputs + 1536 + 512 + 2 * 7168 + 7168 * 256 + 256
    plan = make_plan("deepseek-r1-fp4", "b200x8", trtllm_version="1.2.1")
    assert plan.fits and plan.quantization.weights == "nvfp4" and plan.quantization.unquantized == ["attention"]
    assert plan.quantization.kv_cache == "fp8"  # the checkpoint's kv_cache_quant_algo
    with pytest.raises(InputError, match="nvfp4"):
        make_plan("deepseek-r1-fp4", "h200x8", trtllm_version="1.2.1")


def test_gpt_oss_120b_fits_one_h100_with_mxfp4_experts():
    plan = make_plan("gpt-oss-120b", "h100x1", trtllm_version="1.2.1")
    assert plan.fits and (plan.layout.tp, plan.layout.pp) == (1, 1)
    assert (plan.quantization.weights, plan.quantization.kv_cache) == ("mxfp4", "bf16")
    assert plan.quantization.unquantized == ["attention", "attention_output", "router"]
    weights = plan.memory.per_gpu[0].weights_bytes
    # OpenAI's model card: a 60.8 GiB checkpoint (MXFP4 experts, BF16 elsewhere)
    assert abs(weights / GIB - 60.8) / 60.8 < 0.005
    assert plan.model.checkpoint_size_gib == 60.8


def test_mxfp4_needs_hopper_or_newer():
    with pytest.raises(InputError, match="a100-80gb .* cannot run mxfp4"):
        make_plan("gpt-oss-20b", "a100-80gbx1", trtllm_version="1.2.1")
    assert make_plan("gpt-oss-20b", "h100x1", max_batch_size=4, trtllm_version="1.2.1").fits


def test_quant_contradicting_the_checkpoint_is_an_error():
    with pytest.raises(InputError, match="--quant fp8 contradicts the checkpoint gpt-oss-120b, which is already "
                                         "quantized as mxfp4"):
        make_plan("gpt-oss-120b", "h100x1", quant="fp8", trtllm_version="1.2.1")
    assert make_plan("gpt-oss-120b", "h100x1", quant="mxfp4", trtllm_version="1.2.1").quantization.weights == "mxfp4"


def test_fp8_block_checkpoints_plan_without_quant():
    plan = make_plan("deepseek-r1", "h200x8", max_batch_size=8, trtllm_version="1.2.1")
    assert plan.quantization.weights == "fp8_block" and plan.fits
    assert plan.model.architecture == "deepseek_v3"
    kimi = make_plan("kimi-k2", "h200x8", max_batch_size=8, trtllm_version="1.2.1")
    assert kimi.quantization.weights == "fp8_block"


def test_new_families_have_no_engine_converter():
    from planner.target import load_profile

    for version in ("0.19.0", "1.2.1"):
        profile = load_profile(version)
        for name in ("qwen3-8b", "qwen3-30b-a3b", "gpt-oss-20b", "llama-4-scout", "gemma-3-27b", "kimi-k2"):
            assert not profile.supports(catalog.get_model(name).architecture)
