"""The quantization a Hugging Face checkpoint already carries -> CheckpointQuant.

Two places say it:
- `hf_quant_config.json`, written by NVIDIA TensorRT Model Optimizer (ModelOpt) exports, or the
  same keys under config.json `quantization_config` with `quant_method: modelopt`:
  `quantization.quant_algo` (TensorRT-LLM's QuantAlgo names, tensorrt_llm/quantization/mode.py),
  `kv_cache_quant_algo`, and `exclude_modules` (fnmatch patterns of module names).
- config.json `quantization_config`, by `quant_method`: `fp8` (with `weight_block_size` for
  DeepSeek-style 128x128 block scales), `mxfp4` (gpt-oss; `modules_to_not_convert`), `gptq`
  and `awq` (`bits`, `group_size`), `compressed-tensors` (llm-compressor: `config_groups` with
  weight and input-activation schemes, `ignore`, `kv_cache_scheme`).

A module pattern leaves a kind of decoder-layer linear unquantized when it matches one of that
kind's usual Hugging Face module names (below). Embeddings and the LM head stay in the
activation dtype whatever the file says; norms and routers always do.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.specs import CheckpointQuant

# TensorRT-LLM QuantAlgo (tensorrt_llm/quantization/mode.py) -> planner scheme
QUANT_ALGOS = {
    "FP8": "fp8", "FP8_PER_CHANNEL_PER_TOKEN": "fp8", "FP8_BLOCK_SCALES": "fp8_block", "NVFP4": "nvfp4",
    "W4A16_AWQ": "int4_awq", "W4A8_AWQ": "w4a8_awq", "W4A16_GPTQ": "int4_gptq", "W8A8_SQ_PER_CHANNEL": "int8_sq",
    "W4A16": "int4_wo", "W8A16": "int8_wo", "W8A16_GPTQ": "int8_wo", "W4A16_MXFP4": "mxfp4", "W4A8_MXFP4_FP8": "mxfp4",
    "W4A8_MXFP4_MXFP8": "mxfp4",
}
KV_ALGOS = {"FP8": "fp8", "INT8": "int8"}

# Module names each kind of linear has in the Hugging Face families the planner reads.
_KIND_NAMES: dict[str, tuple[str, ...]] = {
    "attention": ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.kv_a_proj_with_mqa",
                  "model.layers.0.self_attn.q_a_proj", "model.layers.0.self_attn.q_b_proj",
                  "model.layers.0.self_attn.kv_b_proj", "language_model.model.layers.0.self_attn.q_proj",
                  "model.language_model.layers.0.self_attn.q_proj"),
    "attention_output": ("model.layers.0.self_attn.o_proj", "language_model.model.layers.0.self_attn.o_proj",
                         "model.language_model.layers.0.self_attn.o_proj"),
    "router": ("model.layers.0.mlp.gate", "model.layers.0.mlp.router",
               "language_model.model.layers.0.feed_forward.router"),
    "experts": ("model.layers.0.mlp.experts.0.down_proj", "model.layers.0.mlp.experts",
                "language_model.model.layers.0.feed_forward.experts"),
    "shared_experts": ("model.layers.0.mlp.shared_experts.down_proj", "model.layers.0.mlp.shared_expert.down_proj",
                       "language_model.model.layers.0.feed_forward.shared_expert.down_proj"),
    "dense_mlp": ("model.layers.0.mlp.down_proj", "language_model.model.layers.0.feed_forward.down_proj"),
}


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):  # compressed-tensors' regular expressions
        return re.match(pattern[3:], name) is not None
    if any(c in pattern for c in "*?["):  # ModelOpt / transformers wildcards
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")
    return name == pattern or name.startswith(pattern + ".") or f".{pattern}." in f".{name}."


def unquantized_kinds(patterns: list[str]) -> tuple[str, ...]:
    """Kinds of decoder linears (CheckpointQuant.unquantized) that `patterns` exclude from quantization."""
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise InputError("the checkpoint's list of unquantized modules must be a list of names")
    return tuple(kind for kind, names in _KIND_NAMES.items()
                 if any(_matches(n, p) for n in names for p in patterns))


def _modelopt(q: dict[str, Any], source: str) -> CheckpointQuant:
    algo = str(q.get("quant_algo") or "").upper()
    if algo == "MIXED_PRECISION":
        raise InputError(f"{source}: per-layer mixed-precision ModelOpt checkpoints are not supported")
    if algo not in QUANT_ALGOS:
        raise InputError(f"{source}: unsupported quant_algo {q.get('quant_algo')!r}; supported: "
                         f"{', '.join(sorted(QUANT_ALGOS))}")
    kv_algo = q.get("kv_cache_quant_algo")
    kv = None
    if kv_algo:
        kv = KV_ALGOS.get(str(kv_algo).upper())
        if kv is None:
            raise InputError(f"{source}: unsupported kv_cache_quant_algo {kv_algo!r}; supported: "
                             f"{', '.join(sorted(KV_ALGOS))}")
    excluded = q.get("exclude_modules") or q.get("ignore") or []
    return CheckpointQuant(weights=QUANT_ALGOS[algo], kv_cache=kv, unquantized=unquantized_kinds(excluded),
                           source=source, method=f"ModelOpt {algo}")


def _compressed_tensors(qc: dict[str, Any], source: str) -> CheckpointQuant:
    groups = qc.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        raise InputError(f"{source}: compressed-tensors quantization_config has no config_groups")
    schemes = set()
    for group in groups.values():
        w = (group or {}).get("weights") or {}
        a = (group or {}).get("input_activations") or {}
        schemes.add(_ct_scheme(w, a, source))
    if len(schemes) != 1:
        raise InputError(f"{source}: compressed-tensors groups with different schemes ({', '.join(sorted(schemes))}) "
                         "are not supported")
    kv_scheme = qc.get("kv_cache_scheme") or {}
    kv = None
    if kv_scheme:
        kv = {("float", 8): "fp8", ("int", 8): "int8"}.get((kv_scheme.get("type"), kv_scheme.get("num_bits")))
        if kv is None:
            raise InputError(f"{source}: unsupported kv_cache_scheme {kv_scheme!r}")
    return CheckpointQuant(weights=schemes.pop(), kv_cache=kv, unquantized=unquantized_kinds(qc.get("ignore") or []),
                           source=source, method=f"compressed-tensors {qc.get('format') or ''}".strip())


def _ct_scheme(w: dict[str, Any], a: dict[str, Any], source: str) -> str:
    kind, bits, strategy = w.get("type"), w.get("num_bits"), w.get("strategy")
    if kind == "float" and bits == 8:
        return "fp8_block" if strategy == "block" else "fp8"
    if kind == "float" and bits == 4 and w.get("group_size") == 16:
        return "nvfp4"
    if kind == "int" and bits == 4 and not a:
        if strategy == "channel":
            return "int4_wo"
        return "int4_awq" if w.get("symmetric", True) else "int4_gptq"
    if kind == "int" and bits == 8:
        return "int8_sq" if a.get("type") == "int" and a.get("num_bits") == 8 else "int8_wo"
    raise InputError(f"{source}: unsupported compressed-tensors weight scheme "
                     f"(type {kind!r}, num_bits {bits!r}, strategy {strategy!r})")


def from_quantization_config(qc: Any, source: str) -> CheckpointQuant:
    """config.json `quantization_config` -> CheckpointQuant."""
    if not isinstance(qc, dict):
        raise InputError(f"{source}: quantization_config must be a JSON object")
    method = str(qc.get("quant_method") or "").lower()
    skip = qc.get("modules_to_not_convert") or qc.get("ignored_layers") or []
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is not None and list(block) != [128, 128]:
            raise InputError(f"{source}: FP8 weight_block_size {block!r} is not supported (only [128, 128])")
        weights = "fp8_block" if block else "fp8"
        return CheckpointQuant(weights=weights, unquantized=unquantized_kinds(skip), source=source,
                               method="fp8" + (" block 128x128" if block else ""))
    if method == "mxfp4":
        return CheckpointQuant(weights="mxfp4", unquantized=unquantized_kinds(skip), source=source, method="mxfp4")
    if method in ("gptq", "awq"):
        bits, group = qc.get("bits"), qc.get("group_size")
        if bits == 4 and group in (128, -1, None):
            scheme = {"gptq": "int4_gptq", "awq": "int4_awq"}[method] if group == 128 else "int4_wo"
        elif bits == 8 and method == "gptq":
            scheme = "int8_wo"  # per-group scales stored as per-channel here: under 2 % of the weights
        else:
            raise InputError(f"{source}: {method} with bits {bits!r} and group_size {group!r} is not supported "
                             "(4-bit with group 128 or per channel; GPTQ also 8-bit)")
        return CheckpointQuant(weights=scheme, unquantized=unquantized_kinds(skip), source=source,
                               method=f"{method} {bits}-bit")
    if method == "compressed-tensors":
        return _compressed_tensors(qc, source)
    if method == "modelopt":
        return _modelopt(qc, source)
    raise InputError(f"{source}: unsupported quant_method {qc.get('quant_method')!r}; supported: "
                     "awq, compressed-tensors, fp8, gptq, modelopt, mxfp4")


def from_hf_quant_config(data: Any, source: str) -> CheckpointQuant:
    """ModelOpt's hf_quant_config.json -> CheckpointQuant."""
    q = data.get("quantization") if isinstance(data, dict) else None
    if not isinstance(q, dict):
        raise InputError(f"{source}: no 'quantization' object")
    return _modelopt(q, source)


def read_checkpoint_quant(config: dict[str, Any], config_path: Path, read_json) -> CheckpointQuant | None:
    """The checkpoint's quantization: hf_quant_config.json beside config.json first, then
    config.json's quantization_config; None for an unquantized checkpoint."""
    modelopt = config_path.parent / "hf_quant_config.json"
    if modelopt.is_file():
        return from_hf_quant_config(read_json(modelopt), str(modelopt))
    qc = config.get("quantization_config")
    if qc is None and isinstance(config.get("text_config"), dict):
        qc = config["text_config"].get("quantization_config")
    return from_quantization_config(qc, f"{config_path}: quantization_config") if qc is not None else None
