"""Compare model configs as a Triton server serves them with what the plan asked for.

Configs are the JSON form Triton returns (HTTP, or gRPC ``as_json``); gRPC renders
64-bit integers as strings, so numbers are normalised before comparing.  A check
runs only when both the plan and the served config carry the value.
"""

from __future__ import annotations

from typing import Any

from planner.live.clients import ENSEMBLE_NAMES, LLMAPI_NAMES, TensorNames
from planner.live.report import ConfigDiff

# The ensemble inputs every client of a generated repository relies on.
REQUIRED_INPUTS = {"text_input": "TYPE_STRING", "max_tokens": "TYPE_INT32"}
STREAM_INPUT = ("stream", "TYPE_BOOL")
PIPELINE_MODELS = ("ensemble", "preprocessing", "tensorrt_llm", "postprocessing", "tensorrt_llm_bls")
TRUE_WORDS = {"true", "1", "yes", "t", "y"}


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def param(config: dict[str, Any], key: str) -> str | None:
    value = _get(config, f"parameters.{key}.string_value")
    return None if value is None or str(value).startswith("${") else str(value)


def decoupled(config: dict[str, Any]) -> bool:
    return bool(_get(config, "model_transaction_policy.decoupled"))


def ensemble_steps(config: dict[str, Any]) -> list[str]:
    steps = _get(config, "ensemble_scheduling.step") or []
    return [s["model_name"] for s in steps if isinstance(s, dict) and "model_name" in s]


def inputs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in config.get("input", []) if isinstance(i, dict) and "name" in i}


def _diff(diffs: list[ConfigDiff], model: str, field: str, plan: Any, served: Any) -> None:
    if plan is not None and served is not None and str(plan) != str(served):
        diffs.append(ConfigDiff(model=model, field=field, plan=str(plan), served=str(served)))


def compare_with_plan(
    plan: dict[str, Any], configs: dict[str, dict[str, Any]], entry: str
) -> list[ConfigDiff]:
    """List what differs between ``plan`` (plan.json as a dict) and the served ``configs`` by model name."""
    diffs: list[ConfigDiff] = []
    batch = _int(_get(plan, "workload.max_batch_size"))
    want_decoupled = _get(plan, "serving.decoupled")
    for name in PIPELINE_MODELS:
        config = configs.get(name)
        if config is None:
            continue
        want = batch
        if name == "tensorrt_llm" and _get(plan, "target.flow") == "pytorch":
            # the llmapi model takes one prompt per request (triton_config); the LLM batches behind it
            want = _llmapi_triton_batch(plan)
        _diff(diffs, name, "max_batch_size", want, _int(config.get("max_batch_size", 0)))
    for name in ("tensorrt_llm", "tensorrt_llm_bls"):
        config = configs.get(name)
        if config is not None and want_decoupled is not None:
            _diff(diffs, name, "decoupled", bool(want_decoupled), decoupled(config))
    trt = configs.get("tensorrt_llm")
    if trt is not None:
        _diff(
            diffs,
            "tensorrt_llm",
            "max_beam_width",
            _int(_get(plan, "workload.max_beam_width")),
            _int(param(trt, "max_beam_width")),
        )
        _diff(
            diffs,
            "tensorrt_llm",
            "gpt_model_type",
            _get(plan, "serving.batching_strategy"),
            param(trt, "gpt_model_type"),
        )
        if "dynamic_batching" in trt:
            _diff(
                diffs,
                "tensorrt_llm",
                "max_queue_delay_microseconds",
                _int(_get(plan, "serving.max_queue_delay_microseconds")),
                _int(_get(trt, "dynamic_batching.max_queue_delay_microseconds") or 0),
            )
    for name, key in (
        ("preprocessing", "preprocessing_instances"),
        ("postprocessing", "postprocessing_instances"),
    ):
        config = configs.get(name)
        groups = (config or {}).get("instance_group") or []
        if groups:
            served = sum(_int(g.get("count", 1)) or 0 for g in groups)
            _diff(diffs, name, "instance_count", _int(_get(plan, f"serving.{key}")), served)
    entry_config = configs.get(entry)
    if entry_config is not None:
        diffs += missing_inputs(entry, entry_config, bool(want_decoupled))
    return diffs


def entry_model(plan: dict[str, Any] | None) -> str:
    """The model clients send text to: the llmapi model in the PyTorch flow, else the ensemble."""
    return "tensorrt_llm" if plan is not None and _get(plan, "target.flow") == "pytorch" else "ensemble"


def tensor_names(config: dict[str, Any]) -> TensorNames:
    """The request tensors the entry model speaks: the llmapi model's, or the ensemble's."""
    return LLMAPI_NAMES if LLMAPI_NAMES.max_tokens in inputs(config) else ENSEMBLE_NAMES


def _llmapi_triton_batch(plan: dict[str, Any]) -> int | None:
    from planner.errors import InputError
    from planner.target import load_profile

    try:
        spec = load_profile(str(_get(plan, "target.trtllm_version"))).pytorch
    except InputError:
        return None
    return spec.triton_config.max_batch_size if spec else None


def missing_inputs(model: str, config: dict[str, Any], streaming: bool) -> list[ConfigDiff]:
    """Inputs a text-generation client needs that the entry model lacks or types differently."""
    have = inputs(config)
    names = tensor_names(config)
    wanted = {names.text: REQUIRED_INPUTS["text_input"], names.max_tokens: REQUIRED_INPUTS["max_tokens"]}
    if streaming:
        wanted[names.stream] = STREAM_INPUT[1]
    diffs = []
    for name, dtype in wanted.items():
        served = have.get(name, {}).get("data_type", "absent")
        if served != dtype:
            diffs.append(ConfigDiff(model=model, field=f"input {name}", plan=dtype, served=served))
    return diffs
