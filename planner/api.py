"""The Python API: `make_plan(...)` (also exported as `planner.plan`) returns a Plan.

Checks every input, resolves names, runs the layout search and assembles the Plan.
Raises InputError for bad input; a workload that fits nowhere returns a Plan with
`fits = False` (the caller decides the exit code).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from planner import catalog, kvcache, tensors
from planner.assess import (
    Ask,
    Option,
    assess,
    batch_within_limits,
    bench_run,
    choose,
    has_limits,
    needs_speed,
    size_fleet,
    speed,
)
from planner.assess import layouts as layout_options
from planner.engine_rules import check_engine
from planner.errors import InputError
from planner.fleet import parse_fleet
from planner.layout import (
    OBJECTIVES,
    Candidate,
    blocks_per_sequence,
    fleet_share,
    passed_over,
    replicas,
    search,
    structural_reason,
)
from planner.memory import StageMemory, checkpoint_bytes, embedding_placement, layout_memory
from planner.plan import (
    BenchmarkInfo,
    CandidateInfo,
    EmbeddingInfo,
    FleetInfo,
    KVCacheInfo,
    LayoutInfo,
    MemoryInfo,
    ModelInfo,
    PerformanceInfo,
    Plan,
    PlanRequest,
    QuantInfo,
    Rejection,
    RuntimeInfo,
    SizingInfo,
    TargetInfo,
    WorkloadInfo,
)
from planner.quant import KV_DTYPES, KV_MIN_CC, SCHEMES, WEIGHT_SCHEMES, activation_dtype
from planner.serving import ServingInfo
from planner.specs import Fleet, GpuSpec, ModelSpec, RuntimeProfile, Workload
from planner.target import DEFAULT_TRTLLM_VERSION

DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_INPUT_LEN = 2048
DEFAULT_MAX_OUTPUT_LEN = 512
# trtllm-build's default --max_num_tokens; never more than one full batch of prompts needs
DEFAULT_MAX_NUM_TOKENS = 8192
# Workload sizes are 32-bit in both places that read them: Triton's ModelConfig declares
# `int32 max_batch_size` (model_config.proto), TensorRT-LLM sizes are SizeType32.
MAX_INT32 = 2**31 - 1
# TensorRT-LLM: "It must be a power of two greater than 1" (docs/source/features/kvcache.md,
# NVIDIA/TensorRT-LLM@fbbc05dd). The upper bound is the planner's own: the runtimes default to
# 32 or 64, and a block of thousands of tokens only wastes a sequence's worth of KV memory.
MAX_TOKENS_PER_BLOCK = 1024


def resolve_model(model: str | ModelSpec | None, model_path: str | None = None) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if model_path:
        from planner.hf_config import load_local_model

        spec, params = load_local_model(model_path)
        return spec.model_copy(update={"params": params, "params_source": "safetensors headers"}) if params else spec
    if not model:
        raise InputError("name a model (e.g. llama-3.1-70b) or give --model PATH")
    try:
        return catalog.get_model(model)
    except InputError as exc:
        import os

        if os.path.exists(model):  # a local checkpoint given as MODEL: read as --model PATH reads it
            return resolve_model(None, model)
        if "/" in model:  # a Hugging Face repo id the catalog does not know: nothing here fetches it
            raise InputError(f"{exc.message}; nor is it a local path: download the checkpoint's config.json "
                             "and give its directory") from None
        raise


def check_hardware(gpu: GpuSpec, weights: str, kv_dtype: str, model: ModelSpec | None = None,
                   engine_version: str | None = None, use_parallel_embedding: bool = False) -> None:
    """InputError unless `gpu` runs this quantization and, given a model and the TensorRT-LLM
    release of an engine-flow plan, that release can build it (planner.engine_rules)."""
    if weights not in SCHEMES:
        raise InputError(f"unknown quantization {weights!r}; choose one of {', '.join(WEIGHT_SCHEMES)}")
    if kv_dtype not in KV_DTYPES:
        raise InputError(f"unknown KV cache dtype {kv_dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    runnable = [s for s in WEIGHT_SCHEMES if gpu.cc >= SCHEMES[s].min_cc and SCHEMES[s].needs in gpu.precisions]
    scheme = SCHEMES[weights]
    if weights not in runnable:
        raise InputError(
            f"{gpu.name} (compute capability {gpu.compute_capability}) cannot run {weights}: it needs "
            f"compute capability {'.'.join(map(str, scheme.min_cc))}+ with {scheme.needs} support; "
            f"{gpu.name} runs {', '.join(runnable)}"
        )
    if gpu.cc < KV_MIN_CC[kv_dtype]:
        ok = [k for k in KV_DTYPES if gpu.cc >= KV_MIN_CC[k]]
        raise InputError(f"{gpu.name} cannot hold a {kv_dtype} KV cache (needs compute capability "
                         f"{'.'.join(map(str, KV_MIN_CC[kv_dtype]))}+); it can hold {', '.join(ok)}")
    if model is not None and engine_version:
        check_engine(model, gpu, weights, kv_dtype, engine_version, use_parallel_embedding, runnable)


def default_weights(gpu: GpuSpec, model_dtype: str) -> str:
    """Without --quant: the checkpoint's own 16-bit dtype (fp32 checkpoints are served in fp16),
    or fp16 on GPUs without bf16 (Volta, Turing), as `convert_checkpoint.py --dtype auto` would."""
    native = {"bfloat16": "bf16", "float16": "fp16"}.get(model_dtype, "fp16")
    scheme = SCHEMES[native]
    return native if gpu.cc >= scheme.min_cc and scheme.needs in gpu.precisions else "fp16"


def checkpoint_quantization(spec: ModelSpec, quant: str | None,
                            kv_cache_dtype: str | None) -> tuple[str | None, str | None]:
    """(weights, KV dtype) for a checkpoint that is already quantized: its own scheme, unless
    --quant names another one, which is an error (the flows load the stored weights as they are)."""
    ckpt = spec.checkpoint_quant
    if ckpt is None:
        return quant, kv_cache_dtype
    if quant is not None and quant.lower() != ckpt.weights:
        raise InputError(f"--quant {quant} contradicts the checkpoint {spec.name}, which is already quantized as "
                         f"{ckpt.weights} ({ckpt.method}, {ckpt.source}); drop --quant, or start from an "
                         f"unquantized checkpoint")
    return ckpt.weights, kv_cache_dtype or ckpt.kv_cache


def make_workload(max_batch_size: int, max_input_len: int, max_output_len: int,
                  max_num_tokens: int | None, max_beam_width: int = 1) -> Workload:
    for name, value in (("max-batch-size", max_batch_size), ("max-input-len", max_input_len),
                        ("max-output-len", max_output_len), ("max-beam-width", max_beam_width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"--{name} must be a positive integer, got {value!r}")
        if value > MAX_INT32:
            raise InputError(f"--{name} {value} is beyond what Triton and TensorRT-LLM accept (at most {MAX_INT32})")
    if max_num_tokens is None:
        max_num_tokens = min(DEFAULT_MAX_NUM_TOKENS, max_batch_size * max_input_len)
    elif not isinstance(max_num_tokens, int) or isinstance(max_num_tokens, bool) or max_num_tokens < 1:
        raise InputError(f"--max-num-tokens must be a positive integer, got {max_num_tokens!r}")
    elif max_num_tokens > MAX_INT32:
        raise InputError(f"--max-num-tokens {max_num_tokens} is beyond what TensorRT-LLM accepts (at most {MAX_INT32})")
    return _shared(Workload, max_batch_size=max_batch_size, max_input_len=max_input_len,
                   max_output_len=max_output_len, max_num_tokens=max_num_tokens, max_beam_width=max_beam_width)


@lru_cache(maxsize=256)
def _shared(cls: type[Workload] | type[RuntimeProfile], **fields: Any) -> Workload | RuntimeProfile:
    """One frozen instance per distinct value: the memory and performance caches are keyed on these records,
    and a key that is the very same object compares at once, where an equal copy compares field by field."""
    return cls(**fields)


def _captured_graph_sizes(runtime: RuntimeProfile, workload: Workload, stages: list[StageMemory]) -> list[int] | None:
    """The batch sizes the PyTorch flow captures CUDA graphs for, as the memory model counted them: one set for
    every rank, cut where the stage with the least room cut it."""
    if runtime.flow != "pytorch":
        return None
    from planner.memory.pytorch import cuda_graph_batch_sizes

    top = min((s.cuda_graph_max_batch for s in stages), default=workload.max_batch_size)
    return [s for s in cuda_graph_batch_sizes(runtime, workload.max_batch_size) if s <= top]


def _model_info(model: ModelSpec) -> ModelInfo:
    return ModelInfo(
        name=model.name, source=model.source, params=tensors.total_params(model), params_published=model.params,
        architecture=model.architecture, hf_repo=model.hf_repo, dtype=model.dtype, num_layers=model.num_layers,
        hidden_size=model.hidden_size, intermediate_size=model.intermediate_size,
        num_attention_heads=model.num_attention_heads, num_kv_heads=model.num_kv_heads, head_dim=model.head_dim,
        vocab_size=model.vocab_size, max_position_embeddings=model.max_position_embeddings,
        tie_word_embeddings=model.tie_word_embeddings, moe_experts=model.moe.num_experts if model.moe else 0,
        mla=model.mla is not None, attention_pattern=list(model.attention_pattern),
        sliding_window=model.sliding_window, attention_chunk_size=model.attention_chunk_size,
        encoder_params=model.encoder_params, checkpoint_size_gib=model.checkpoint_size_gib,
    )


def _kv_contradicts(act: str, kv_dtype: str) -> bool:
    """An unquantized KV cache in another dtype than the activations, which no flow builds."""
    return kv_dtype == "fp32" and act != "fp32" or act == "fp32" and kv_dtype in ("fp16", "bf16")


def _advice(model: ModelSpec, weights: str, kv_dtype: str, fleet: Fleet, workload: Workload,
            runtime: RuntimeProfile, rejected: list[Candidate], ask: Ask | None = None,
            kv_given: str | None = None) -> list[str]:
    """What would fit when nothing does: a smaller batch; a lighter quantization (the first that fits the
    batch, and before it the first that fits a smaller one); more GPUs. With --ttft-ms/--tpot-ms, only what
    also meets them."""
    out: list[str] = []
    batch = _smaller_batch(ask, rejected, workload, runtime)
    if batch:
        out.append(batch)
    # a checkpoint stored quantized loads as it is: --quant with another scheme is refused (checkpoint_quantization)
    for lighter in () if model.checkpoint_quant else ("fp8", "int4_awq"):
        if lighter == weights or SCHEMES[lighter].min_cc > fleet.gpu.cc:
            continue
        # the KV dtype `--quant lighter` gives: the one asked for, else the lighter scheme's activations
        act = activation_dtype(lighter, model.dtype)
        kv = (kv_given or act).lower()
        try:
            engine = runtime.trtllm_version if runtime.flow == "engine" else None
            check_hardware(fleet.gpu, lighter, kv, model, engine, runtime.use_parallel_embedding)
        except InputError:
            continue
        if _kv_contradicts(act, kv):
            continue
        too_small = _weights_exceed(model, lighter, fleet.gpu)
        chosen, lighter_rejected = search(model, lighter, kv, fleet, workload, runtime, known_misfits=too_small)
        lighter_ask = ask and ask._replace(weights=lighter, act=act, kv_dtype=kv)
        if chosen and ask is not None:  # name the layout `--quant lighter` would give, not the fewest GPUs
            pick = choose(lighter_ask, _options(lighter_ask, None, None, timed=needs_speed(lighter_ask),
                                                skip=too_small))
            if pick:
                chosen = pick.cand
            elif _has_limits(ask):  # it fits in memory only: its plan misses the limits
                chosen = None
        if chosen:
            out.append(f"--quant {lighter} fits on {_name(chosen)}")
            break
        # the lighter scheme only with a smaller batch: said once, for the first such scheme (the least lossy),
        # and the next scheme is still tried at the whole batch
        batch = _smaller_batch(lighter_ask, lighter_rejected, workload, runtime)
        if batch and not any(a.startswith("--quant") for a in out):
            out.append(f"--quant {lighter} {batch}")
    bigger = _smallest_fleet(model, weights, kv_dtype, fleet, workload, runtime, ask)
    if bigger:
        out.append(bigger)
    return out


def _has_limits(ask: Ask | None) -> bool:
    return ask is not None and has_limits(ask)


def _smaller_batch(ask: Ask | None, rejected: list[Candidate], workload: Workload,
                   runtime: RuntimeProfile) -> str | None:
    """"--max-batch-size N fits on LAYOUT" for the layout whose KV pool holds the most sequences, when its
    static memory fits; with latency limits, the largest N (halving) at which that layout meets them."""
    static_ok = [c for c in rejected if c.stages and all(s.free_bytes > 0 for s in c.stages)]
    if not static_ok:
        return None
    best = max(static_ok, key=lambda c: (min(s.kv_blocks for s in c.stages), -c.gpus))
    per_seq = blocks_per_sequence(workload, runtime) * workload.max_beam_width
    batch = min(s.kv_blocks for s in best.stages) // per_seq
    if not 1 <= batch < workload.max_batch_size:  # a pool that holds the batch was not what failed
        return None
    if not _has_limits(ask):
        return f"--max-batch-size {batch} fits on {_name(best)}"
    met = batch_within_limits(ask, best, workload, ask.fleet.total_gpus // best.gpus, batch)
    if met is None:
        return None
    batch, est = met
    return (f"--max-batch-size {batch} fits on {_name(best)} within the limits (TTFT {est.ttft_ms:.0f} ms, "
            f"TPOT {est.tpot_ms:.1f} ms)")


def _name(cand: Candidate) -> str:
    from planner.render import layout_of  # render stays out of the cold path of --format json

    return layout_of(cand)


def _fastest(options: list[Option]) -> Option | None:
    """Of the layouts with speed figures (those that fit in memory), the lowest TPOT, then TTFT."""
    timed = [o for o in options if o.perf is not None]
    return min(timed, key=lambda o: (o.perf.tpot_ms, o.perf.ttft_ms)) if timed else None


def _limit_advice(ask: Ask, fastest: Option | None) -> list[str]:
    """When layouts fit in memory but miss --ttft-ms/--tpot-ms, memory advice would mislead:
    say what the fastest of them (`_fastest`) reaches and the largest batch at which it meets the limits."""
    if fastest is None:
        return []
    lay = _name(fastest.cand)
    relaxed = []  # ceilings, so that the figures given do meet the limits
    if ask.ttft_ms is not None and fastest.perf.ttft_ms > ask.ttft_ms:
        relaxed.append(f"--ttft-ms {math.ceil(fastest.perf.ttft_ms)}")
    if ask.tpot_ms is not None and fastest.perf.tpot_ms > ask.tpot_ms:
        relaxed.append(f"--tpot-ms {math.ceil(fastest.perf.tpot_ms * 10) / 10:g}")
    out = [f"{' '.join(relaxed)} fits on {lay} (its TTFT {fastest.perf.ttft_ms:.0f} ms, TPOT "
           f"{fastest.perf.tpot_ms:.1f} ms at {fastest.perf.concurrency} sequences)"] if relaxed else []
    met = batch_within_limits(ask, fastest.cand, fastest.workload, fastest.replicas,
                              fastest.workload.max_batch_size // 2)
    if met:
        batch, est = met
        out.append(f"--max-batch-size {batch} meets the limits on {lay} (TTFT {est.ttft_ms:.0f} ms, "
                   f"TPOT {est.tpot_ms:.1f} ms)")
    return out


def _smallest_fleet(model: ModelSpec, weights: str, kv_dtype: str, fleet: Fleet, workload: Workload,
                    runtime: RuntimeProfile, ask: Ask | None = None) -> str | None:
    """The smallest fleet of the same GPU that fits: one fuller node first, then more nodes.

    The fewest-GPUs search finds the fleet; the layout named is the one `planner plan` on that fleet
    chooses (tiling the fleet, by the objective), so that following the advice gives what it says."""
    node = fleet.gpu.gpus_per_node
    shapes = [(1, n) for n in (1, 2, 4, 8, 16) if fleet.gpus_per_node < n <= node]
    shapes += [(n, node) for n in (2, 4, 8, 16, 32) if n * node > fleet.total_gpus]
    # A trial that finds nothing has weighed every layout of up to `seen_gpus` GPUs with TP up to
    # `seen_tp`: memory depends on the GPU alone, so none of them fits a larger trial either.
    seen_gpus = seen_tp = 0
    too_small = _weights_exceed(model, weights, fleet.gpu)
    for nodes, per_node in shapes:
        trial = fleet.model_copy(update={"nodes": nodes, "gpus_per_node": per_node})
        chosen, _ = search(model, weights, kv_dtype, trial, workload, runtime,
                           known_misfits=lambda tp, pp, g=seen_gpus, t=seen_tp: (tp * pp <= g and tp <= t
                                                                                 or too_small(tp, pp)))
        if chosen:
            fleet_text = f"{nodes}x{fleet.gpu.name}x{per_node}" if nodes > 1 else f"{fleet.gpu.name}x{per_node}"
            if ask is not None:
                trial_ask = ask._replace(fleet=trial)
                pick = choose(trial_ask, _options(trial_ask, None, None, timed=needs_speed(trial_ask),
                                                  skip=too_small))
                if pick is None and _has_limits(ask):  # fits in memory, misses the limits: more GPUs may not
                    continue
                chosen = pick.cand if pick else chosen
            return f"--gpus {fleet_text} fits with {_name(chosen)}"
        seen_gpus, seen_tp = trial.total_gpus, min(trial.total_gpus, trial.max_tp)
    return None


def _weights_exceed(model: ModelSpec, weights: str, gpu: GpuSpec):
    """(tp, pp) -> whether the weights alone overflow the layout's GPUs, so that advice, which only
    looks for a layout that fits, need not size it. A lower bound: every rank of every stage holds
    its share of the checkpoint and more (replicated norms and biases, per-rank scales, an LM head
    of its own on the last stage), so the largest rank holds at least 1/(tp × pp) of it."""
    whole = checkpoint_bytes(model, weights)
    return lambda tp, pp: whole > tp * pp * gpu.memory_bytes


def check_perf_backend(name: str | None) -> str:
    """The performance backend asked for (default roofline), or a one-line InputError."""
    from planner.perf import BACKENDS

    name = (name or "roofline").lower()
    if name not in BACKENDS:
        raise InputError(f"--perf-backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "aiconfigurator":
        from planner.perf import aic

        if not aic.installed():
            raise InputError(f"--perf-backend aiconfigurator needs aiconfigurator-core: {aic.INSTALL_HINT}")
    return name


def make_plan(
    model: str | ModelSpec | None = None,
    gpus: str | Fleet = "h100x8",
    quant: str | None = None,
    kv_cache_dtype: str | None = None,
    max_batch_size: int | None = None,
    max_input_len: int = DEFAULT_MAX_INPUT_LEN,
    max_output_len: int = DEFAULT_MAX_OUTPUT_LEN,
    max_num_tokens: int | None = None,
    max_beam_width: int = 1,
    tp: int | None = None,
    pp: int | None = None,
    kv_cache_free_gpu_mem_fraction: float = 0.9,
    tokens_per_block: int = 32,
    max_tokens_in_paged_kv_cache: int | None = None,
    use_parallel_embedding: bool = False,
    trtllm_version: str = DEFAULT_TRTLLM_VERSION,
    serving: ServingInfo | None = None,
    model_path: str | None = None,
    objective: str = "min-gpus",
    ttft_ms: float | None = None,
    tpot_ms: float | None = None,
    request_rate: float | None = None,
    gpu_hour_price: float | None = None,
    flow: str | None = None,
    ep: int | None = None,
    attention_dp: bool | None = None,
    perf_backend: str | None = None,
    bench_requests: int | None = None,
) -> Plan:
    """`max_batch_size`/`max_num_tokens` left None: 64 and min(8192, batch × input), or with
    `objective="throughput"` the limits trtllm-bench chooses for a maximum-throughput build.
    `perf_backend` "aiconfigurator": time the steps from aiconfigurator-core's tables where they cover
    the layout (the `aic` extra); None or "roofline": the planner's own model. `bench_requests`: also
    what trtllm-bench's offline run of that many requests at the workload's lengths reports (`benchmark`)."""
    perf_backend = check_perf_backend(perf_backend)
    if bench_requests is not None and (isinstance(bench_requests, bool) or not isinstance(bench_requests, int)
                                       or bench_requests < 1):
        raise InputError(f"--bench-requests must be a positive integer, got {bench_requests!r}")
    spec = resolve_model(model, model_path)
    objective = _check_objective(objective, ttft_ms, tpot_ms, request_rate, gpu_hour_price)
    given_batch = max_batch_size
    if max_batch_size is None:
        max_batch_size = DEFAULT_MAX_BATCH_SIZE
    fleet = gpus if isinstance(gpus, Fleet) else parse_fleet(gpus)
    quant, kv_cache_dtype = checkpoint_quantization(spec, quant, kv_cache_dtype)
    quant = (quant or default_weights(fleet.gpu, spec.dtype)).lower()
    act = activation_dtype(quant, spec.dtype) if quant in SCHEMES else "bf16"
    # The KV cache keeps the activation dtype unless it is quantized: an fp32 model has an fp32 KV
    # cache (trtllm-build takes the KV dtype from the checkpoint's dtype; 262,163 B/token measured for
    # Llama-3.1-8B in fp32, i.e. 4 bytes per element)
    kv_dtype = (kv_cache_dtype or act).lower()
    check_hardware(fleet.gpu, quant, kv_dtype)
    if _kv_contradicts(act, kv_dtype):
        raise InputError(f"--kv-cache-dtype {kv_dtype} with {act} activations: an unquantized KV cache keeps the "
                         f"model's dtype ({act}); choose {act}, fp8 or int8")
    workload = make_workload(max_batch_size, max_input_len, max_output_len, max_num_tokens, max_beam_width)
    if workload.max_seq_len > spec.max_position_embeddings:
        room = spec.max_position_embeddings - workload.max_output_len
        hint = f"; e.g. --max-input-len {room}" if room > 0 else ""
        raise InputError(f"max_input_len + max_output_len = {workload.max_seq_len} exceeds {spec.name}'s "
                         f"{spec.max_position_embeddings} positions{hint}")
    if not 0 < kv_cache_free_gpu_mem_fraction <= 1:
        raise InputError("--kv-cache-free-gpu-mem-fraction must be in (0, 1]")
    for name, value in (("tokens-per-block", tokens_per_block), ("max-tokens-in-paged-kv-cache",
                                                                  max_tokens_in_paged_kv_cache)):
        if value is not None and value < 1:
            raise InputError(f"--{name} must be a positive integer, got {value!r}")
    if (not isinstance(tokens_per_block, int) or isinstance(tokens_per_block, bool)
            or tokens_per_block & (tokens_per_block - 1) or not 2 <= tokens_per_block <= MAX_TOKENS_PER_BLOCK):
        raise InputError(f"--tokens-per-block must be a power of two from 2 to {MAX_TOKENS_PER_BLOCK} "
                         f"(TensorRT-LLM's KV cache blocks), got {tokens_per_block}")
    from planner.target import check_flow_quantization, choose_flow, load_profile

    # the flow decides the memory rules (RuntimeProfile.flow) and every artifact the plan emits
    profile = load_profile(trtllm_version)
    requested_flow = flow
    flow, flow_reason = choose_flow(profile, spec.architecture, flow)
    check_flow_quantization(profile, flow, quant, kv_dtype,
                            spec.checkpoint_quant.weights if spec.checkpoint_quant else None)
    if flow == "engine":  # what this release's engine flow can build (planner.engine_rules)
        check_hardware(fleet.gpu, quant, kv_dtype, spec, trtllm_version, use_parallel_embedding)
    if flow == "pytorch" and serving is not None and serving.bls:
        # the release's llmapi repository is the tensorrt_llm model alone: no ensemble, no BLS model
        raise InputError(f"--bls: TensorRT-LLM {trtllm_version}'s llmapi repository (PyTorch flow) has no BLS "
                         "model; use --flow engine for tensorrt_llm_bls")
    runtime = _shared(
        RuntimeProfile, kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction,
        tokens_per_block=tokens_per_block, max_tokens_in_paged_kv_cache=max_tokens_in_paged_kv_cache,
        use_parallel_embedding=use_parallel_embedding, trtllm_version=trtllm_version, flow=flow,
        cuda_graphs_cover_batch=True,  # the graphs the plan emits: every batch the executor admits replays one
    )
    request = PlanRequest(
        model=spec.name if isinstance(model, ModelSpec) else model, model_path=model_path,
        gpus=gpus if isinstance(gpus, str) else f"{fleet.nodes}x{fleet.gpu.name}x{fleet.gpus_per_node}",
        quant=quant, kv_cache_dtype=kv_cache_dtype, max_batch_size=max_batch_size, max_input_len=max_input_len,
        max_output_len=max_output_len, max_num_tokens=max_num_tokens, max_beam_width=max_beam_width, tp=tp, pp=pp,
        kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction, tokens_per_block=tokens_per_block,
        max_tokens_in_paged_kv_cache=max_tokens_in_paged_kv_cache, use_parallel_embedding=use_parallel_embedding,
        trtllm_version=trtllm_version, objective=objective, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
        request_rate=request_rate, gpu_hour_price=gpu_hour_price, flow=requested_flow,
        ep=ep, attention_dp=attention_dp, perf_backend=None if perf_backend == "roofline" else perf_backend,
        bench_requests=bench_requests,
    )
    if given_batch is None:
        request = request.model_copy(update={"max_batch_size": None})
    tune = objective == "throughput"
    ask = Ask(spec, quant, kv_dtype, act, fleet, workload, runtime, objective, ttft_ms, tpot_ms, request_rate,
              tune_batch=tune and given_batch is None, tune_tokens=tune and max_num_tokens is None,
              perf_backend=perf_backend)
    options = _options(ask, tp, pp, ep, attention_dp)
    forced = tp is not None or pp is not None or ep is not None or attention_dp is not None
    best = choose(ask, options) if not forced else _first_fit(options)
    chosen = best.cand if best else None
    rejected = [o.cand for o in options if not o.cand.fits]
    if best and ask.objective == "min-gpus":  # as before: only the layouts the search prefers to the chosen one
        rejected = [c for c in rejected if (c.gpus, -c.tp) < (chosen.gpus, -chosen.tp)]
    if best:
        workload = best.workload
    # when layouts fit in memory but miss --ttft-ms/--tpot-ms, the closest is the fastest of them
    fastest = None if chosen else _fastest(options)
    shown = chosen or (fastest and fastest.cand) or _closest(rejected, spec, quant, kv_dtype, fleet, workload, runtime)
    advice = [] if chosen else (_limit_advice(ask, fastest)
                                or _advice(spec, quant, kv_dtype, fleet, workload, runtime, rejected, ask,
                                           kv_cache_dtype))
    if not chosen and (tp is not None or pp is not None):
        advice = _forced_advice(ask, advice)
    plan = _assemble(spec, fleet, quant, kv_dtype, act, workload, runtime, trtllm_version, serving,
                     chosen, shown, rejected, advice)
    target = TargetInfo(trtllm_version=trtllm_version, flow=flow, flow_reason=flow_reason)
    # a forced layout is the first that fits, not a choice among them
    passed = {} if forced else passed_over([o for o in options if o.cand.fits])
    fields = _speed_fields(ask, options, best, shown, workload, gpu_hour_price, passed)
    if bench_requests and best is not None:
        fields["benchmark"] = _benchmark(ask, best, bench_requests)
    return plan.model_copy(update={"request": request, "target": target, **fields})


def _benchmark(ask: Ask, best: Option, requests: int) -> BenchmarkInfo | None:
    w, c = best.workload, best.cand
    run = bench_run(ask, c, w, requests)
    if isinstance(run, str):
        return None
    return BenchmarkInfo(requests=requests, input_len=w.max_input_len, output_len=w.max_output_len,
                         total_s=round(run.total_s, 3), output_tokens_per_s=round(run.output_tokens_per_s, 2),
                         output_tokens_per_s_per_gpu=round(run.output_tokens_per_s / c.gpus, 2),
                         ttft_ms=round(run.ttft_ms, 3), tpot_ms=round(run.tpot_ms, 4), backend=run.backend)


def _forced_advice(ask: Ask, advice: list[str]) -> list[str]:
    """A forced --tp/--pp that does not fit: when the fleet fits another layout, say so first; a bigger
    fleet is then no answer."""
    free = choose(ask, _options(ask, None, None, timed=needs_speed(ask)))
    if free is None:
        return advice
    return [f"without --tp/--pp: {_name(free.cand)} fits on this fleet",
            *(a for a in advice if not a.startswith("--gpus "))]


def _check_objective(objective: str, ttft_ms: float | None, tpot_ms: float | None, request_rate: float | None,
                     gpu_hour_price: float | None) -> str:
    objective = str(objective or "min-gpus").lower()
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    for name, value in (("ttft-ms", ttft_ms), ("tpot-ms", tpot_ms), ("request-rate", request_rate),
                        ("gpu-hour-price", gpu_hour_price)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
                                  or value == float("inf")):
            raise InputError(f"--{name} must be a positive number, got {value!r}")
    return objective


def _options(ask: Ask, tp: int | None, pp: int | None, ep: int | None = None,
             attention_dp: bool | None = None, timed: bool = True,
             skip: Callable[[int, int], bool] | None = None) -> list[Option]:
    """Every layout to weigh, in order of GPU count then TP (then EP and attention DP for MoE models in
    the PyTorch flow): all of them, or those with the forced sizes. `timed=False`: memory only;
    `skip(tp, pp)`: layouts known not to fit, left out (for a choice among those that fit)."""
    _check_moe_options(ask, ep, attention_dp)
    if tp is None and pp is None and ep is None and attention_dp is None:
        # Layouts that tile the fleet come first for every objective; the others are weighed only
        # when none of those fits (which also halves the work of a plan).
        every = layout_options(ask.model, ask.fleet, ask.runtime)
        if skip is not None:
            every = [lay for lay in every if not skip(lay[0], lay[1])]
        tiling = {lay for lay in every if fleet_share(ask.fleet, lay[0] * lay[1])[1] == 0}
        weighed = {lay: assess(ask, *lay, timed=timed) for lay in every if lay in tiling}
        if not any(o.cand.fits for o in weighed.values()):
            weighed.update({lay: assess(ask, *lay, timed=timed) for lay in every if lay not in tiling})
        return [weighed[lay] for lay in every if lay in weighed]
    if tp is None and pp is None:
        forced = [(t, p) for t, p, _, _ in layout_options(ask.model, ask.fleet, ask.runtime)]
        forced = list(dict.fromkeys(forced))
    else:
        forced = _forced_pairs(ask, tp, pp)
    if ep is not None or attention_dp is not None:
        # a forced EP / attention DP that no forced size can run is bad input, as a forced TP is
        reasons = [((t * p, t), structural_reason(ask.model, ask.weights, t, p, ask.fleet, e, dp, ask.runtime.flow))
                   for t, p in forced for e, dp in _forced_variants(ask, t, ep, attention_dp)]
        if reasons and all(reason for _, reason in reasons):  # the largest layout's: the nearest to running
            raise InputError(f"{_forced_name(tp, pp, ep, attention_dp)} cannot run {ask.model.name}: "
                             f"{max(reasons, key=lambda r: r[0])[1]}")
    out = []
    for t, p in forced:  # a forced layout stops at the first that fits, as it always has
        for e, dp in _forced_variants(ask, t, ep, attention_dp):
            opt = assess(ask, t, p, e, dp)
            out.append(opt)
            if opt.cand.fits:
                return out
    return out


def _check_moe_options(ask: Ask, ep: int | None, attention_dp: bool | None) -> None:
    """--ep / --attention-dp name layouts only MoE models in the PyTorch flow have."""
    if ep is not None and (isinstance(ep, bool) or not isinstance(ep, int) or ep < 1):
        raise InputError(f"--ep must be a positive integer, got {ep!r}")
    asked = (ep is not None and ep > 1) or bool(attention_dp)
    if asked and ask.runtime.flow != "pytorch":
        raise InputError("--ep and --attention-dp exist only in the PyTorch flow (the engine flow splits experts "
                         "by TP); use --flow pytorch")
    if asked and ask.model.moe is None:
        raise InputError(f"--ep and --attention-dp apply to MoE models; {ask.model.name} has no experts")


def _forced_name(tp: int | None, pp: int | None, ep: int | None, attention_dp: bool | None) -> str:
    parts = [f"{name} {v}" for name, v in (("TP", tp), ("PP", pp), ("EP", ep)) if v is not None]
    if attention_dp is not None:
        parts.append("attention DP" if attention_dp else "no attention DP")
    return " × ".join(parts)


def _forced_variants(ask: Ask, tp: int, ep: int | None, attention_dp: bool | None) -> list[tuple[int, bool]]:
    """(ep, attention_dp) to try at TP `tp` when some sizes are forced: the forced ones, else every
    variant the search knows (the release's defaults, EP 1 without attention DP, first)."""
    from planner.layout import moe_variants

    variants = moe_variants(ask.model, tp, ask.runtime)
    if ep is not None:
        variants = [v for v in variants if v[0] == ep] or [(ep, bool(attention_dp))]
    if attention_dp is not None:
        variants = [v for v in variants if v[1] == attention_dp] or [(ep or 1, attention_dp)]
    return variants


def _first_fit(options: list[Option]) -> Option | None:
    return next((o for o in options if o.cand.fits), None)


def _perf_info(est: object, gpus: int, replicas: int, price: float | None) -> PerformanceInfo | None:
    from planner.perf import Estimate

    if not isinstance(est, Estimate):
        return None
    fleet_tps = est.output_tokens_per_s * max(replicas, 1)
    cost = None
    if price:  # the replica's GPU-hours over its output tokens, at the operating point
        cost = gpus * price / 3600 / est.output_tokens_per_s * 1e6 if est.output_tokens_per_s else None
    # the constructor, not model_construct: validating these plain numbers in pydantic-core takes
    # half the time of model_construct's Python loop over the fields
    return PerformanceInfo(
        ttft_ms=round(est.ttft_ms, 3), tpot_ms=round(est.tpot_ms, 4), concurrency=est.concurrency,
        output_tokens_per_s=round(est.output_tokens_per_s, 2),
        output_tokens_per_s_per_gpu=round(est.output_tokens_per_s / gpus, 2),
        fleet_output_tokens_per_s=round(fleet_tps, 2), requests_per_s=round(est.requests_per_s, 4),
        backend=est.backend, kv_bound=est.kv_bound, keeps_up=est.keeps_up,
        cost_per_million_tokens=None if cost is None else round(cost, 4),
    )


def _sizing_cost(est: object, gpus_needed: int, rate: float, price: float | None) -> float | None:
    """The GPU-hours of the GPUs the rate needs over the output tokens it asks for, per million: what serving
    the rate costs, whatever the size of the fleet named (the performance figure's cost is that of the fleet's
    own replicas sharing the rate, the same for every fleet of that many GPUs)."""
    from planner.perf import Estimate

    if not price or not gpus_needed or not isinstance(est, Estimate) or not est.requests_per_s:
        return None
    tokens_s = rate * est.output_tokens_per_s / est.requests_per_s  # the estimate's own tokens per request
    return round(gpus_needed * price / 3600 / tokens_s * 1e6, 4)


def _speed_fields(ask: Ask, options: list[Option], best: Option | None, shown: Candidate | None,
                  workload: Workload, price: float | None, passed: dict[int, str]) -> dict:
    """performance, candidates, objective and sizing for the plan; `passed`: id(option) -> why the choice
    does not weigh that layout."""
    out: dict = {"objective": ask.objective}
    cands = []
    for o in options:
        if not o.cand.fits and o.perf is None:
            continue
        worst = min(o.cand.stages, key=lambda s: s.kv_tokens)
        cands.append(CandidateInfo.model_construct(
            tp=o.cand.tp, pp=o.cand.pp, replicas=o.replicas, idle_gpus=o.idle, ep=o.cand.ep,
            attention_dp=o.cand.attention_dp,
            memory={"weights_bytes": max(s.weights_bytes for s in o.cand.stages),
                    "kv_cache_bytes": worst.kv_cache_bytes, "kv_tokens": worst.kv_tokens,
                    "total_bytes": max(s.total_bytes for s in o.cand.stages)},
            performance=_perf_info(o.perf, o.cand.gpus, o.replicas, price),
            fits=o.cand.fits, reason=o.cand.reason or o.perf_reason, passed_over=passed.get(id(o)),
            max_batch_size=o.workload.max_batch_size, max_num_tokens=o.workload.max_num_tokens,
        ))
    out["candidates"] = cands
    if best is not None:
        out["performance"] = _perf_info(best.perf, best.cand.gpus, best.replicas, price)
        out["performance_note"] = best.perf_reason
        sizing = size_fleet(ask, best)
        if sizing:
            out["sizing"] = SizingInfo(
                request_rate=sizing.request_rate, replicas_needed=sizing.replicas_needed,
                gpus_needed=sizing.gpus_needed, meets_slo=sizing.meets_slo, fleet_suffices=sizing.fleet_suffices,
                max_requests_per_s_per_replica=round(sizing.max_requests_per_s_per_replica, 4),
                cost_per_million_tokens=_sizing_cost(best.perf, sizing.gpus_needed, sizing.request_rate, price))
    elif (timed := next((o for o in options if o.cand is shown and o.perf is not None), None)) is not None:
        # a layout that fits in memory but misses a latency limit: its figures, and the limit it misses
        out["performance"] = _perf_info(timed.perf, shown.gpus, timed.replicas, price)
        out["performance_note"] = shown.reason
    elif shown is not None and len(shown.stages) == shown.pp and all(s.free_bytes > 0 for s in shown.stages):
        # a layout whose KV pool falls short of the full batch: its speed at the batch the pool holds
        reps, _ = fleet_share(ask.fleet, shown.gpus)
        est = speed(ask, shown, workload, max(reps, 1))
        out["performance"] = _perf_info(est, shown.gpus, 0, price)
        out["performance_note"] = est if isinstance(est, str) else "at the concurrency the KV pool holds"
    return out



def _embedding_info(runtime: RuntimeProfile, quant: str, kv_dtype: str, model: ModelSpec | None = None,
                    attention_dp: bool = False) -> EmbeddingInfo:
    place = embedding_placement(runtime, quant, kv_dtype, model, attention_dp)
    return EmbeddingInfo(path=place.path, placement="sharded" if place.sharded else "replicated",
                         source=place.source)


def _closest(rejected: list[Candidate], spec: ModelSpec, quant: str, kv_dtype: str, fleet: Fleet,
             workload: Workload, runtime: RuntimeProfile) -> Candidate | None:
    """The rejected layout nearest to fitting (least memory short, then most KV), with every stage."""
    tried = [c for c in rejected if c.stages]
    if not tried:
        return None
    best = max(tried, key=lambda c: (min(min(s.free_bytes for s in c.stages), 0), c.kv_tokens, -c.gpus))
    if len(best.stages) == best.pp:
        return best
    stages = layout_memory(spec, quant, kv_dtype, best.tp, best.pp, workload, fleet.gpu, runtime,
                           ep=best.ep, attention_dp=best.attention_dp)
    return Candidate(best.tp, best.pp, tuple(stages), best.reason, best.ep, best.attention_dp)


def _forced_pairs(ask: Ask, tp: int | None, pp: int | None) -> list[tuple[int, int]]:
    spec, quant, fleet = ask.model, ask.weights, ask.fleet
    for name, value in (("tp", tp), ("pp", pp)):
        if value is not None and value < 1:
            raise InputError(f"--{name} must be a positive integer, got {value}")
    if tp is not None and pp is not None:
        pairs = [(tp, pp)]
    elif tp is not None:
        pairs = [(tp, p) for p in range(1, max(1, fleet.total_gpus // tp) + 1)]
    else:
        pairs = [(t, pp) for t in range(1, max(1, fleet.total_gpus // pp) + 1)]
    reasons = []
    for t, p in pairs:
        if t * p > fleet.total_gpus:
            raise InputError(f"TP {t} × PP {p} needs {t * p} GPUs; the fleet has {fleet.total_gpus}")
        reasons.append(structural_reason(spec, quant, t, p, fleet, flow=ask.runtime.flow,
                                         trtllm_version=ask.runtime.trtllm_version))
    if all(reasons):  # no layout with the forced sizes can run, whatever the memory
        forced = " × ".join(f"{name} {v}" for name, v in (("TP", tp), ("PP", pp)) if v is not None)
        raise InputError(f"{forced} cannot run {spec.name}: {reasons[0]}")
    return sorted(pairs, key=lambda x: (x[0] * x[1], -x[0]))


def _assemble(spec: ModelSpec, fleet: Fleet, quant: str, kv_dtype: str, act: str, workload: Workload,
              runtime: RuntimeProfile, version: str, serving: ServingInfo | None, chosen: Candidate | None,
              shown: Candidate | None, rejected: list[Candidate], advice: list[str]) -> Plan:
    layout = kv = None
    per_gpu = []
    if shown is not None:
        reps, nodes_per = replicas(fleet, shown.gpus) if chosen else (0, -(-shown.gpus // fleet.gpus_per_node))
        idle = fleet.total_gpus - reps * shown.gpus if chosen else 0
        layout = LayoutInfo(tp=shown.tp, pp=shown.pp, gpus_per_replica=shown.gpus, replicas=reps,
                            nodes_per_replica=nodes_per, layers_per_stage=[s.layers for s in shown.stages],
                            idle_gpus=idle, ep=shown.ep, attention_dp=shown.attention_dp)
        per_gpu = list(shown.stages)
        per_seq = blocks_per_sequence(workload, runtime)
        min_blocks = min(s.kv_blocks for s in shown.stages)
        kv = KVCacheInfo(
            bytes_per_token_per_gpu=max(s.kv_bytes_per_token for s in shown.stages),
            max_tokens=min(s.kv_tokens for s in shown.stages),
            # under attention DP every rank holds its own requests' KV: the replica holds dp times as many
            max_concurrent_sequences=min_blocks // (per_seq * workload.max_beam_width) * shown.dp,
            required_tokens=workload.max_batch_size * workload.max_beam_width * workload.max_seq_len,
            tokens_per_block=runtime.tokens_per_block, blocks_per_sequence=per_seq,
            attention_windows=(kvcache.attention_windows(spec, workload.max_seq_len)
                               if runtime.flow == "pytorch" else None),
        )
    scheme = SCHEMES[quant]
    return Plan(
        model=_model_info(spec),
        fleet=FleetInfo(gpu=fleet.gpu.name, gpus_per_node=fleet.gpus_per_node, nodes=fleet.nodes,
                        total_gpus=fleet.total_gpus, gpu_memory_bytes=fleet.gpu.memory_bytes,
                        compute_capability=fleet.gpu.compute_capability, nvlink_domain=fleet.gpu.nvlink_domain,
                        tp_across_nodes=fleet.tp_across_nodes),
        quantization=QuantInfo(weights=quant, kv_cache=kv_dtype, activation_dtype=act,
                               group_size=scheme.group_size,
                               checkpoint=spec.checkpoint_quant.source if spec.checkpoint_quant else None,
                               unquantized=list(spec.checkpoint_quant.unquantized) if spec.checkpoint_quant else []),
        workload=WorkloadInfo(max_batch_size=workload.max_batch_size, max_input_len=workload.max_input_len,
                              max_output_len=workload.max_output_len, max_seq_len=workload.max_seq_len,
                              max_num_tokens=workload.max_num_tokens, max_beam_width=workload.max_beam_width),
        target=TargetInfo(trtllm_version=version),
        runtime=RuntimeInfo(kv_cache_free_gpu_mem_fraction=runtime.kv_cache_free_gpu_mem_fraction,
                            tokens_per_block=runtime.tokens_per_block,
                            max_tokens_in_paged_kv_cache=runtime.max_tokens_in_paged_kv_cache,
                            use_parallel_embedding=runtime.use_parallel_embedding,
                            cuda_graph_batch_sizes=_captured_graph_sizes(runtime, workload, per_gpu)),
        serving=serving or ServingInfo(),
        fits=chosen is not None,
        layout=layout,
        memory=MemoryInfo(per_gpu=per_gpu, embedding=_embedding_info(runtime, quant, kv_dtype, spec,
                                                                       bool(shown and shown.attention_dp))),
        kv_cache=kv,
        rejected=[Rejection(tp=c.tp, pp=c.pp, reason=c.reason or "does not fit", ep=c.ep, attention_dp=c.attention_dp)
                  for c in rejected],
        advice=advice,
    )
