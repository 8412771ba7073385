"""What Triton checks when it loads a model configuration, checked before a server sees it.

The rules restate, in the planner's words, `ValidateModelConfig`, `ValidateEnsembleSchedulingConfig`
and `ValidateIOShape` in triton-inference-server/core, src/model_config_utils.cc (read at commit
6370c433e5becfdb7193a8a29e969c8a781299d3). Triton fills some fields before it validates (the model
name from its directory, a default instance group for non-ensembles), so an absent name or
instance group is not reported here. Checks that need the server's hardware (which GPU ids exist)
are left to the server.
"""

from __future__ import annotations

from collections.abc import Iterable

from tritonclient.grpc import model_config_pb2

ModelConfig = model_config_pb2.ModelConfig
Group = model_config_pb2.ModelInstanceGroup
ENSEMBLE = "ensemble"
WILDCARD_DIM = -1

# (file, field, message, fix), the fields of validate.Issue
Problem = tuple[str, str, str, str]


def load_time_problems(model: str, cfg: ModelConfig) -> list[Problem]:
    rel = f"{model}/config.pbtxt"
    found: list[Problem] = []

    def add(field: str, message: str, fix: str) -> None:
        found.append((rel, field, message, fix))

    if not cfg.platform and not cfg.backend:
        add("platform/backend", "neither is set; Triton refuses to load the model",
            'set backend: "python" (or "tensorrtllm"), or platform: "ensemble" for an ensemble')
    if cfg.max_batch_size < 0:
        add("max_batch_size", f"is {cfg.max_batch_size}; Triton requires 0 or more", "set max_batch_size: 0 or more")
    if cfg.HasField("dynamic_batching"):
        _batch_sizes(add, "dynamic_batching.preferred_batch_size", cfg.dynamic_batching.preferred_batch_size,
                     cfg.max_batch_size)
        levels = cfg.dynamic_batching.priority_levels
        if levels and not 1 <= cfg.dynamic_batching.default_priority_level <= levels:
            add("dynamic_batching.default_priority_level",
                f"is {cfg.dynamic_batching.default_priority_level}; with {levels} priority levels it must be "
                f"1 to {levels}", f"set default_priority_level between 1 and {levels}")
    if cfg.HasField("sequence_batching") and cfg.sequence_batching.HasField("oldest"):
        _batch_sizes(add, "sequence_batching.oldest.preferred_batch_size",
                     cfg.sequence_batching.oldest.preferred_batch_size, cfg.max_batch_size)
    if cfg.HasField("ensemble_scheduling") or cfg.platform == ENSEMBLE:
        _ensemble(add, cfg)
    else:
        _instance_groups(add, cfg)
    for kind, tensors in (("input", cfg.input), ("output", cfg.output)):
        for i, tensor in enumerate(tensors):
            _io_shape(add, f"{kind}[{tensor.name or i}]", tensor)
    return found


def _batch_sizes(add, field: str, sizes: Iterable[int], max_batch_size: int) -> None:
    for size in sizes:
        if size <= 0:
            add(field, f"{size} is not positive; Triton refuses to load the model", "remove it or make it positive")
        elif size > max_batch_size:
            add(field, f"{size} exceeds max_batch_size {max_batch_size}; Triton refuses to load the model",
                f"use sizes of at most {max_batch_size}, or raise max_batch_size")


def _ensemble(add, cfg: ModelConfig) -> None:
    if cfg.platform != ENSEMBLE:
        add("platform", f"is {cfg.platform!r} but the model has ensemble_scheduling",
            f'set platform: "{ENSEMBLE}" (and no backend)')
    if not cfg.HasField("ensemble_scheduling") or not cfg.ensemble_scheduling.step:
        add("ensemble_scheduling.step", "an ensemble needs at least one step",
            "add ensemble_scheduling { step { ... } }")
    if cfg.instance_group:
        add("instance_group", "must not be set for an ensemble (its steps have their own)", "remove instance_group")
    if cfg.HasField("optimization"):
        add("optimization", "must not be set for an ensemble", "remove optimization")
    if cfg.model_warmup:
        add("model_warmup", "must not be set for an ensemble", "remove model_warmup")
    for i, step in enumerate(cfg.ensemble_scheduling.step):
        if not step.model_name:
            add(f"ensemble_scheduling.step[{i}].model_name", "is empty", "name the model this step runs")


def _instance_groups(add, cfg: ModelConfig) -> None:
    for i, group in enumerate(cfg.instance_group):
        where = f"instance_group[{group.name or i}]"
        if group.count < 0:
            add(f"{where}.count", f"is {group.count}", "set count: 1 or more")
        if group.kind in (Group.KIND_CPU, Group.KIND_MODEL) and group.gpus:
            kind = Group.Kind.Name(group.kind)
            add(f"{where}.gpus", f"a {kind} group must not name GPUs", "remove gpus, or use kind: KIND_GPU")
        if group.profile and cfg.platform != "tensorrt_plan":
            add(f"{where}.profile", "profiles are for TensorRT plan models only", "remove profile")


def _io_shape(add, where: str, tensor) -> None:
    if not tensor.name:
        add(where, "has no name", "set name")
    if tensor.data_type == model_config_pb2.TYPE_INVALID:
        add(f"{where}.data_type", "is not set", "set data_type (e.g. TYPE_INT32)")
    if not tensor.dims:
        add(f"{where}.dims", "is empty", "set dims (e.g. [ -1 ])")
    for dim in tensor.dims:
        if dim < 1 and dim != WILDCARD_DIM:
            add(f"{where}.dims", f"holds {dim}; dimensions are 1 or more, or -1 for any size", "fix the dims")
            break
