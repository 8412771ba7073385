"""Per-GPU memory of one layout: weights, activations, runtime buffers, communication, KV cache.

A pure function of (model, quantization, layout, workload, GPU, runtime profile), with one rule set
per flow, chosen once from `RuntimeProfile.flow`:
- engine (planner.memory.engine): engine weights, the execution context fixed at build time, the C++
  runtime's buffers and decoder, communication; the KV pool is `kv_cache_free_gpu_mem_fraction` of
  what CUDA still has free;
- pytorch (planner.memory.pytorch): weights as loaded, the peak of a profiling pass at
  max_num_tokens, memory outside torch; the KV pool is `free_gpu_memory_fraction` of what that pass
  leaves, and CUDA graphs must fit in the rest.
Both size the pool against CUDA's total (what cudaMemGetInfo reports), not nvidia-smi's.
"""

from __future__ import annotations

from functools import lru_cache

from planner import tensors
from planner.memory import engine, pytorch
from planner.memory.common import (
    DRIVER_RESERVED_BYTES,
    GIB,
    MIB,
    EmbeddingPlacement,
    Setup,
    StageMemory,
    StageShape,
    _layer_bytes,
    checkpoint_bytes,
    comm_bytes,
    cuda_total_bytes,
    dense_layers,
    embedding_placement,
    kv_bytes_per_token,
    kv_pool,
    layers_per_stage,
    stage_weight_bytes,
)
from planner.memory.engine import DEFAULT_ENGINE_COSTS, EngineCosts, execution_context_bytes
from planner.memory.pytorch import DEFAULT_PYTORCH_COSTS, PytorchCosts
from planner.specs import GpuSpec, ModelSpec, RuntimeProfile, Workload

__all__ = [
    "DRIVER_RESERVED_BYTES", "GIB", "MIB", "DEFAULT_COSTS", "DEFAULT_ENGINE_COSTS", "DEFAULT_PYTORCH_COSTS",
    "EmbeddingPlacement", "EngineCosts", "PytorchCosts", "RuntimeCosts", "Setup", "StageMemory", "StageShape",
    "activation_bytes", "checkpoint_bytes", "comm_bytes", "cuda_total_bytes", "embedding_placement",
    "kv_bytes_per_token", "kv_pool",
    "layers_per_stage", "layout_memory", "stage_memory", "stage_weight_bytes", "_dense_layers", "_layer_bytes",
]

# Names kept for callers of the single-module memory model.
RuntimeCosts = EngineCosts
DEFAULT_COSTS = DEFAULT_ENGINE_COSTS
activation_bytes = execution_context_bytes
_dense_layers = dense_layers

_FLOWS = {"engine": (engine.stage, DEFAULT_ENGINE_COSTS), "pytorch": (pytorch.stage, DEFAULT_PYTORCH_COSTS)}


def _stage(setup: Setup, shape: StageShape, costs: EngineCosts | PytorchCosts | None) -> StageMemory:
    rule, default = _FLOWS[setup.runtime.flow]
    if costs is None or not isinstance(costs, type(default)):
        costs = default
    return rule(setup, shape, costs)


def stage_memory(
    model: ModelSpec, weights: str, kv_dtype: str, tp: int, pp: int, stage: int,
    workload: Workload, gpu: GpuSpec, runtime: RuntimeProfile,
    costs: EngineCosts | PytorchCosts | None = None,
) -> StageMemory:
    split = layers_per_stage(model.num_layers, pp)
    shape = StageShape(stage, sum(split[:stage]), split[stage], stage == 0, stage == pp - 1)
    return _stage(Setup(model, weights, kv_dtype, tp, pp, workload, gpu, runtime), shape, costs)


def layout_memory(
    model: ModelSpec, weights: str, kv_dtype: str, tp: int, pp: int,
    workload: Workload, gpu: GpuSpec, runtime: RuntimeProfile,
    costs: EngineCosts | PytorchCosts | None = None, stop_at_overflow: bool = False,
    ep: int = 1, attention_dp: bool = False,
) -> list[StageMemory]:
    """Every stage's memory; with `stop_at_overflow`, stop after the first stage whose static
    memory exceeds the GPU (the layout cannot run, the rest need not be known). `ep` and
    `attention_dp` are the PyTorch flow's MoE layouts (planner.tensors)."""
    # A plan weighs each layout once per objective, its advice again on larger fleets, and a sweep
    # repeats them: the stages are computed once per distinct input (the records are frozen).
    return list(_layout_memory(model, weights, kv_dtype, tp, pp, workload, _Same(gpu), runtime, costs,
                               stop_at_overflow, ep, attention_dp))


class _Same:
    """A cache key that matches only the very same object: GpuSpec is not hashable (its dict of
    peaks), and the key's reference keeps the object, and so its id, alive while the entry lives."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj


@lru_cache(maxsize=4096)
def _layout_memory(model: ModelSpec, weights: str, kv_dtype: str, tp: int, pp: int, workload: Workload,
                   gpu: _Same, runtime: RuntimeProfile, costs: EngineCosts | PytorchCosts | None,
                   stop_at_overflow: bool, ep: int, attention_dp: bool) -> tuple[StageMemory, ...]:
    setup = Setup(model, weights, kv_dtype, tp, pp, workload, gpu.obj, runtime, ep, attention_dp)
    out: list[StageMemory] = []
    alike: dict[tuple[int, int, bool, bool], StageMemory] = {}
    first_layer = 0
    for index, layers in enumerate(layers_per_stage(model.num_layers, pp)):
        key = (layers, tensors.layer_groups(model, first_layer, layers), index == 0, index == pp - 1)
        if key in alike:  # stages with the same shape have the same memory
            mem = _restage(alike[key], index, first_layer)
        else:
            mem = alike[key] = _stage(setup, StageShape(index, first_layer, layers, key[2], key[3]), costs)
        out.append(mem)
        first_layer += layers
        if stop_at_overflow and mem.free_bytes <= 0:
            break
    return tuple(out)


def _restage(mem: StageMemory, index: int, first_layer: int) -> StageMemory:
    """`mem` as stage `index` starting at `first_layer`: dataclasses.replace re-runs the frozen
    __init__ over all 25 fields; filling a new instance's __dict__ costs a tenth of it."""
    out = object.__new__(StageMemory)
    out.__dict__.update(mem.__dict__, pp_stage=index, first_layer=first_layer)
    return out
