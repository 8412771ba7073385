"""Per-GPU memory of one layout: weights, KV cache, activations, runtime overhead.

A pure function of (model, quantization, layout, workload, GPU, runtime profile).
The mechanism follows the TensorRT-LLM engine flow (see ARCHITECTURE.md and the README's
"Memory model" section): static memory is the engine's weights, the execution
context (activations, fixed at build time by max_num_tokens) and the runtime's own
buffers; the KV pool is `kv_cache_free_gpu_mem_fraction` of what is left, rounded down
to whole blocks of `tokens_per_block` tokens, optionally capped by
`max_tokens_in_paged_kv_cache`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from planner import tensors
from planner.quant import DTYPE_BYTES, SCHEMES, activation_dtype, linear_bytes
from planner.specs import GpuSpec, ModelSpec, RuntimeProfile, Workload

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class RuntimeCosts:
    """Fixed runtime costs that the engine does not set.

    `base_bytes`: what a GPU loses before the engine loads plus the runtime's own buffers:
    the driver's reservation (nvidia-smi's total, which the catalog records, exceeds what
    CUDA hands out), the CUDA context and libraries, the runtime and decoder buffers.
    Calibrated on the example log of TensorRT-LLM's memory documentation
    (docs/source/reference/memory.md): an H100 SXM (81559 MiB in nvidia-smi) with a 6695 MiB
    engine and 1134.01 MiB of execution context had 70.48 GiB available, so the rest was
    81559 - 6695 - 1134 - 72172 = 1558 MiB.
    `custom_allreduce_bytes`: TensorRT-LLM's custom all-reduce workspace for TP > 1, per
    buffer 16 MB at TP <= 2 else 8 MB, times TP, for ping and pong
    (CustomAllReduceHelper.max_workspace_size_auto, tensorrt_llm/plugin/plugin.py).
    `nccl_bytes`: NCCL's communicator buffers with TP > 1. NCCL documents no fixed figure
    (it grows with channels and peers, NCCL_BUFFSIZE 4 MiB each); 256 MiB is an estimate.
    """

    base_bytes: int = 1560 * MIB
    nccl_bytes: int = 256 * MIB

    def tp_bytes(self, tp: int) -> int:
        if tp == 1:
            return 0
        per_buffer = 16_000_000 if tp <= 2 else 8_000_000
        return self.nccl_bytes + 2 * per_buffer * tp


DEFAULT_COSTS = RuntimeCosts()


@dataclass(frozen=True)
class StageMemory:
    """Memory of one GPU in pipeline stage `pp_stage` (ranks of one stage are alike under TP)."""

    pp_stage: int
    layers: int
    first_layer: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    total_bytes: int
    capacity_bytes: int
    free_bytes: int  # left after static memory, before the KV pool takes its fraction
    kv_bytes_per_token: int
    kv_blocks: int
    kv_tokens: int


def layers_per_stage(num_layers: int, pp: int) -> list[int]:
    """Split layers over stages; when uneven, the first stages take one extra layer each."""
    base, extra = divmod(num_layers, pp)
    return [base + (1 if i < extra else 0) for i in range(pp)]


def kv_bytes_per_token(model: ModelSpec, layers: int, tp: int, kv_dtype: str) -> int:
    """KV cache bytes one token costs on one rank of a stage holding `layers` layers."""
    nbytes = DTYPE_BYTES[kv_dtype]
    if model.mla:
        # MLA caches the compressed latent plus the decoupled RoPE key, once (no K/V pair).
        return layers * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * nbytes
    return 2 * layers * tensors.kv_heads_per_rank(model, tp) * model.head_dim * nbytes


@lru_cache(maxsize=4096)
def _layer_bytes(model: ModelSpec, weights: str, tp: int, moe_layer: bool) -> int:
    """Bytes of one decoder layer on one rank (every dense layer alike, every MoE layer alike)."""
    scheme = SCHEMES[weights]
    act = DTYPE_BYTES[activation_dtype(weights, model.dtype)]
    first_moe = model.moe.first_k_dense_layers if model.moe else model.num_layers
    lt = tensors.layer_tensors(model, first_moe if moe_layer else 0, tp)
    return lt.plain * act + sum(
        linear_bytes(scheme, lin.in_features, lin.out_features, act) * lin.count for lin in lt.linears
    )


def stage_weight_bytes(
    model: ModelSpec, weights: str, tp: int, first_layer: int, layers: int,
    is_first: bool, is_last: bool, parallel_embedding: bool = False,
) -> int:
    act = DTYPE_BYTES[activation_dtype(weights, model.dtype)]
    dense = _dense_layers(model, first_layer, layers)
    total = dense * _layer_bytes(model, weights, tp, False)
    if layers - dense:
        total += (layers - dense) * _layer_bytes(model, weights, tp, True)
    if is_first:
        total += tensors.embedding_params(model, tp, parallel_embedding) * act
    if is_last:
        total += (tensors.lm_head_params(model, tp) + tensors.final_norm_params(model)) * act
    return total


def activation_bytes(model: ModelSpec, weights: str, tp: int, workload: Workload, is_last: bool) -> int:
    """Execution-context memory TensorRT reserves for the engine's largest activations.

    TensorRT reuses activation memory across layers, so the peak is one layer's widest
    live tensors for `max_num_tokens` tokens: the residual stream and norm/attention
    outputs (4 × hidden), the fused QKV output, and the MLP's up/gate output plus the
    activated product (3 × intermediate per rank; for MoE, top_k experts' worth per token).
    The last stage also holds fp32 logits for one token per sequence.
    """
    act = DTYPE_BYTES[activation_dtype(weights, model.dtype)]
    h = model.hidden_size
    if model.mla:
        m = model.mla
        qkv = model.num_attention_heads // tp * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim) * 2
    else:
        qkv = (model.num_attention_heads + 2 * model.num_kv_heads) * model.head_dim // tp
    inter = -(-model.intermediate_size // tp)
    if model.moe:
        moe = model.moe
        expert = moe.top_k * -(-moe.expert_intermediate_size // tp)
        shared = -(-moe.shared_experts * moe.shared_intermediate_size // tp)
        inter = max(inter if moe.first_k_dense_layers else 0, expert + shared)
    mlp_width = 3 * inter if model.mlp == "gated" else 2 * inter
    per_token = (4 * h + qkv + mlp_width) * act
    logits = 0
    if is_last:
        logits = workload.max_batch_size * workload.max_beam_width * -(-model.vocab_size // tp) * 4
    return workload.max_num_tokens * per_token + logits


def overhead_bytes(tp: int, costs: RuntimeCosts = DEFAULT_COSTS) -> int:
    return costs.base_bytes + costs.tp_bytes(tp)


def kv_pool(free_bytes: int, bytes_per_token: int, runtime: RuntimeProfile) -> tuple[int, int]:
    """(max tokens, blocks) of the paged KV pool, as TensorRT-LLM's KV cache manager sizes it.

    maxTokens = floor(fraction × free / bytes per token), capped by
    max_tokens_in_paged_kv_cache, then rounded UP to whole blocks
    (BaseKVCacheManager::calculateMaxNumBlocks, cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp).
    """
    if free_bytes <= 0 or bytes_per_token <= 0:
        return 0, 0
    max_tokens = int(free_bytes * runtime.kv_cache_free_gpu_mem_fraction) // bytes_per_token
    if runtime.max_tokens_in_paged_kv_cache is not None:
        max_tokens = min(max_tokens, runtime.max_tokens_in_paged_kv_cache)
    return max_tokens, -(-max_tokens // runtime.tokens_per_block)


def _dense_layers(model: ModelSpec, first_layer: int, layers: int) -> int:
    dense_end = model.moe.first_k_dense_layers if model.moe else model.num_layers
    return max(0, min(first_layer + layers, dense_end) - first_layer)


def _stage(
    model: ModelSpec, weights: str, kv_dtype: str, tp: int, stage: int, first_layer: int, layers: int,
    is_first: bool, is_last: bool, workload: Workload, gpu: GpuSpec, runtime: RuntimeProfile, costs: RuntimeCosts,
) -> StageMemory:
    w = stage_weight_bytes(model, weights, tp, first_layer, layers, is_first, is_last,
                           runtime.use_parallel_embedding)
    a = activation_bytes(model, weights, tp, workload, is_last)
    o = overhead_bytes(tp, costs)
    free = gpu.memory_bytes - w - a - o
    bpt = kv_bytes_per_token(model, layers, tp, kv_dtype)
    _, blocks = kv_pool(free, bpt, runtime)
    kv = blocks * runtime.tokens_per_block * bpt
    return StageMemory(
        pp_stage=stage, layers=layers, first_layer=first_layer, weights_bytes=w, kv_cache_bytes=kv,
        activation_bytes=a, overhead_bytes=o, total_bytes=w + a + o + kv, capacity_bytes=gpu.memory_bytes,
        free_bytes=free, kv_bytes_per_token=bpt, kv_blocks=blocks, kv_tokens=blocks * runtime.tokens_per_block,
    )


def stage_memory(
    model: ModelSpec, weights: str, kv_dtype: str, tp: int, pp: int, stage: int,
    workload: Workload, gpu: GpuSpec, runtime: RuntimeProfile,
    costs: RuntimeCosts = DEFAULT_COSTS,
) -> StageMemory:
    split = layers_per_stage(model.num_layers, pp)
    return _stage(model, weights, kv_dtype, tp, stage, sum(split[:stage]), split[stage], stage == 0,
                  stage == pp - 1, workload, gpu, runtime, costs)


def layout_memory(
    model: ModelSpec, weights: str, kv_dtype: str, tp: int, pp: int,
    workload: Workload, gpu: GpuSpec, runtime: RuntimeProfile,
    costs: RuntimeCosts = DEFAULT_COSTS, stop_at_overflow: bool = False,
) -> list[StageMemory]:
    """Every stage's memory; with `stop_at_overflow`, stop after the first stage whose static
    memory exceeds the GPU (the layout cannot run, the rest need not be known)."""
    out: list[StageMemory] = []
    alike: dict[tuple[int, int, bool, bool], StageMemory] = {}
    first_layer = 0
    for stage, layers in enumerate(layers_per_stage(model.num_layers, pp)):
        key = (layers, _dense_layers(model, first_layer, layers), stage == 0, stage == pp - 1)
        if key in alike:  # stages with the same shape have the same memory
            mem = replace(alike[key], pp_stage=stage, first_layer=first_layer)
        else:
            mem = alike[key] = _stage(model, weights, kv_dtype, tp, stage, first_layer, layers, key[2], key[3],
                                      workload, gpu, runtime, costs)
        out.append(mem)
        first_layer += layers
        if stop_at_overflow and mem.free_bytes <= 0:
            break
    return out
