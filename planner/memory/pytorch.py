"""PyTorch flow (the LLM API's PyExecutor): what one rank holds.

No engine. At start-up the executor (tensorrt_llm/_torch/pyexecutor/py_executor_creator.py and
_util.py, KvCacheCreator) loads the weights, builds a temporary KV cache just large enough for a
profiling pass, runs dummy context requests totalling max_num_tokens tokens, and reads
`Peak memory during memory usage profiling (torch + non-torch)`: torch's peak allocation plus the
memory used outside torch (CUDA context, NCCL, the C++ runtime's buffers, the temporary KV cache).
The KV pool is then (KvCacheCreator._cal_max_tokens)

    available = (total - peak + temporary KV cache) × free_gpu_memory_fraction
    max_tokens = available // kv bytes per token

with `total` CUDA's total (torch.cuda.mem_get_info), so the temporary cache the profiling pass held
is given back before the fraction applies; the KV cache manager then rounds up to whole blocks.
CUDA graphs are captured after the pool exists (the executor's warm-up), so they must fit in the
(1 - fraction) of the free memory the pool leaves.
Read in NVIDIA/TensorRT-LLM's stored copies of tensorrt_llm/_torch/pyexecutor/_util.py (the
KvCacheCreator of the 0.20/0.21 line and the 2026 main branch carry the same rule; the v1.2.1 tag
itself was not in the index), and checked against the logs of TensorRT-LLM 0.20.0 in
waynehacking8/trtllm-triton-serving @ a04a2bec, results/waterfall/ (W0_nvidia_exact.txt,
W0b_cg2048.txt, W4_tp2.txt).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from planner.memory.common import (
    GIB,
    Setup,
    StageMemory,
    StageShape,
    WithoutGpu,
    act_bytes,
    activation_bytes_per_token,
    comm_bytes,
    cuda_total_bytes,
    kv_bytes_per_token,
    kv_pool,
    pytorch_embedding_sharded,
    stage_weight_bytes,
    vocab_padded,
)
from planner.specs import ModelSpec, RuntimeProfile, Workload


class PytorchCosts(NamedTuple):
    """Constants of the PyTorch flow, each from the 0.20.0 logs named in the module docstring
    (Llama-3.1-8B-Instruct-FP8 on one H100, CUDA total 79.18 GiB).

    `activation_factor`: torch's dynamic allocation during the profiling pass over the per-token live
    set of one layer (activation_bytes_per_token × max_num_tokens): 1.05 GiB logged at 8,192 tokens
    (TP 1) and 0.39 GiB at 4,608 tokens (TP 2), against 0.875 and 0.316 GiB from the per-token rule:
    eager PyTorch keeps about a fifth more alive than TensorRT's memory planner.
    `context_bytes`: memory outside torch at TP 1 that does not grow with the batch: CUDA context,
    torch and TensorRT-LLM kernel modules, cuBLAS and FlashInfer workspaces. 2.26 GiB outside torch
    after profiling at max_batch_size 4096, less the 0.56 GiB temporary KV cache, less the per-sequence
    part below: 1.52 GiB.
    `per_sequence_bytes`: outside-torch memory that grows with max_batch_size (the C++ runtime's
    per-slot state): 2.26 GiB at max_batch_size 4096 against 2.17 GiB at 2048 (W0b_cg2048.txt), all
    else equal: 0.09 GiB per 2048 sequences.
    """

    activation_factor: float = 1.2
    context_bytes: int = int(1.52 * GIB)
    per_sequence_bytes: int = int(0.09 * GIB / 2048)


DEFAULT_PYTORCH_COSTS = PytorchCosts()
# tokens a profiling request reserves beyond its prompt: one generated token, plus one more with the
# overlap scheduler (on by default): KvCacheCreator._get_token_num_for_estimation
PROFILING_EXTRA_TOKENS = 2
# CudaGraphConfig's default max_batch_size when none is given (tensorrt_llm/llmapi/llm_args.py, 1.x)
DEFAULT_CUDA_GRAPH_MAX_BATCH = 128


def profiling_requests(workload: Workload) -> list[int]:
    """Prompt lengths of the dummy requests of the profiling pass: max_num_tokens tokens in requests of
    at most max_seq_len - 1 tokens (KvCacheCreator._create_dummy_context_requests)."""
    longest = max(1, min(workload.max_num_tokens, workload.max_seq_len - 1))
    full, rest = divmod(workload.max_num_tokens, longest)
    return [longest] * full + ([rest] if rest else [])


def profiling_kv_tokens(workload: Workload, tokens_per_block: int) -> int:
    """Tokens of the temporary KV cache the profiling pass needs: whole blocks per request, times the
    beam width (KvCacheCreator._get_token_num_for_estimation)."""
    blocks = sum(-(-(n + PROFILING_EXTRA_TOKENS) // tokens_per_block) for n in profiling_requests(workload))
    return blocks * tokens_per_block * workload.max_beam_width


def profiling_activation_bytes(model: ModelSpec, weights: str, tp: int, workload: Workload, is_last: bool,
                               costs: PytorchCosts = DEFAULT_PYTORCH_COSTS, attention_dp: bool = False) -> int:
    """Torch's dynamic allocation during the profiling forward pass at max_num_tokens: one layer's live
    set per token, and on the last stage one token's logits per dummy request (in the activation dtype
    and their fp32 copy for the sampler).

    Under attention DP every rank runs its own max_num_tokens (the executor's limits are per rank), the
    LM head is whole, and an MoE layer takes in the other ranks' tokens as well: counted as the
    all-gather of (tp - 1) × max_num_tokens hidden vectors (AllGatherReduceScatter, the fallback of
    fused_moe/communication/communication_factory.py; the all-to-all methods receive fewer)."""
    per_token = activation_bytes_per_token(model, weights, tp, attention_dp) * costs.activation_factor
    logits = 0
    if is_last:
        vocab = vocab_padded(model, 1 if attention_dp else tp)
        logits = len(profiling_requests(workload)) * vocab * (act_bytes(model, weights) + 4)
    gathered = 0
    if attention_dp and model.moe:
        gathered = (tp - 1) * workload.max_num_tokens * model.hidden_size * act_bytes(model, weights)
    return int(workload.max_num_tokens * per_token) + logits + gathered


def cuda_graph_batch_sizes(runtime: RuntimeProfile, max_batch_size: int) -> tuple[int, ...]:
    """Batch sizes the executor captures: the configured list, or CudaGraphConfig's default
    (1..31, 32, 64, 128, powers of two up to its max_batch_size 128, and that maximum), keeping those
    the executor's max_batch_size admits (PyTorchModelEngine filters larger ones). With
    `cuda_graphs_cover_batch` the default set is generated for max_batch_size itself, as CudaGraphConfig
    does for a max_batch_size it is given, and ends at it: no admitted batch is left without a graph."""
    return _graph_sizes(runtime.cuda_graph_batch_sizes, max_batch_size, runtime.cuda_graphs_cover_batch)


@lru_cache(maxsize=256)
def _graph_sizes(sizes: tuple[int, ...] | None, max_batch_size: int, cover: bool = False) -> tuple[int, ...]:
    if sizes is None:
        top = max(DEFAULT_CUDA_GRAPH_MAX_BATCH, max_batch_size) if cover else DEFAULT_CUDA_GRAPH_MAX_BATCH
        default = list(range(1, 32)) + [32, 64, 128] + [2 ** i for i in range(8, math.ceil(math.log2(top)))]
        sizes = tuple(sorted({s for s in default if s <= top} | {top}))
        if cover:
            sizes = tuple(sorted({s for s in sizes if s < max_batch_size} | {max_batch_size}))
    return tuple(s for s in sizes if s <= max_batch_size)


def fitting_graph_sizes(sizes: tuple[int, ...], default: tuple[int, ...],
                        bytes_of: Callable[[tuple[int, ...]], int], room: int) -> tuple[tuple[int, ...], int]:
    """(sizes, bytes) of the graphs a stage captures when the set that covers max_batch_size would not fit in
    the `room` the KV pool leaves: the set cut after its largest size above 128 whose graphs fit, else the
    release's `default` set, whose failure to fit rejects the layout as before. Batches above the cut run
    eagerly."""
    for top in sorted((s for s in sizes if s > DEFAULT_CUDA_GRAPH_MAX_BATCH), reverse=True)[1:]:
        kept = tuple(s for s in sizes if s <= top)
        need = bytes_of(kept)
        if need <= room:
            return kept, need
    return default, bytes_of(default)


def cuda_graph_bytes(model: ModelSpec, weights: str, tp: int, workload: Workload, runtime: RuntimeProfile,
                     is_last: bool, costs: PytorchCosts = DEFAULT_PYTORCH_COSTS, attention_dp: bool = False) -> int:
    """Memory of the decode-step CUDA graphs, which share one memory pool.

    Each graph keeps its static output alive (the last stage's fp32 logits [batch × beam, vocab], other
    stages' hidden states); the largest graph's transient tensors (its LM-head output in the activation
    dtype and one layer's live set per token) are reused by the smaller ones. Checked on the 0.20.0 logs:
    after capturing batch 4096 the pool held 3.44 GiB (this rule: 3.46 GiB), and the next capture, of
    2048, asked for 1002 MiB more, exactly 2048 × 128,256 × 4 bytes of fp32 logits (W0_nvidia_exact.txt).
    """
    return _graph_set_bytes(model, weights, tp, workload, cuda_graph_batch_sizes(runtime, workload.max_batch_size),
                            is_last, costs, attention_dp)


def _graph_set_bytes(model: ModelSpec, weights: str, tp: int, workload: Workload, sizes: tuple[int, ...],
                     is_last: bool, costs: PytorchCosts, attention_dp: bool) -> int:
    if not sizes:
        return 0
    beam = workload.max_beam_width
    act = act_bytes(model, weights)
    per_token = activation_bytes_per_token(model, weights, tp, attention_dp) * costs.activation_factor
    if is_last:
        vocab = vocab_padded(model, 1 if attention_dp else tp)  # whole LM head under attention DP
        static = sum(sizes) * beam * vocab * 4
        transient = max(sizes) * beam * (vocab * act + per_token)
    else:
        static = sum(sizes) * beam * model.hidden_size * act
        transient = max(sizes) * beam * per_token
    return int(static + transient)


def stage(setup: Setup, shape: StageShape, costs: PytorchCosts = DEFAULT_PYTORCH_COSTS) -> StageMemory:
    rt = setup.runtime
    # the terms no GPU figure enters, computed once for every GPU the same stage is planned on
    w, a, per_seq, comm, bpt, temp_kv, peak, graphs = _gpu_free_terms(WithoutGpu(setup), shape, costs)
    total_cuda = cuda_total_bytes(setup.gpu)
    reserved = setup.gpu.memory_bytes - total_cuda
    # (total - peak + temporary KV) is what the fraction applies to
    free = total_cuda - peak + temp_kv
    _, blocks = kv_pool(free, bpt, rt)
    kv = blocks * rt.tokens_per_block * bpt
    overhead = reserved + costs.context_bytes + per_seq + comm
    sizes = cuda_graph_batch_sizes(rt, setup.workload.max_batch_size)
    if rt.cuda_graphs_cover_batch and graphs > free - kv:
        m, wl = setup.model, setup.workload
        sizes, graphs = fitting_graph_sizes(
            sizes, _graph_sizes(None, wl.max_batch_size),
            lambda kept: _graph_set_bytes(m, setup.weights, setup.tp, wl, kept, shape.is_last, costs,
                                          setup.attention_dp), free - kv)
    return StageMemory(
        pp_stage=shape.stage, layers=shape.layers, first_layer=shape.first_layer, weights_bytes=w,
        kv_cache_bytes=kv, activation_bytes=a, overhead_bytes=overhead,
        total_bytes=w + a + overhead + kv + graphs, capacity_bytes=setup.gpu.memory_bytes, free_bytes=free,
        kv_bytes_per_token=bpt, kv_blocks=blocks, kv_tokens=blocks * rt.tokens_per_block, flow="pytorch",
        cuda_total_bytes=total_cuda, reserved_bytes=reserved, context_bytes=costs.context_bytes,
        runtime_buffers_bytes=per_seq, decoder_bytes=0, comm_bytes=comm, cuda_graph_bytes=graphs,
        cuda_graph_max_batch=max(sizes, default=0),
        profiling_kv_bytes=temp_kv, profiling_peak_bytes=peak,
    )


@lru_cache(maxsize=8192)
def _gpu_free_terms(without_gpu: WithoutGpu, shape: StageShape,
                    costs: PytorchCosts) -> tuple[int, int, int, int, int, int, int, int]:
    """(weights, profiling activations, per-sequence state, communication, KV bytes per token,
    temporary KV cache, profiling peak, CUDA graphs) of a stage: none of these reads the GPU."""
    setup = without_gpu.setup
    m, rt, wl = setup.model, setup.runtime, setup.workload
    # weights as the PyTorch backend loads them: same tensors and quantization as the checkpoint,
    # the input embedding split across TP (see common.embedding_placement)
    w = stage_weight_bytes(m, setup.weights, setup.tp, shape.first_layer, shape.layers, shape.is_first,
                           shape.is_last, parallel_embedding=pytorch_embedding_sharded(m), ep=setup.ep,
                           attention_dp=setup.attention_dp)
    a = profiling_activation_bytes(m, setup.weights, setup.tp, wl, shape.is_last, costs, setup.attention_dp)
    per_seq = wl.max_batch_size * wl.max_beam_width * costs.per_sequence_bytes
    comm = comm_bytes(setup.tp, setup.pp)
    # sliding layers hold only their window (VSWA pools; planner.kvcache)
    # under attention DP a rank caches whole heads (whole MLA latents) for its own requests
    bpt = kv_bytes_per_token(m, shape.layers, setup.attn_tp, setup.kv_dtype, shape.first_layer,
                             setup.workload.max_seq_len, windowed=True)
    temp_kv = profiling_kv_tokens(wl, rt.tokens_per_block) * bpt
    peak = w + a + costs.context_bytes + per_seq + comm + temp_kv
    graphs = cuda_graph_bytes(m, setup.weights, setup.tp, wl, rt, shape.is_last, costs, setup.attention_dp)
    return w, a, per_seq, comm, bpt, temp_kv, peak, graphs
