"""The Plan: the one object every emitter reads (schema_version 1, see ARCHITECTURE.md).

Keys named in the contract are stable; new keys may be added, none renamed.
Bytes are integers.
"""


import json
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer

from planner.memory import StageMemory  # a frozen dataclass; pydantic validates and serialises it
from planner.serving import ServingInfo

SCHEMA_VERSION = 1


def _without_none(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """`data` without those of `keys` that are None: keys an option adds stay out of plans made without it."""
    for key in keys:
        if data.get(key) is None:
            data.pop(key, None)
    return data


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelInfo(_Model):
    name: str
    source: str
    params: int  # parameters of the served model, from the architecture
    params_published: int | None = None  # exact published count, where known
    architecture: str
    hf_repo: str | None = None
    dtype: str
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    moe_experts: int = 0
    mla: bool = False
    attention_pattern: list[str] = []  # repeating per-layer attention kinds; empty: all full
    sliding_window: int | None = None
    attention_chunk_size: int | None = None
    encoder_params: int = 0  # vision tower and projector of a multimodal checkpoint
    checkpoint_size_gib: float | None = None  # the checkpoint's weight files, where known


class FleetInfo(_Model):
    gpu: str
    gpus_per_node: int
    nodes: int
    total_gpus: int
    gpu_memory_bytes: int
    compute_capability: str
    nvlink_domain: int
    tp_across_nodes: bool = False


class QuantInfo(_Model):
    weights: str
    kv_cache: str
    activation_dtype: str  # dtype of activations, embeddings and LM head
    group_size: int | None = None
    checkpoint: str | None = None  # where a pre-quantized checkpoint states its quantization
    unquantized: list[str] = []  # decoder linears the checkpoint keeps in the activation dtype


class WorkloadInfo(_Model):
    max_batch_size: int
    max_input_len: int
    max_output_len: int
    max_seq_len: int
    max_num_tokens: int
    max_beam_width: int = 1


class TargetInfo(_Model):
    trtllm_version: str
    flow: str = "engine"  # "engine" (trtllm-build) or "pytorch" (LLM API)
    flow_reason: str | None = None  # why this flow, when the planner chose it


class RuntimeInfo(_Model):
    kv_cache_free_gpu_mem_fraction: float
    tokens_per_block: int
    max_tokens_in_paged_kv_cache: int | None = None
    use_parallel_embedding: bool = False
    # PyTorch flow: the batch sizes CUDA graphs are captured for (counted in memory, written to model.yaml)
    cuda_graph_batch_sizes: list[int] | None = None


class LayoutInfo(_Model):
    tp: int
    pp: int
    gpus_per_replica: int
    replicas: int
    nodes_per_replica: int = 1
    layers_per_stage: list[int]
    idle_gpus: int = 0  # GPUs of the fleet no replica uses
    ep: int = 1  # MoE expert parallelism inside the TP group
    attention_dp: bool = False  # PyTorch flow: attention data parallelism


class PerformanceInfo(_Model):
    """Speed of one replica at its operating point (see the performance model)."""

    ttft_ms: float
    tpot_ms: float
    concurrency: int  # sequences decoding at once
    output_tokens_per_s: float  # one replica
    output_tokens_per_s_per_gpu: float
    fleet_output_tokens_per_s: float
    requests_per_s: float
    backend: str  # which model produced the figures
    kv_bound: bool = False  # the KV pool, not max_batch_size, sets the concurrency
    keeps_up: bool = True  # with --request-rate: the replica serves its share without a growing queue
    cost_per_million_tokens: float | None = None  # with --gpu-hour-price: the replica's GPU-hours per 1e6 tokens


class BenchmarkInfo(_Model):
    """What `trtllm-bench throughput` reports for the chosen layout with a dataset of `requests` requests at
    the workload's input and output lengths (--bench-requests; planner/perf/benchrun.py): one replica."""

    requests: int
    input_len: int
    output_len: int
    total_s: float  # first submission to last response
    output_tokens_per_s: float  # trtllm-bench's "Total Output Throughput"
    output_tokens_per_s_per_gpu: float  # its "Per GPU Output Throughput"
    ttft_ms: float  # mean, queueing from the start of the run included
    tpot_ms: float  # mean
    backend: str


class CandidateInfo(_Model):
    tp: int
    pp: int
    replicas: int
    idle_gpus: int
    ep: int = 1
    attention_dp: bool = False
    memory: dict[str, Any] = {}  # summary: weights, KV pool and total bytes of the fullest GPU
    performance: PerformanceInfo | None = None
    fits: bool = True  # False: it fits in memory but misses a --ttft-ms/--tpot-ms limit (see reason)
    reason: str | None = None
    passed_over: str | None = None  # fits, but the choice does not weigh it: why (layout.passed_over)
    max_batch_size: int | None = None  # the build limits this layout was weighed with
    max_num_tokens: int | None = None


class SizingInfo(_Model):
    request_rate: float
    replicas_needed: int
    gpus_needed: int
    meets_slo: bool  # the fleet serves the rate within the latency limits
    fleet_suffices: bool = False
    max_requests_per_s_per_replica: float = 0.0  # within the limits
    cost_per_million_tokens: float | None = None  # with --gpu-hour-price: the GPUs needed, over the rate's tokens

    @model_serializer(mode="wrap")
    def _without_cost(self, handler: Any) -> dict[str, Any]:
        return _without_none(handler(self), "cost_per_million_tokens")


class EmbeddingInfo(_Model):
    """Where the input embedding lives on the first stage: the conversion path decides it."""

    path: str  # convert_checkpoint.py | quantize.py | pytorch
    placement: str  # "replicated" on every TP rank, or "sharded" (vocabulary split across TP)
    source: str


class MemoryInfo(_Model):
    per_gpu: list[StageMemory]
    embedding: EmbeddingInfo | None = None


class KVCacheInfo(_Model):
    bytes_per_token_per_gpu: int  # the stage with the most layers
    max_tokens: int  # tokens the smallest stage pool holds
    max_concurrent_sequences: int  # sequences of max_seq_len the replica holds at once (all attention-DP ranks)
    required_tokens: int  # max_batch_size × max_seq_len
    tokens_per_block: int
    blocks_per_sequence: int
    # Per-layer attention windows (one period of the layer pattern) the runtime is given as
    # kv_cache_config.max_attention_window so that sliding layers keep only their window
    # (planner.kvcache); None when every layer keeps the whole sequence.
    attention_windows: list[int] | None = None


class Rejection(_Model):
    tp: int
    pp: int
    reason: str
    ep: int = 1
    attention_dp: bool = False


class PlanRequest(_Model):
    """The options the plan was made from, so that it can be made again (`planner diff`)."""

    model: str | None
    model_path: str | None = None
    gpus: str
    quant: str
    kv_cache_dtype: str | None = None
    max_batch_size: int | None  # None: the default, or trtllm-bench's choice under --objective throughput
    max_input_len: int
    max_output_len: int
    max_num_tokens: int | None = None
    max_beam_width: int = 1
    tp: int | None = None
    pp: int | None = None
    ep: int | None = None  # forced expert parallelism (PyTorch flow, MoE models)
    attention_dp: bool | None = None  # forced attention data parallelism on/off
    kv_cache_free_gpu_mem_fraction: float
    tokens_per_block: int
    max_tokens_in_paged_kv_cache: int | None = None
    use_parallel_embedding: bool = False
    trtllm_version: str
    objective: str = "min-gpus"
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    request_rate: float | None = None
    gpu_hour_price: float | None = None
    flow: str | None = None  # --flow as given; None: the planner chose (target.flow says which, and why)
    perf_backend: str | None = None  # --perf-backend when not the default roofline (absent from the JSON then)
    bench_requests: int | None = None  # --bench-requests (absent from the JSON when not given)

    @model_serializer(mode="wrap")
    def _without_default_backend(self, handler: Any) -> dict[str, Any]:
        # plans made without these options keep the keys they always had
        return _without_none(handler(self), "perf_backend", "bench_requests")


class Plan(_Model):
    schema_version: int = SCHEMA_VERSION
    model: ModelInfo
    fleet: FleetInfo
    quantization: QuantInfo
    workload: WorkloadInfo
    target: TargetInfo
    runtime: RuntimeInfo
    serving: ServingInfo = ServingInfo()
    fits: bool
    layout: LayoutInfo | None  # None only when nothing fits and no layout was forced
    memory: MemoryInfo
    kv_cache: KVCacheInfo | None
    rejected: list[Rejection]
    advice: list[str] = []  # what would fit, when nothing does
    objective: str = "min-gpus"
    performance: PerformanceInfo | None = None
    performance_note: str | None = None  # why there are no figures, or how they were taken
    candidates: list[CandidateInfo] = []
    sizing: SizingInfo | None = None
    benchmark: BenchmarkInfo | None = None  # with --bench-requests (absent from the JSON otherwise)
    request: PlanRequest | None = None

    @model_serializer(mode="wrap")
    def _without_benchmark(self, handler: Any) -> dict[str, Any]:
        return _without_none(handler(self), "benchmark")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)
