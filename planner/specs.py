"""Input specifications: the model architecture, the GPU, the fleet, the workload.

Everything downstream (memory model, layout search, plan, emitters) reads these
frozen pydantic models; nothing here does I/O.
"""


import weakref
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

# Upper bounds on architecture sizes. The largest published models are far inside them
# (126 layers, hidden 18432, vocab 256k, 256 experts); they keep a malformed or hostile
# config.json from making the memory model and the layout search run for hours.
Layers = Annotated[int, Field(gt=0, le=4096)]
Width = Annotated[int, Field(gt=0, le=1 << 20)]
Count = Annotated[int, Field(gt=0, le=1 << 16)]
Vocab = Annotated[int, Field(gt=0, le=1 << 24)]
Positions = Annotated[int, Field(gt=0, le=1 << 30)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MoESpec(_Frozen):
    num_experts: Count
    top_k: Count
    expert_intermediate_size: Width
    shared_experts: int = Field(0, ge=0, le=1 << 16)
    shared_intermediate_size: int = Field(0, ge=0, le=1 << 20)
    first_k_dense_layers: int = Field(0, ge=0, le=4096)
    router_bias: bool = False
    # Interleaved MoE/dense layers: after the first_k_dense_layers, layer i is an MoE layer when
    # (i + 1) % layer_step == 0 (Llama 4's interleave_moe_layer_step, Qwen's decoder_sparse_step).
    layer_step: int = Field(1, ge=1, le=4096)
    dense_layers: tuple[int, ...] = ()  # further dense layers by index (Qwen's mlp_only_layers)
    expert_bias: bool = False  # biases on every expert's projections (gpt-oss)

    @model_validator(mode="after")
    def _check_top_k(self) -> "MoESpec":
        # each token is routed to top_k distinct experts, so there must be that many
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds num_experts ({self.num_experts})")
        return self


# Which modules a pre-quantized checkpoint leaves in the activation dtype. Embeddings and the
# LM head always stay there in this planner; these name the decoder-layer linears.
# "attention" is the input projections (Q, K, V; MLA's q_a, q_b, kv_a, kv_b), "attention_output" the output one.
UnquantizedKind = Literal["attention", "attention_output", "router", "dense_mlp", "shared_experts", "experts"]


class CheckpointQuant(_Frozen):
    """Quantization a checkpoint already carries (hf_quant_config.json or config.json's quantization_config)."""

    weights: str  # a scheme of planner.quant.SCHEMES
    kv_cache: str | None = None  # KV dtype the checkpoint calibrated (e.g. fp8), if any
    unquantized: tuple[UnquantizedKind, ...] = ()
    source: str  # file and key it was read from
    method: str  # the checkpoint's own name for it (quant_algo / quant_method)


class MLASpec(_Frozen):
    """DeepSeek multi-head latent attention ranks."""

    q_lora_rank: int = Field(0, ge=0, le=1 << 20)  # 0: no low-rank query path (DeepSeek-V2-Lite)
    kv_lora_rank: Width
    qk_nope_head_dim: Width
    qk_rope_head_dim: Width
    v_head_dim: Width


AttentionKind = Literal["full", "sliding", "chunked"]


class ModelSpec(_Frozen):
    name: str
    architecture: str
    source: str
    aliases: tuple[str, ...] = ()
    hf_repo: str | None = None
    num_layers: Layers
    hidden_size: Width
    intermediate_size: Width
    num_attention_heads: Count
    num_kv_heads: Count
    head_dim: Width
    vocab_size: Vocab
    max_position_embeddings: Positions
    tie_word_embeddings: bool = False
    dtype: Literal["float32", "float16", "bfloat16"] = "bfloat16"
    mlp: Literal["gated", "plain"] = "gated"
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    norms_per_layer: int = Field(2, ge=0)
    final_norm: bool = True
    lm_head_bias: bool = False
    moe: MoESpec | None = None
    mla: MLASpec | None = None
    mtp_layers: int = Field(0, ge=0, le=4096)
    # Per-head RMSNorm weights on queries and keys (Qwen3, Gemma 3, GLM with use_qk_norm).
    qk_norm: bool = False
    # One learned sink logit per attention head (gpt-oss).
    attention_sinks: bool = False
    # Attention kind of layer i is attention_pattern[i % len(attention_pattern)]; empty: every
    # layer is full attention. "sliding" layers see the last `sliding_window` tokens, "chunked"
    # layers only the tokens of their own `attention_chunk_size` chunk (Llama 4).
    attention_pattern: tuple[AttentionKind, ...] = ()
    sliding_window: int | None = Field(None, gt=0, le=1 << 30)
    attention_chunk_size: int | None = Field(None, gt=0, le=1 << 30)
    # Full-attention layers with their own head size / KV heads (Gemma 4's global layers).
    full_head_dim: int | None = Field(None, gt=0, le=1 << 20)
    full_kv_heads: int | None = Field(None, gt=0, le=1 << 16)
    full_k_eq_v: bool = False  # Gemma 4: full-attention keys double as values (no v_proj)
    scalars_per_layer: int = Field(0, ge=0, le=64)  # learned scalars per decoder layer (Gemma 4's layer_scalar)
    # Parameters outside the text decoder that the checkpoint holds and the served model loads
    # (vision tower and projector of a multimodal checkpoint); counted on the first stage.
    encoder_params: int = Field(0, ge=0)
    checkpoint_quant: CheckpointQuant | None = None
    # Size of the published checkpoint's weight files in GiB (model card or safetensors files),
    # shown beside the weight bytes the plan computes.
    checkpoint_size_gib: float | None = Field(None, gt=0)
    params: int | None = Field(None, gt=0)  # published exact total, when known
    params_source: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _check_heads(self) -> "ModelSpec":
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_kv_heads ({self.num_kv_heads})"
            )
        if self.moe and self.moe.first_k_dense_layers > self.num_layers:
            raise ValueError("moe.first_k_dense_layers exceeds num_layers")
        if "sliding" in self.attention_pattern and not self.sliding_window:
            raise ValueError("sliding attention layers need sliding_window")
        if "chunked" in self.attention_pattern and not self.attention_chunk_size:
            raise ValueError("chunked attention layers need attention_chunk_size")
        if self.full_kv_heads and self.num_attention_heads % self.full_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of full_kv_heads")
        return self

    def __hash__(self) -> int:
        # Every cache of the memory and performance models is keyed on the spec, and hashing its
        # fifty-odd fields (nested ones included) on each lookup was a tenth of a plan's time. The spec
        # is frozen, so its hash is computed once per instance; it is kept outside the instance (a copy
        # made with model_copy(update=...) must not inherit it) and dropped when the instance dies,
        # before its id can be reused. A weak reference's callback drops it: weakref.finalize would
        # register an exit handler, and the command line skips the interpreter's teardown only when
        # none is registered.
        key = id(self)
        entry = _SPEC_HASHES.get(key)
        if entry is None:
            entry = _SPEC_HASHES[key] = (hash(tuple(self.__dict__[name] for name in type(self).model_fields)),
                                         weakref.ref(self, lambda _, key=key: _SPEC_HASHES.pop(key, None)))
        return entry[0]

    def attention_kind(self, layer: int) -> str:
        """"full", "sliding" or "chunked" for decoder layer `layer` (0-based)."""
        return self.attention_pattern[layer % len(self.attention_pattern)] if self.attention_pattern else "full"

    def attention_window(self, layer: int) -> int | None:
        """Tokens a layer attends to at most (None: the whole sequence)."""
        kind = self.attention_kind(layer)
        return self.sliding_window if kind == "sliding" else self.attention_chunk_size if kind == "chunked" else None

    def is_moe_layer(self, layer: int) -> bool:
        moe = self.moe
        if moe is None or layer < moe.first_k_dense_layers or layer in moe.dense_layers:
            return False
        return (layer + 1) % moe.layer_step == 0


# id of a live ModelSpec -> (its hash, a weak reference that drops the entry)
_SPEC_HASHES: dict[int, tuple[int, weakref.ref]] = {}


class GpuSpec(_Frozen):
    name: str
    aliases: tuple[str, ...] = ()
    marketing_memory_gb: float
    memory_bytes: PositiveInt
    memory_source: str | None = None
    bandwidth_gb_s: float
    compute_capability: str
    precisions: tuple[str, ...]
    nvlink_domain: PositiveInt = 1
    gpus_per_node: PositiveInt = 8
    # The most GPUs one node can hold where the part only comes on a fixed NVSwitch baseboard (HGX: 8 SXM
    # GPUs); None where servers differ (PCIe cards) or the NVLink domain spans trays (GB200 NVL72).
    max_gpus_per_node: PositiveInt | None = None
    tdp_w: float | None = None
    source: str
    notes: str | None = None
    # What the performance model reads. Each figure carries its source in gpus.yaml.
    # dense_tflops: tensor-core peak without sparsity, per precision key of `precisions`
    # (fp32 means TF32 tensor cores; fp4 is NVFP4 on Blackwell).
    dense_tflops: dict[str, float] = {}
    # Per-GPU, per-direction link bandwidths in GB/s and one-way latencies in microseconds.
    nvlink_gb_s: float | None = None  # None: no NVLink between the node's GPUs
    pcie_gb_s: float | None = None  # host link, also the GPU-to-GPU path without NVLink
    network_gb_s: float | None = None  # scale-out NIC bandwidth per GPU in the reference system
    nvlink_latency_us: float | None = None
    pcie_latency_us: float | None = None
    network_latency_us: float | None = None
    # What cudaMemGetInfo reports as total where a public log shows it (less than nvidia-smi's).
    cuda_total_bytes: int | None = None
    unified_memory: bool = False  # CPU and GPU share one memory (GB10): see notes for what the runtime may take

    @property
    def cc(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)


class Fleet(_Frozen):
    gpu: GpuSpec
    gpus_per_node: PositiveInt
    nodes: PositiveInt = 1
    # TP normally stays inside one node's NVLink domain; a fleet file may allow more
    # (e.g. GB200 NVL72 racks, whose NVLink domain spans several 4-GPU trays).
    tp_across_nodes: bool = False

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def max_tp(self) -> int:
        if self.tp_across_nodes:
            return self.total_gpus
        return max(self.gpus_per_node, min(self.gpu.nvlink_domain, self.total_gpus))


class Workload(_Frozen):
    max_batch_size: PositiveInt
    max_input_len: PositiveInt
    max_output_len: PositiveInt
    max_num_tokens: PositiveInt
    max_beam_width: PositiveInt = 1

    @property
    def max_seq_len(self) -> int:
        return self.max_input_len + self.max_output_len


class RuntimeProfile(_Frozen):
    """Knobs of the TensorRT-LLM runtime that shape memory, with its defaults."""

    kv_cache_free_gpu_mem_fraction: float = Field(0.9, gt=0, le=1)
    tokens_per_block: PositiveInt = 32
    max_tokens_in_paged_kv_cache: PositiveInt | None = None
    use_parallel_embedding: bool = False
    flow: Literal["engine", "pytorch"] = "engine"
    # the TensorRT-LLM release whose engine-flow limits the layout search applies (None: none)
    trtllm_version: str | None = None
    # PyTorch flow: batch sizes CUDA graphs are captured for; None: the release's default
    # (CudaGraphConfig with max_batch_size 128), () : no CUDA graphs.
    cuda_graph_batch_sizes: tuple[PositiveInt, ...] | None = None
    # PyTorch flow, with cuda_graph_batch_sizes None: extend the default set to max_batch_size (powers of
    # two past 128, and the maximum itself), so that every batch the executor admits replays a graph; what
    # the planner emits (CudaGraphConfig.max_batch_size = max_batch_size, as NVIDIA's deployment guides set)
    cuda_graphs_cover_batch: bool = False
