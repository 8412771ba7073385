"""Engine flow (trtllm-build + the C++ executor): what one rank holds.

Order of allocation at start-up, as TensorRT-LLM's C++ runtime logs it
(TrtGptModelInflightBatcher's constructor, cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatcher.cpp,
read at NVIDIA/TensorRT-LLM 0.19-era copies of the stored index):
`Loaded engine size` (weights), `Allocated ... for execution context memory` (activations),
`... GPU memory for runtime buffers` (createBuffers), `... GPU memory for decoder` (createDecoder),
then `Memory usage when calculating max tokens in paged kv cache: total, available`, and the KV pool
is kv_cache_free_gpu_mem_fraction of that `available` (cudaMemGetInfo's free memory).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from planner.memory.common import (
    MIB,
    Setup,
    StageMemory,
    StageShape,
    WithoutGpu,
    act_bytes,
    activation_bytes_per_token,
    comm_bytes,
    cuda_total_bytes,
    embedding_placement,
    kv_bytes_per_token,
    kv_pool,
    stage_weight_bytes,
    vocab_padded,
)
from planner.specs import ModelSpec, Workload


class EngineCosts(NamedTuple):
    """Constants of the engine flow's runtime, each with the measurement it comes from.

    `context_bytes`: the CUDA context, kernel modules and library workspaces inside CUDA's total.
    From NVIDIA/TensorRT-LLM issue 1188 (comment of 2024-11-21, Qwen2.5-Coder-0.5B INT8 weight-only,
    RTX A4000 16,376 MiB): 4.53 GiB of KV pool at fraction 0.9 leaves 5,154 MiB free after 875 MiB of
    engine, 773.51 MiB of execution context, 2.66 GiB of runtime buffers and 5.76 GiB of decoder
    buffers, out of 15,864 MiB CUDA total: 440 MiB. (The older example of TensorRT-LLM's memory doc,
    on an H100, leaves 774 MiB; releases since load kernel modules lazily.)
    `plugin_workspace_bytes`: the part of the execution context that does not grow with the tokens:
    43.26 MiB at max_batch_size 1 and max_num_tokens 512 in the same issue, of which the per-token
    terms explain 19 MiB.
    `seq_buffers`: int32 buffers of shape [max_batch_size, beam, max_seq_len] among the runtime
    buffers: the decoder buffers' output ids, cache indirection in and out and log probabilities
    (batch_manager/decoderBuffers.cpp) and each slot's own output ids and log probabilities. Their
    count is what reproduces both public logs: 2.66 GiB at batch 2048 (issue 1188, vocab 151,936,
    max_seq_len 32,768) and 43.29 MB at batch 256, max_seq_len 2,048 (the memory doc's example,
    trtllm-build's defaults of that time).
    Later releases moved the cache indirection and the decoder's output copies into the decoder state
    and kept per slot only the GPU output ids and log probabilities (SlotDecoderBuffers,
    batch_manager/decoderBuffers.cpp at NVIDIA/TensorRT-LLM 000a01de): the split between the two log
    lines moves, their sum keeps the same ten [batch, beam, max_seq_len] buffers counted here.
    `decoder_vocab_bytes`: bytes per sequence and vocabulary entry in the decoder: its fp32 copy of
    the logits (DecodingLayerWorkspace::mRuntimeLogitsDevice), the int32 penalty workspace
    (PenaltyLayer::allocateWorkspace) and the sampling layers' sort workspace (about 8 bytes per entry
    for top-p, TopPSamplingLayer::allocateBuffer / getTopPWorkspaceSize).
    `decoder_seq_buffers`: [max_batch_size, beam, max_seq_len] 4-byte buffers of the decoder state:
    output ids, parent ids, log probabilities and their tiled copy.
    With these the decoder of issue 1188 comes to 5.64 GiB against 5.76 GiB logged (-2 %).
    """

    context_bytes: int = 440 * MIB
    plugin_workspace_bytes: int = 24 * MIB
    seq_buffers: int = 6
    decoder_vocab_bytes: int = 16
    decoder_seq_buffers: int = 4


DEFAULT_ENGINE_COSTS = EngineCosts()
# fp32 logits: PretrainedConfig.logits_dtype defaults to "float32" (tensorrt_llm/models/modeling_utils.py)
LOGITS_BYTES = 4


def execution_context_bytes(model: ModelSpec, weights: str, tp: int, workload: Workload, is_last: bool,
                            costs: EngineCosts = DEFAULT_ENGINE_COSTS) -> int:
    """Execution-context memory TensorRT reserves for the engine's largest activations.

    TensorRT reuses activation memory across layers, so the peak is one layer's live tensors for
    max_num_tokens tokens (activation_bytes_per_token). The last stage also holds the LM head's output
    for one token per sequence, gathered over TP, in the activation dtype before its cast to the fp32
    logits output. Plus the plugins' fixed workspace.
    """
    per_token = activation_bytes_per_token(model, weights, tp)
    head = 0
    if is_last:
        head = workload.max_batch_size * workload.max_beam_width * vocab_padded(model, tp) * act_bytes(model, weights)
    return workload.max_num_tokens * per_token + head + costs.plugin_workspace_bytes


def runtime_buffer_bytes(model: ModelSpec, weights: str, tp: int, pp: int, workload: Workload, tokens_per_block: int,
                         is_last: bool, costs: EngineCosts = DEFAULT_ENGINE_COSTS) -> int:
    """What `createBuffers` allocates (batch_manager/runtimeBuffers.cpp, decoderBuffers.cpp,
    transformerBuffers.cpp): the fp32 logits output [batch × beam, vocab padded] on the last stage,
    the per-sequence int32 buffers of max_seq_len, the KV block offsets
    [batch × beam, 2, ceil(max_seq_len / tokens_per_block)] int32, the token-indexed inputs (ids,
    positions, last-token ids: 4 int32 per token) and, with PP, the hidden states passed between
    stages [max_num_tokens, hidden]."""
    seqs = workload.max_batch_size * workload.max_beam_width
    seq_len = workload.max_seq_len
    total = seqs * seq_len * 4 * costs.seq_buffers
    total += seqs * 2 * -(-seq_len // tokens_per_block) * 4
    total += workload.max_num_tokens * 4 * 4
    if is_last:
        total += seqs * vocab_padded(model, tp) * LOGITS_BYTES
    if pp > 1:
        total += workload.max_num_tokens * model.hidden_size * act_bytes(model, weights)
    return total


def decoder_bytes(model: ModelSpec, tp: int, workload: Workload, is_last: bool,
                  costs: EngineCosts = DEFAULT_ENGINE_COSTS) -> int:
    """What `createDecoder` allocates: the batched decoder runs on the last pipeline stage only
    (the other stages receive its tokens), sized for max_batch_size × beam sequences."""
    if not is_last:
        return 0
    seqs = workload.max_batch_size * workload.max_beam_width
    return seqs * (vocab_padded(model, tp) * costs.decoder_vocab_bytes
                   + workload.max_seq_len * 4 * costs.decoder_seq_buffers)


def stage(setup: Setup, shape: StageShape, costs: EngineCosts = DEFAULT_ENGINE_COSTS) -> StageMemory:
    rt = setup.runtime
    # the terms no GPU figure enters, computed once for every GPU the same stage is planned on
    w, a, buffers, dec, comm, bpt = _gpu_free_terms(WithoutGpu(setup), shape, costs)
    total_cuda = cuda_total_bytes(setup.gpu)
    reserved = setup.gpu.memory_bytes - total_cuda
    free = total_cuda - costs.context_bytes - w - a - buffers - dec - comm
    _, blocks = kv_pool(free, bpt, rt)
    kv = blocks * rt.tokens_per_block * bpt
    overhead = reserved + costs.context_bytes + buffers + dec + comm
    return StageMemory(
        pp_stage=shape.stage, layers=shape.layers, first_layer=shape.first_layer, weights_bytes=w,
        kv_cache_bytes=kv, activation_bytes=a, overhead_bytes=overhead, total_bytes=w + a + overhead + kv,
        capacity_bytes=setup.gpu.memory_bytes, free_bytes=free, kv_bytes_per_token=bpt, kv_blocks=blocks,
        kv_tokens=blocks * rt.tokens_per_block, flow="engine", cuda_total_bytes=total_cuda, reserved_bytes=reserved,
        context_bytes=costs.context_bytes, runtime_buffers_bytes=buffers, decoder_bytes=dec, comm_bytes=comm,
    )


@lru_cache(maxsize=8192)
def _gpu_free_terms(without_gpu: WithoutGpu, shape: StageShape,
                    costs: EngineCosts) -> tuple[int, int, int, int, int, int]:
    """(weights, execution context, runtime buffers, decoder, communication, KV bytes per token) of a
    stage: none of these reads the GPU."""
    setup = without_gpu.setup
    m, rt, wl = setup.model, setup.runtime, setup.workload
    placement = embedding_placement(rt, setup.weights, setup.kv_dtype)
    w = stage_weight_bytes(m, setup.weights, setup.tp, shape.first_layer, shape.layers, shape.is_first,
                           shape.is_last, placement.sharded)
    a = execution_context_bytes(m, setup.weights, setup.tp, wl, shape.is_last, costs)
    buffers = runtime_buffer_bytes(m, setup.weights, setup.tp, setup.pp, wl, rt.tokens_per_block, shape.is_last,
                                   costs)
    dec = decoder_bytes(m, setup.tp, wl, shape.is_last, costs)
    comm = comm_bytes(setup.tp, setup.pp)
    # every layer in full: planner.kvcache says why the engine flow keeps no windows here
    bpt = kv_bytes_per_token(m, shape.layers, setup.tp, setup.kv_dtype, shape.first_layer)
    return w, a, buffers, dec, comm, bpt
