"""The `LLM()` arguments a plan implies, as model.yaml (and trtllm-serve's options file) carry them.

Each key is checked against the release's argument names (profile `pytorch.llm_args`), so no
argument the pinned release lacks is written. Values come from the plan only.
"""

from __future__ import annotations

from typing import Any

from planner.errors import PlannerError
from planner.plan import Plan
from planner.target import Profile, PytorchFlowSpec, load_profile

# TorchLlmArgs.dtype names of the plan's activation dtypes
DTYPE_NAMES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# KvCacheConfig.dtype: "auto" follows the checkpoint (its hf_quant_config / the model dtype);
# an FP8 cache is asked for by name.
KV_DTYPE_NAMES = {"fp8": "fp8"}


def pytorch_spec(plan: Plan) -> tuple[Profile, PytorchFlowSpec]:
    profile = load_profile(plan.target.trtllm_version)
    if profile.pytorch is None:
        raise PlannerError(f"TensorRT-LLM {profile.version} has no PyTorch flow to emit")
    return profile, profile.pytorch


def model_path(plan: Plan) -> str:
    """What `model:` points at: the quantized export when build.sh makes one, else the checkpoint."""
    from planner.emit.pytorch.build_script import needs_ptq

    return plan.serving.checkpoint_dir if needs_ptq(plan) else plan.serving.hf_model_dir


def llm_arguments(plan: Plan) -> dict[str, Any]:
    """LLM() keyword arguments, in the order model.yaml shows them."""
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there are no LLM() arguments", 3)
    _, spec = pytorch_spec(plan)
    lay, w, q, rt = plan.layout, plan.workload, plan.quantization, plan.runtime
    args: dict[str, Any] = {"model": model_path(plan)}
    if plan.serving.tokenizer_dir != plan.serving.hf_model_dir:
        args["tokenizer"] = plan.serving.tokenizer_dir
    args["backend"] = "pytorch"
    args["dtype"] = DTYPE_NAMES[q.activation_dtype]
    args["tensor_parallel_size"] = lay.tp
    args["pipeline_parallel_size"] = lay.pp
    if plan.model.moe_experts:
        # experts split over `ep` ranks of the TP group, each expert's matrices over the rest
        args["moe_expert_parallel_size"] = lay.ep
        args["moe_tensor_parallel_size"] = lay.tp // lay.ep
    if lay.attention_dp:
        args["enable_attention_dp"] = True
    if lay.gpus_per_replica > plan.fleet.gpus_per_node:
        args["gpus_per_node"] = plan.fleet.gpus_per_node
    args["max_batch_size"] = w.max_batch_size
    args["max_num_tokens"] = w.max_num_tokens
    args["max_seq_len"] = w.max_seq_len
    args["max_beam_width"] = w.max_beam_width
    # Prompts split into chunks that fill each iteration's max_num_tokens beside the decode tokens: what the
    # performance model schedules, what trtllm-bench runs (its --enable_chunked_context is on by default since
    # NVIDIA/TensorRT-LLM PR #6582, August 2025; an opt-in flag at 1.0.0rc4) and the only way a prompt longer
    # than max_num_tokens runs at all (it is an error otherwise: PR #9499, which proposes chunking by default
    # after 1.2). Off by default in TorchLlmArgs; where a model cannot chunk (MLA outside SM 90/100) the
    # executor turns it off with a warning (tensorrt_llm/_torch/pyexecutor/py_executor_creator.py).
    args["enable_chunked_prefill"] = True
    kv: dict[str, Any] = {
        # the fraction of free memory after the profiling pass the KV pool takes (the memory model's rule)
        "free_gpu_memory_fraction": float(rt.kv_cache_free_gpu_mem_fraction),
        "dtype": KV_DTYPE_NAMES.get(q.kv_cache, "auto"),
        # prefix reuse is the PyTorch backend's default; it only reuses blocks the pool already holds
        "enable_block_reuse": True,
        "tokens_per_block": rt.tokens_per_block,
    }
    if rt.max_tokens_in_paged_kv_cache is not None:
        kv["max_tokens"] = rt.max_tokens_in_paged_kv_cache
    if plan.kv_cache is not None and plan.kv_cache.attention_windows:
        # the per-layer windows the memory model sized the pool with (planner.kvcache): without them the
        # runtime gives every layer a full-length pool and holds fewer sequences than the plan counts
        kv["max_attention_window"] = list(plan.kv_cache.attention_windows)
    args["kv_cache_config"] = kv
    # CUDA graphs, captured after the KV pool is sized in the memory the fraction leaves: written out as
    # the batch sizes the memory model counted (the release's default set, extended to max_batch_size), so
    # the runtime captures exactly what the plan paid for, up to the largest batch it admits. Padding
    # rounds a batch between two captured sizes (33..63, 65..127, ...) up to the next graph instead of
    # running it eagerly: the graph-replayed step the performance model times. Both as NVIDIA's deployment
    # guides set them (cuda_graph_config max_batch_size "the same value as the --max_batch_size", and
    # enable_padding: deployment-guide-for-gpt-oss-on-trtllm, TensorRT-LLM 1.3.0rc7 docs); padding is off by
    # default, and CudaGraphConfig's description calls it "usually a net win" (tensorrt_llm/llmapi/llm_args.py).
    sizes = list(_graph_batch_sizes(plan))
    if sizes:
        args["cuda_graph_config"] = {"batch_sizes": sizes, "max_batch_size": max(sizes), "enable_padding": True}
    check_arguments(args, spec, plan.target.trtllm_version)
    return args


def _graph_batch_sizes(plan: Plan) -> tuple[int, ...]:
    """The sizes the plan counted; a plan written before it carried them had the release's default set."""
    if plan.runtime.cuda_graph_batch_sizes is not None:
        return tuple(plan.runtime.cuda_graph_batch_sizes)
    from planner.memory.pytorch import cuda_graph_batch_sizes
    from planner.specs import RuntimeProfile

    return cuda_graph_batch_sizes(RuntimeProfile(flow="pytorch"), plan.workload.max_batch_size)


def check_arguments(args: dict[str, Any], spec: PytorchFlowSpec, version: str) -> None:
    """Every key (and nested key) must be an LLM() argument of the release; a bug otherwise."""
    unknown = [k for k in args if k not in spec.llm_args.arguments]
    for key, value in args.items():
        if isinstance(value, dict):
            fields = spec.llm_args.nested.get(key, ())
            unknown += [f"{key}.{k}" for k in value if k not in fields]
    if unknown:
        raise RuntimeError(f"LLM() arguments {unknown} are unknown to TensorRT-LLM {version}")
