"""Measured figures (../shared/calibration.md and the logs it cites), reproduced by the memory model.

Tolerances: engine size (weights per rank) within 3 %, execution context within 15 %, KV pool
tokens within 3 %. Each row names its source; the build settings a log does not print are stated.
"""

from __future__ import annotations

import json

import pytest

from planner import catalog, tensors
from planner.layout import memory_reason
from planner.memory import (
    GIB,
    MIB,
    cuda_total_bytes,
    kv_bytes_per_token,
    layers_per_stage,
    layout_memory,
    stage_weight_bytes,
)
from planner.specs import ModelSpec, RuntimeProfile, Workload


def within(got: float, want: float, tol: float) -> bool:
    return abs(got / want - 1) <= tol


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
    assert within(worst / GIB, measured_gib, 0.02)


def test_llama8b_kv_bytes_per_token_within_half_percent():
    # 58.11 GiB of KV for 476,016 tokens -> 131,080 B per token per GPU (rounded log figures)
    measured = 58.11 * GIB / 476_016
    got = kv_bytes_per_token(catalog.get_model("llama-3.1-8b"), 32, 1, "bf16")
    assert within(got, measured, 0.005)


# --- CUDA's total against nvidia-smi's ----------------------------------------------------------------
def test_cuda_total_rule_matches_the_logged_totals():
    # H100 SXM: the memory doc's log says total 79.10 GiB, the 0.20.0 PyTorch logs 79.18 GiB
    h100 = catalog.get_gpu("h100").model_copy(update={"cuda_total_bytes": None})
    assert 79.10 <= cuda_total_bytes(h100) / GIB <= 79.18
    # L4: 22.03 GiB (clark-s-dev/triton-trtllm-text-io @ a4faedac, lab/ncu)
    l4 = catalog.get_gpu("l4").model_copy(update={"cuda_total_bytes": None})
    assert within(cuda_total_bytes(l4) / GIB, 22.03, 0.01)
    # a measured figure in the catalog wins, and the KV rule sizes against it, not nvidia-smi's total
    measured = h100.model_copy(update={"cuda_total_bytes": int(79.18 * GIB)})
    assert cuda_total_bytes(measured) == int(79.18 * GIB)
    wl = Workload(max_batch_size=8, max_input_len=512, max_output_len=512, max_num_tokens=4096)
    model = catalog.get_model("llama-3.1-8b")
    a = layout_memory(model, "bf16", "bf16", 1, 1, wl, h100, RuntimeProfile())[0]
    b = layout_memory(model, "bf16", "bf16", 1, 1, wl, measured, RuntimeProfile())[0]
    assert b.free_bytes - a.free_bytes == cuda_total_bytes(measured) - cuda_total_bytes(h100)
    assert a.capacity_bytes == b.capacity_bytes == h100.memory_bytes
    assert a.reserved_bytes == h100.memory_bytes - a.cuda_total_bytes


# --- engine flow ------------------------------------------------------------------------------------
# TensorRT-LLM docs, reference/memory.md, example log: a 6695 MiB engine whose KV cache holds 259,840
# tokens of 64-token blocks in 63.44 GiB, i.e. 256 B per token: a Llama-2-7B-shaped model (32 layers ×
# 32 KV heads × 128) with fp8 weights and fp8 KV cache; 43.29 MB of runtime buffers, 180.30 MB of
# decoder, 1134.01 MiB of execution context, CUDA total 79.10 GiB, 70.48 GiB available. The log does not
# print the build settings; its runtime buffers (4-byte logits over 32,000 entries plus six int32
# buffers of max_seq_len per sequence) come to 43.29 MB only at trtllm-build's defaults of that time:
# max_batch_size 256, max_input_len 1024, max_output_len 1024 (max_num_tokens 8192).
LLAMA2_7B = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
    "tie_word_embeddings": False, "torch_dtype": "float16",
}


def test_trtllm_doc_example_end_to_end(tmp_path):
    from planner.api import make_plan

    (tmp_path / "config.json").write_text(json.dumps(LLAMA2_7B))
    plan = make_plan(model_path=str(tmp_path), gpus="h100", quant="fp8", kv_cache_dtype="fp8",
                     max_batch_size=256, max_input_len=1024, max_output_len=1024, max_num_tokens=8192,
                     tokens_per_block=64, flow="engine")
    (stage,) = plan.memory.per_gpu
    assert within(stage.weights_bytes, 6695 * MIB, 0.03)  # "Loaded engine size: 6695 MiB"
    assert within(stage.activation_bytes, 1134.01 * MIB, 0.15)
    assert within(stage.runtime_buffers_bytes, 43.29 * MIB, 0.03)
    assert plan.kv_cache.bytes_per_token_per_gpu == 2 * 32 * 32 * 128 * 1
    assert within(stage.free_bytes, 70.48 * GIB, 0.03)  # "available: 70.48 GiB"
    assert within(plan.kv_cache.max_tokens, 259_840, 0.03)  # "... paged KV cache (259840)"
    # this older release's decoder held more per sequence (180.30 MB); the rule follows the newer one
    assert stage.decoder_bytes < 180.30 * MIB


# Qwen2.5-0.5B(-Instruct / -Coder-Instruct): 24 layers, hidden 896, intermediate 4864, 14 heads, 2 KV
# heads, head_dim 64, vocabulary 151,936, tied embeddings, QKV bias, 32,768 positions (config.json).
QWEN_05B = ModelSpec(
    name="qwen2.5-0.5b", architecture="qwen2", source="Qwen/Qwen2.5-0.5B-Instruct config.json", num_layers=24,
    hidden_size=896, intermediate_size=4864, num_attention_heads=14, num_kv_heads=2, head_dim=64,
    vocab_size=151_936, max_position_embeddings=32_768, tie_word_embeddings=True, qkv_bias=True,
)


# Engine flow on one L4, TensorRT-LLM 0.14.0, max_batch_size 64, max_num_tokens 8192, max_seq_len 8192,
# fp16 activations (clark-s-dev/triton-trtllm-text-io @ a4faedac, lab/ncu/sol_{fp16,fp8,int4awq}.csv).
@pytest.mark.parametrize("quant,kv,engine_mib,context_mib", [
    ("fp16", "fp16", 1215, 288.00), ("fp8", "fp8", 875, 279.01), ("int4_awq", "fp8", 709, 256.20),
])
def test_l4_qwen_engine_and_execution_context(quant, kv, engine_mib, context_mib):
    model = QWEN_05B.model_copy(update={"dtype": "float16"})
    wl = Workload(max_batch_size=64, max_input_len=4096, max_output_len=4096, max_num_tokens=8192)
    rt = RuntimeProfile(kv_cache_free_gpu_mem_fraction=0.3, tokens_per_block=64)
    (s,) = layout_memory(model, quant, kv, 1, 1, wl, catalog.get_gpu("l4"), rt)
    assert within(s.weights_bytes, engine_mib * MIB, 0.03)
    assert within(s.activation_bytes, context_mib * MIB, 0.15)


# NVIDIA/TensorRT-LLM issue 1188 (comment of 2024-11-21): Qwen2.5-Coder-0.5B-Instruct, INT8 weight-only,
# RTX A4000 (nvidia-smi 16,376 MiB), kv_cache_free_gpu_mem_fraction 0.9 (default). Built with
# trtllm-build's defaults: max_batch_size 2048, max_num_tokens 8192, max_seq_len = the model's 32,768
# positions; tokens_per_block 64. Logged: engine 875 MiB, execution context 773.51 MiB, runtime
# buffers 2.66 GB, decoder 5.76 GB (the runtime's "GB" is GiB), "Allocated 4.53 GiB for max tokens in
# paged KV cache (395776)". Rebuilt with max_batch_size 1 and max_num_tokens 512: execution context
# 43.26 MiB.
A4000 = catalog.get_gpu("l4").model_copy(update={
    "name": "rtx-a4000", "memory_bytes": 16_376 * MIB, "cuda_total_bytes": None, "compute_capability": "8.6",
})


def _issue_1188(batch: int, tokens: int):
    wl = Workload(max_batch_size=batch, max_input_len=1024, max_output_len=32_768 - 1024, max_num_tokens=tokens)
    (s,) = layout_memory(QWEN_05B.model_copy(update={"dtype": "float16"}), "int8_wo", "fp16", 1, 1, wl, A4000,
                         RuntimeProfile(tokens_per_block=64))
    return s


def test_issue_1188_large_batch_every_term():
    s = _issue_1188(2048, 8192)
    assert within(s.weights_bytes, 875 * MIB, 0.03)
    assert within(s.activation_bytes, 773.51 * MIB, 0.15)
    assert within(s.runtime_buffers_bytes, 2.66 * GIB, 0.03)
    assert within(s.decoder_bytes, 5.76 * GIB, 0.03)
    assert within(s.kv_cache_bytes, 4.53 * GIB, 0.03)
    assert within(s.kv_tokens, 395_776, 0.03)


def test_issue_1188_batch_1_and_what_the_batch_costs():
    small, large = _issue_1188(1, 512), _issue_1188(2048, 8192)
    assert within(small.activation_bytes, 43.26 * MIB, 0.15)
    # buffers grow with the batch: 8.4 GiB more at 2048, which the old constant overhead missed
    grown = (large.runtime_buffers_bytes + large.decoder_bytes) - (small.runtime_buffers_bytes + small.decoder_bytes)
    assert within(grown, (2.66 + 5.76) * GIB, 0.03)
    assert small.kv_tokens > 2.5 * large.kv_tokens


def test_engine_buffers_grow_with_beam_sequence_vocabulary_and_shrink_per_rank_with_tp():
    from planner.memory.engine import decoder_bytes, runtime_buffer_bytes

    model = catalog.get_model("llama-3.1-70b")
    base = Workload(max_batch_size=64, max_input_len=1024, max_output_len=1024, max_num_tokens=8192)
    beam = base.model_copy(update={"max_beam_width": 4})
    longer = base.model_copy(update={"max_output_len": 4096})
    for wl in (beam, longer):
        assert runtime_buffer_bytes(model, "bf16", 1, 1, wl, 32, True) > runtime_buffer_bytes(
            model, "bf16", 1, 1, base, 32, True)
        assert decoder_bytes(model, 1, wl, True) > decoder_bytes(model, 1, base, True)
    bigger_vocab = model.model_copy(update={"vocab_size": 2 * model.vocab_size})
    assert decoder_bytes(bigger_vocab, 1, base, True) > decoder_bytes(model, 1, base, True)
    # the decoder runs on the last pipeline stage only; PP adds the hidden-state buffer
    assert decoder_bytes(model, 1, base, False) == 0
    assert runtime_buffer_bytes(model, "bf16", 1, 2, base, 32, False) > runtime_buffer_bytes(
        model, "bf16", 1, 1, base, 32, False)


def test_communication_term():
    from planner.memory import comm_bytes

    assert comm_bytes(1, 1) == 0
    assert comm_bytes(2, 1) == int(1.12 * GIB)  # measured at TP 2 (see CommCosts)
    assert comm_bytes(2, 1) <= comm_bytes(4, 1) <= comm_bytes(8, 1) < comm_bytes(8, 2)
    wl = Workload(max_batch_size=64, max_input_len=1024, max_output_len=1024, max_num_tokens=8192)
    (s,) = layout_memory(catalog.get_model("llama-3.1-70b"), "fp8", "fp8", 8, 1, wl, catalog.get_gpu("h100"),
                         RuntimeProfile())
    assert s.comm_bytes == comm_bytes(8, 1)
    assert s.overhead_bytes == (s.reserved_bytes + s.context_bytes + s.runtime_buffers_bytes + s.decoder_bytes
                                + s.comm_bytes)


# --- embedding placement per conversion path ----------------------------------------------------------
@pytest.mark.parametrize("quant,kv,parallel,path,placement", [
    ("bf16", None, False, "convert_checkpoint.py", "replicated"),
    ("bf16", None, True, "convert_checkpoint.py", "sharded"),
    ("int8_wo", None, False, "convert_checkpoint.py", "replicated"),
    ("fp8", None, False, "quantize.py", "sharded"),
    ("int4_awq", None, False, "quantize.py", "sharded"),
    ("bf16", "fp8", False, "quantize.py", "sharded"),
])
def test_embedding_placement_recorded_and_used(quant, kv, parallel, path, placement):
    from planner.api import make_plan

    plan = make_plan("llama-3.1-8b", "h100x2", quant=quant, kv_cache_dtype=kv, tp=2, pp=1,
                     use_parallel_embedding=parallel, flow="engine")
    assert (plan.memory.embedding.path, plan.memory.embedding.placement) == (path, placement)
    model = catalog.get_model("llama-3.1-8b")
    weights = stage_weight_bytes(model, quant, 2, 0, 32, True, True, placement == "sharded")
    assert plan.memory.per_gpu[0].weights_bytes == weights


# --- fp32 ---------------------------------------------------------------------------------------------
def test_fp32_kv_cache_follows_the_model_dtype():
    from planner.api import make_plan
    from planner.errors import InputError

    # Measured: 262,163 bytes per token for Llama-3.1-8B in fp32 (issue 12)
    plan = make_plan("llama-3.1-8b", "h100", quant="fp32", max_batch_size=1, max_input_len=512, max_output_len=512)
    assert plan.quantization.kv_cache == "fp32"
    assert within(plan.kv_cache.bytes_per_token_per_gpu, 262_163, 0.001)
    explicit = make_plan("llama-3.1-8b", "h100", quant="fp32", kv_cache_dtype="fp32", max_batch_size=1,
                         max_input_len=512, max_output_len=512)
    assert explicit.kv_cache.bytes_per_token_per_gpu == plan.kv_cache.bytes_per_token_per_gpu
    with pytest.raises(InputError, match="model's dtype"):
        make_plan("llama-3.1-8b", "h100", quant="bf16", kv_cache_dtype="fp32")
    with pytest.raises(InputError, match="model's dtype"):
        make_plan("llama-3.1-8b", "h100", quant="fp32", kv_cache_dtype="fp16")


# --- PyTorch flow -------------------------------------------------------------------------------------
# TensorRT-LLM 0.20.0, PyTorch backend through trtllm-bench, nvidia/Llama-3.1-8B-Instruct-FP8 (FP8 weights,
# FP8 KV cache), one H100 80GB whose CUDA total is 79.18 GiB, tokens_per_block 32; the logs print
# max_seq_len, max_num_requests and max_num_tokens, and the CUDA graph batch sizes come from the run's
# llm_options YAML (waynehacking8/trtllm-triton-serving @ a04a2bec, results/waterfall/).
GRAPHS_8192 = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192)
GRAPHS_2048 = GRAPHS_8192[:-2]
PYTORCH_RUNS = {
    # name: (tp, max_batch_size, max_num_tokens, max_seq_len, fraction, graph sizes,
    #        weights GiB, dynamic GiB, peak GiB, available GiB, estimated max tokens)
    "W0_nvidia_exact": (1, 4096, 8192, 257, 0.95, GRAPHS_8192, 8.55, 1.05, 11.86, 64.49, 1_056_623),
    "W0b_cg2048": (1, 2048, 8192, 257, 0.95, GRAPHS_2048, 8.55, 1.05, 11.77, 64.57, 1_057_958),
    "W4_tp2": (2, 2048, 4608, 269, 0.80, GRAPHS_2048, 4.32, 0.39, 7.60, 57.39, 1_880_626),
}


def _pytorch_run(name: str):
    tp, batch, tokens, seq, fraction, graphs = PYTORCH_RUNS[name][:6]
    gpu = catalog.get_gpu("h100").model_copy(update={"cuda_total_bytes": int(79.18 * GIB)})
    wl = Workload(max_batch_size=batch, max_input_len=seq - 128, max_output_len=128, max_num_tokens=tokens)
    rt = RuntimeProfile(kv_cache_free_gpu_mem_fraction=fraction, tokens_per_block=32, flow="pytorch",
                        cuda_graph_batch_sizes=graphs)
    stages = layout_memory(catalog.get_model("llama-3.1-8b"), "fp8", "fp8", tp, 1, wl, gpu, rt)
    return stages, wl, rt


@pytest.mark.parametrize("name", sorted(PYTORCH_RUNS))
def test_pytorch_flow_reproduces_the_profiling_log(name):
    *_, weights, dynamic, peak, available, max_tokens = PYTORCH_RUNS[name]
    (s,), _, rt = _pytorch_run(name)
    assert s.flow == "pytorch"
    assert within(s.weights_bytes / GIB, weights, 0.03)  # "Memory used after loading model weights (inside torch)"
    assert within(s.activation_bytes / GIB, dynamic, 0.15)  # "Memory dynamically allocated during inference"
    assert within(s.profiling_peak_bytes / GIB, peak, 0.03)  # "Peak memory during memory usage profiling"
    # "available KV cache memory when calculating max tokens": (total - peak + temporary KV) × fraction
    assert within(s.free_bytes * rt.kv_cache_free_gpu_mem_fraction / GIB, available, 0.03)
    assert within(s.kv_tokens, max_tokens, 0.03)  # "Estimated max tokens in KV cache"
    assert s.kv_cache_bytes == s.kv_tokens * s.kv_bytes_per_token


def test_pytorch_temporary_kv_cache_of_the_profiling_pass():
    # "Allocated 0.56 GiB for max tokens in paged KV cache (9216)": 32 requests of 256 tokens, 9 blocks each
    (s,), _, _ = _pytorch_run("W0_nvidia_exact")
    assert s.profiling_kv_bytes == 9216 * 65_536
    # the rule gives the temporary cache back: not fraction × (total - peak)
    assert s.free_bytes == s.cuda_total_bytes - s.profiling_peak_bytes + s.profiling_kv_bytes


def test_pytorch_cuda_graphs_must_fit_what_the_fraction_leaves():
    # W0 (graphs up to 4096) ran out of memory capturing CUDA graphs after the pool was sized: "CUDA out of
    # memory. Tried to allocate 1002.00 MiB ... 3.44 GiB allocated in private pools (e.g., CUDA Graphs)";
    # W0b (graphs up to 2048) ran.
    stages, wl, rt = _pytorch_run("W0_nvidia_exact")
    assert "CUDA graphs" in memory_reason(stages, wl, rt)
    stages, wl, rt = _pytorch_run("W0b_cg2048")
    assert memory_reason(stages, wl, rt) is None
    (s,) = stages
    assert 0 < s.cuda_graph_bytes <= s.free_bytes - s.kv_cache_bytes
    assert s.total_bytes <= s.capacity_bytes


def test_pytorch_graphs_covering_the_batch_are_cut_where_the_logs_ran():
    # The planner captures graphs up to max_batch_size. At W0's batch 4096 and fraction 0.95 they do not fit
    # (W0 ran out of memory capturing 4096), so the set is cut after 2048: W0b captured up to 2048 and ran.
    gpu = catalog.get_gpu("h100").model_copy(update={"cuda_total_bytes": int(79.18 * GIB)})
    wl = Workload(max_batch_size=4096, max_input_len=129, max_output_len=128, max_num_tokens=8192)
    rt = RuntimeProfile(kv_cache_free_gpu_mem_fraction=0.95, tokens_per_block=32, flow="pytorch",
                        cuda_graphs_cover_batch=True)
    (s,) = layout_memory(catalog.get_model("llama-3.1-8b"), "fp8", "fp8", 1, 1, wl, gpu, rt)
    assert s.cuda_graph_max_batch == 2048
    assert 0 < s.cuda_graph_bytes <= s.free_bytes - s.kv_cache_bytes
    # with room to spare the set runs to the batch itself
    (roomy,) = layout_memory(catalog.get_model("llama-3.1-8b"), "fp8", "fp8", 1, 1,
                             wl.model_copy(update={"max_batch_size": 1000}), gpu, rt)
    assert roomy.cuda_graph_max_batch == 1000
    # with no room even for 256 the release's default set is kept, and its failure to fit rejects the layout
    tight = rt.model_copy(update={"kv_cache_free_gpu_mem_fraction": 0.997})
    stages = layout_memory(catalog.get_model("llama-3.1-8b"), "fp8", "fp8", 1, 1, wl, gpu, tight)
    assert stages[0].cuda_graph_max_batch == 128 and "CUDA graphs" in memory_reason(stages, wl, tight)


def test_pytorch_memory_outside_torch_at_tp2():
    # "Memory used outside torch": 2.89 GiB at TP 2 including the 0.16 GiB temporary KV cache
    (s,), _, _ = _pytorch_run("W4_tp2")
    outside = s.context_bytes + s.runtime_buffers_bytes + s.comm_bytes + s.profiling_kv_bytes
    assert within(outside / GIB, 2.89, 0.03)
