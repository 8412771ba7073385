"""What both flows share: the breakdown record, weights per rank, KV bytes per token, the pool
rule, the memory CUDA can hand out, embedding placement and communication memory.

Pure functions; sources are named next to each rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple

from planner import kvcache, tensors
from planner.engine_rules import checkpoint_route
from planner.quant import DTYPE_BYTES, SCHEMES, activation_dtype, linear_bytes
from planner.specs import GpuSpec, ModelSpec, RuntimeProfile, Workload

GIB = 1 << 30
MIB = 1 << 20

# What nvidia-smi reports as total exceeds what cudaMemGetInfo reports as total by the memory the
# driver keeps (page tables, ECC, the firmware's reservation). Where the GPU catalog has no measured
# CUDA total, the planner takes nvidia-smi's total less 512 MiB. Three public figures bound it:
# H100 SXM 81,559 MiB in nvidia-smi against 79.10 GiB (TensorRT-LLM docs, reference/memory.md example
# log: 561 MiB less) and 79.18 GiB (waynehacking8/trtllm-triton-serving @ a04a2bec,
# results/waterfall/W0_nvidia_exact.txt: 479 MiB less); L4 23,034 MiB against 22.03 GiB
# (clark-s-dev/triton-trtllm-text-io @ a4faedac, lab/ncu: 475 MiB less).
DRIVER_RESERVED_BYTES = 512 * MIB


@dataclass(frozen=True)
class StageMemory:
    """Memory of one GPU in pipeline stage `pp_stage` (ranks of one stage are alike under TP).

    Every byte the runtime allocates is a named term, so a log line can be put next to it:
    weights_bytes (engine flow: `Loaded engine size`; PyTorch flow: `Memory used after loading model
    weights (inside torch)`), activation_bytes (engine flow: `Allocated ... for execution context
    memory`; PyTorch flow: `Memory dynamically allocated during inference (inside torch)`),
    runtime_buffers_bytes (`... GPU memory for runtime buffers`), decoder_bytes (`... GPU memory for
    decoder`), kv_cache_bytes (`Allocated ... for max tokens in paged KV cache`).
    overhead_bytes = reserved + context + runtime buffers + decoder + communication.
    """

    pp_stage: int
    layers: int
    first_layer: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    total_bytes: int
    capacity_bytes: int  # nvidia-smi's total (GpuSpec.memory_bytes)
    free_bytes: int  # left after static memory, before the KV pool takes its fraction
    kv_bytes_per_token: int
    kv_blocks: int
    kv_tokens: int
    flow: str = "engine"
    cuda_total_bytes: int = 0  # what CUDA reports as total: the KV rule's "total"
    reserved_bytes: int = 0  # capacity - CUDA total: kept by the driver, never usable
    context_bytes: int = 0  # CUDA context, kernel modules, library workspaces
    runtime_buffers_bytes: int = 0
    decoder_bytes: int = 0
    comm_bytes: int = 0  # NCCL communicators, all-reduce workspace, PP send/recv
    cuda_graph_bytes: int = 0  # PyTorch flow: graphs captured after the pool is sized
    cuda_graph_max_batch: int = 0  # PyTorch flow: the largest batch size those graphs are captured for
    profiling_kv_bytes: int = 0  # PyTorch flow: the temporary KV cache of the profiling pass
    profiling_peak_bytes: int = 0  # PyTorch flow: `Peak memory during memory usage profiling`


class Setup(NamedTuple):
    """What stays fixed while the layout search varies (tp, pp)."""

    model: ModelSpec
    weights: str
    kv_dtype: str
    tp: int
    pp: int
    workload: Workload
    gpu: GpuSpec
    runtime: RuntimeProfile
    # PyTorch flow, MoE models: expert parallelism inside the TP group and attention data
    # parallelism (planner.tensors says what each changes); the engine flow keeps 1 and False.
    ep: int = 1
    attention_dp: bool = False

    @property
    def attn_tp(self) -> int:
        """TP of the attention (and of what follows its rule: KV heads, embedding, LM head)."""
        return 1 if self.attention_dp else self.tp


class WithoutGpu:
    """A stage's setup as a cache key that leaves the GPU out (every other field of Setup is in it):
    the flows cache the terms of a stage that no GPU figure enters under it, so that a sweep
    computes them once for all the GPUs it plans the stage on."""

    __slots__ = ("setup", "key")
    _fields = attrgetter(*(name for name in Setup._fields if name != "gpu"))

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.key = self._fields(setup)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WithoutGpu) and other.key == self.key


class StageShape(NamedTuple):
    stage: int
    first_layer: int
    layers: int
    is_first: bool
    is_last: bool


def cuda_total_bytes(gpu: GpuSpec) -> int:
    """What cudaMemGetInfo reports as total: the catalog's measured figure, else nvidia-smi's less
    DRIVER_RESERVED_BYTES. Both flows size the KV pool against this total, not nvidia-smi's."""
    if gpu.cuda_total_bytes:
        return min(gpu.cuda_total_bytes, gpu.memory_bytes)
    # a GPU spec of a few GiB (tests, custom fleets) keeps at least 15/16 of its memory
    return gpu.memory_bytes - min(DRIVER_RESERVED_BYTES, gpu.memory_bytes // 16)


def layers_per_stage(num_layers: int, pp: int) -> list[int]:
    """Split layers over stages; when uneven, the first stages take one extra layer each."""
    base, extra = divmod(num_layers, pp)
    return [base + (1 if i < extra else 0) for i in range(pp)]


def kv_bytes_per_token(model: ModelSpec, layers: int, tp: int, kv_dtype: str, first_layer: int = 0,
                       seq_len: int | None = None, windowed: bool = False) -> int:
    """KV cache bytes one token costs on one rank of a stage holding `layers` layers from
    `first_layer` (per-layer shapes; with `windowed`, sliding layers hold only their window:
    planner.kvcache)."""
    return kvcache.kv_bytes_per_token(model, layers, tp, kv_dtype, first_layer, seq_len, windowed)


def act_bytes(model: ModelSpec, weights: str) -> int:
    return DTYPE_BYTES[activation_dtype(weights, model.dtype)]


@lru_cache(maxsize=4096)
def _layer_bytes(model: ModelSpec, weights: str, tp: int, layer: int, ep: int = 1, attention_dp: bool = False) -> int:
    """Bytes of decoder layer `layer` on one rank (the layers of one tensors.layer_groups group are alike)."""
    scheme = SCHEMES[weights]
    act = act_bytes(model, weights)
    lt = tensors.layer_tensors(model, layer, tp, ep, attention_dp)
    return lt.plain * act + sum(
        linear_bytes(scheme, lin.in_features, lin.out_features, act) * lin.count for lin in lt.linears
    )


def dense_layers(model: ModelSpec, first_layer: int, layers: int) -> int:
    """Layers without MoE among first_layer .. first_layer + layers - 1 (interleaving included)."""
    return sum(not model.is_moe_layer(i) for i in range(first_layer, first_layer + layers))


def stage_weight_bytes(
    model: ModelSpec, weights: str, tp: int, first_layer: int, layers: int,
    is_first: bool, is_last: bool, parallel_embedding: bool = False, ep: int = 1, attention_dp: bool = False,
) -> int:
    """Weights of one rank of a stage. Under attention DP the embedding and the LM head are whole on
    every rank: the PyTorch flow's models build the embedding without a TP mapping when
    enable_attention_dp is set ("we cannot do all_reduce since the problem size of different ranks
    are different", modeling_qwen3_moe.py / modeling_gpt_oss.py), and DecoderModelForCausalLM builds
    an unsplit LMHead unless enable_lm_head_tp_in_adp (tensorrt_llm/_torch/models/modeling_utils.py)."""
    act = act_bytes(model, weights)
    groups = tensors.layer_groups(model, first_layer, layers)
    total = sum(n * _layer_bytes(model, weights, tp, rep, ep, attention_dp) for rep, n in groups)
    head_tp = 1 if attention_dp else tp
    if is_first:  # the vision tower of a multimodal checkpoint sits with the embedding
        embed = tensors.embedding_params(model, head_tp, parallel_embedding and not attention_dp)
        total += (embed + tensors.encoder_params(model)) * act
    if is_last:
        total += (tensors.lm_head_params(model, head_tp) + tensors.final_norm_params(model)) * act
    return total


def checkpoint_bytes(model: ModelSpec, weights: str) -> int:
    """The whole checkpoint's weights as the memory model counts them: one rank holding every layer, the
    embedding and the LM head."""
    return stage_weight_bytes(model, weights, 1, 0, model.num_layers, True, True)


def vocab_padded(model: ModelSpec, tp: int) -> int:
    """The vocabulary padded to a multiple of TP (ModelConfig::getVocabSizePadded)."""
    return -(-model.vocab_size // tp) * tp


def mlp_width_per_rank(model: ModelSpec, tp: int) -> int:
    """Widest MLP intermediate one token produces on one rank (MoE: its top-k experts and shared ones)."""
    inter = -(-model.intermediate_size // tp)
    if model.moe:
        moe = model.moe
        expert = moe.top_k * -(-moe.expert_intermediate_size // tp)
        shared = -(-moe.shared_experts * moe.shared_intermediate_size // tp)
        inter = max(inter if tensors.has_dense_layers(model) else 0, expert + shared)
    return inter


def qkv_width_per_rank(model: ModelSpec, tp: int) -> int:
    if model.mla:
        m = model.mla
        return model.num_attention_heads // tp * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim) * 2
    return (model.num_attention_heads + 2 * model.num_kv_heads) * model.head_dim // tp


def activation_bytes_per_token(model: ModelSpec, weights: str, tp: int, attention_dp: bool = False) -> int:
    """Live activation bytes per token in one layer on one rank.

    The residual stream, the normalised input, the attention output and the output projection
    (4 × hidden); the fused QKV output and the attention kernel's own copy of Q/K/V (2 × QKV width);
    the gate/up output and the activated product (2 × MLP width per rank). Calibrated on six
    execution-context log lines (see tests/test_calibration.py); every one within 15 %.
    """
    # under attention DP a rank runs the whole attention (and dense MLP) for its own tokens
    dense_tp = 1 if attention_dp else tp
    width = 4 * model.hidden_size + 2 * qkv_width_per_rank(model, dense_tp) + 2 * mlp_width_per_rank(model, tp)
    return width * act_bytes(model, weights)


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


# --- embedding placement -----------------------------------------------------------------------
# Where the input embedding lives on the first stage, per flow and conversion path. The same in
# 0.19.0 and 1.2.1:
# - engine flow, convert_checkpoint.py: replicated on every TP rank unless --use_parallel_embedding
#   (examples/models/core/*/convert_checkpoint.py writes "use_parallel_embedding": false by default);
# - engine flow, examples/quantization/quantize.py: its checkpoint is written by ModelOpt's
#   TensorRT-LLM export (modelopt/torch/export/tensorrt_llm_utils.py, convert_to_tensorrt_llm_config),
#   which always writes "use_parallel_embedding": true, "embedding_sharding_dim": 0: the vocabulary is
#   split across TP ranks;
# - PyTorch flow: the LLM API's models build the embedding vocabulary-parallel across TP
#   (tensorrt_llm/_torch/modules/embedding.py); measured 4.32 GiB per rank at TP 2 against 8.55 GiB at
#   TP 1 for Llama-3.1-8B FP8 (W4_tp2.txt, W0_nvidia_exact.txt), which a replicated table cannot give.
# Which script makes the checkpoint is build.sh's rule (engine_rules.checkpoint_route), read here so
# that the memory model follows the commands the plan emits.


class EmbeddingPlacement(NamedTuple):
    path: str  # convert_checkpoint.py | quantize.py | pytorch
    sharded: bool
    source: str


# PyTorch-flow families whose model class builds the input embedding without a TP mapping, i.e. whole on
# every rank whatever the layout: DeepseekV3Model (DeepSeek-V3/R1, Kimi K2) in every stored version of
# NVIDIA/TensorRT-LLM tensorrt_llm/_torch/models/modeling_deepseekv3.py read (commits 000561df, a43cf9e3
# and a 2026 main copy): `Embedding(config.vocab_size, config.hidden_size, dtype=...)`.
REPLICATED_EMBEDDING_ARCHITECTURES = frozenset({"deepseek_v3"})


def pytorch_embedding_sharded(model: ModelSpec | None, attention_dp: bool = False) -> bool:
    """Whether the PyTorch flow splits the input embedding across TP: not under attention DP (the
    models build it unsplit then, see stage_weight_bytes) nor for REPLICATED_EMBEDDING_ARCHITECTURES."""
    return not attention_dp and (model is None or model.architecture not in REPLICATED_EMBEDDING_ARCHITECTURES)


def embedding_placement(runtime: RuntimeProfile, weights: str, kv_dtype: str, model: ModelSpec | None = None,
                        attention_dp: bool = False) -> EmbeddingPlacement:
    if runtime.flow == "pytorch":
        if attention_dp:
            return EmbeddingPlacement("pytorch", False, "attention data parallelism: embedding built without TP")
        if not pytorch_embedding_sharded(model):
            return EmbeddingPlacement("pytorch", False, f"{model.architecture}: the PyTorch model class builds the "
                                                        "embedding without TP (modeling_deepseekv3.py)")
        return EmbeddingPlacement("pytorch", True, "LLM API PyTorch models: vocabulary-parallel embedding")
    if checkpoint_route(weights, kv_dtype) == "quantize":
        return EmbeddingPlacement("quantize.py", True,
                                  "ModelOpt export writes use_parallel_embedding: true, embedding_sharding_dim: 0")
    if runtime.use_parallel_embedding:
        return EmbeddingPlacement("convert_checkpoint.py", True, "--use_parallel_embedding")
    return EmbeddingPlacement("convert_checkpoint.py", False,
                              "convert_checkpoint.py default: use_parallel_embedding false (replicated)")


# --- communication ---------------------------------------------------------------------------------
class CommCosts(NamedTuple):
    """Memory for TP/PP communication on one rank.

    `tp_bytes`: NCCL's communicator buffers plus the runtime's all-reduce workspace, as measured at TP 2:
    the memory outside torch grew from 1.61 GiB (TP 1, max_batch_size 2048: 2.17 GiB less the 0.56 GiB
    temporary KV cache, W0b_cg2048.txt) to 2.73 GiB per rank (TP 2, max_batch_size 2048: 2.89 GiB less
    0.16 GiB, W4_tp2.txt), TensorRT-LLM 0.20.0 on H100 (waynehacking8/trtllm-triton-serving @ a04a2bec).
    NCCL keeps its buffers per peer connection (NCCL_BUFFSIZE, 4 MiB per channel and protocol), and a
    ring or tree has the same neighbours whatever the TP, so the measured figure is kept for TP > 2; what
    grows with TP is TensorRT-LLM's custom all-reduce workspace: one buffer per peer of 16 MB (TP <= 2)
    or 8 MB (TP > 2), twice for ping-pong (CustomAllReduceHelper.max_workspace_size_auto,
    tensorrt_llm/plugin/plugin.py).
    `pp_bytes`: the point-to-point communicator between pipeline stages (send/recv of hidden states).
    No public measurement isolates it; 256 MiB is an estimate (one NCCL communicator with two peers,
    a fraction of the TP figure, which also carries the all-reduce workspace).
    """

    tp_bytes: int = int(1.12 * GIB)
    pp_bytes: int = 256 * MIB


DEFAULT_COMM = CommCosts()


def _custom_allreduce_bytes(tp: int) -> int:
    per_buffer = 16_000_000 if tp <= 2 else 8_000_000
    return 2 * per_buffer * tp


def comm_bytes(tp: int, pp: int, costs: CommCosts = DEFAULT_COMM) -> int:
    total = 0
    if tp > 1:
        total += costs.tp_bytes + max(0, _custom_allreduce_bytes(tp) - _custom_allreduce_bytes(2))
    if pp > 1:
        total += costs.pp_bytes
    return total
