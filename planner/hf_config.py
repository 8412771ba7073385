"""Local Hugging Face model files -> ModelSpec.

Accepts a `config.json`, a directory holding one, a `model.safetensors.index.json`, or a
`.safetensors` file (the `config.json` beside it gives the architecture). Parameter
counts come from the safetensors headers only: the 8-byte length prefix and the JSON
header are read, never tensor data. No network access.

Field names follow each architecture's `PretrainedConfig` in transformers
(configuration_<model_type>.py).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from planner import safeio
from planner.config_checks import check_config_types
from planner.errors import InputError
from planner.specs import MLASpec, ModelSpec, MoESpec

MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on header size
_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "fp32": "float32",
           "fp16": "float16", "bf16": "bfloat16"}


def _req(cfg: dict[str, Any], *keys: str) -> int:
    """The first of `keys` present, which must be an integer."""
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"config.json: {key} must be an integer, got {value!r}")
            return value
    raise InputError(f"config.json lacks {' / '.join(keys)}")


def _common(cfg: dict[str, Any]) -> dict[str, Any]:
    hidden = _req(cfg, "hidden_size", "n_embd", "d_model")
    heads = _req(cfg, "num_attention_heads", "n_head", "num_heads")
    return {
        "num_layers": _req(cfg, "num_hidden_layers", "n_layer", "num_layers"),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_kv_heads": cfg.get("num_key_value_heads") or heads,
        "head_dim": cfg.get("head_dim") or hidden // heads,
        "vocab_size": _req(cfg, "vocab_size"),
        "max_position_embeddings": cfg.get("max_position_embeddings") or cfg.get("n_positions") or 2048,
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "dtype": _DTYPES.get(str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"), "bfloat16"),
    }


def _llama(cfg: dict[str, Any]) -> dict[str, Any]:
    bias = bool(cfg.get("attention_bias", False))
    return {**_common(cfg), "intermediate_size": _req(cfg, "intermediate_size"),
            "qkv_bias": bias, "o_bias": bias, "mlp_bias": bool(cfg.get("mlp_bias", False))}


def _qwen2(cfg: dict[str, Any]) -> dict[str, Any]:
    return {**_common(cfg), "intermediate_size": _req(cfg, "intermediate_size"), "qkv_bias": True}


def _mixtral(cfg: dict[str, Any]) -> dict[str, Any]:
    inter = _req(cfg, "intermediate_size")
    moe = MoESpec(num_experts=_req(cfg, "num_local_experts"), top_k=_req(cfg, "num_experts_per_tok"),
                  expert_intermediate_size=inter)
    return {**_common(cfg), "intermediate_size": inter, "moe": moe}


def _qwen2_moe(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg.get("mlp_only_layers") or cfg.get("decoder_sparse_step", 1) != 1:
        raise InputError("qwen2_moe configs with dense layers (mlp_only_layers, decoder_sparse_step) "
                         "are not supported")
    shared = cfg.get("shared_expert_intermediate_size") or 0
    moe = MoESpec(num_experts=_req(cfg, "num_experts"), top_k=_req(cfg, "num_experts_per_tok"),
                  expert_intermediate_size=_req(cfg, "moe_intermediate_size"),
                  shared_experts=1 if shared else 0, shared_intermediate_size=shared)
    return {**_common(cfg), "intermediate_size": _req(cfg, "intermediate_size"), "qkv_bias": True, "moe": moe}


def _gemma(cfg: dict[str, Any]) -> dict[str, Any]:
    return {**_common(cfg), "intermediate_size": _req(cfg, "intermediate_size"),
            "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", True))}


def _gemma2(cfg: dict[str, Any]) -> dict[str, Any]:
    # pre/post attention and pre/post feed-forward norms
    return {**_gemma(cfg), "norms_per_layer": 4}


def _falcon(cfg: dict[str, Any]) -> dict[str, Any]:
    base = _common(cfg)
    if cfg.get("new_decoder_architecture"):
        kv, norms = cfg.get("num_kv_heads") or base["num_attention_heads"], 2
    else:
        kv = 1 if cfg.get("multi_query", True) else base["num_attention_heads"]
        norms = 1 if cfg.get("parallel_attn", True) else 2
    bias = bool(cfg.get("bias", False))
    return {**base, "num_kv_heads": kv, "intermediate_size": cfg.get("ffn_hidden_size") or 4 * base["hidden_size"],
            "mlp": "plain", "norm": "layernorm", "norms_per_layer": norms, "qkv_bias": bias, "o_bias": bias,
            "mlp_bias": bias, "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", True))}


def _gptj(cfg: dict[str, Any]) -> dict[str, Any]:
    base = _common(cfg)
    return {**base, "intermediate_size": cfg.get("n_inner") or 4 * base["hidden_size"], "mlp": "plain",
            "norm": "layernorm", "norms_per_layer": 1, "mlp_bias": True, "lm_head_bias": True,
            "max_position_embeddings": cfg.get("n_positions") or 2048}


def _deepseek(cfg: dict[str, Any]) -> dict[str, Any]:
    base = _common(cfg)
    mla = MLASpec(q_lora_rank=cfg.get("q_lora_rank") or 0, kv_lora_rank=_req(cfg, "kv_lora_rank"),
                  qk_nope_head_dim=_req(cfg, "qk_nope_head_dim"), qk_rope_head_dim=_req(cfg, "qk_rope_head_dim"),
                  v_head_dim=_req(cfg, "v_head_dim"))
    moe = MoESpec(num_experts=_req(cfg, "n_routed_experts"), top_k=_req(cfg, "num_experts_per_tok"),
                  expert_intermediate_size=_req(cfg, "moe_intermediate_size"),
                  shared_experts=cfg.get("n_shared_experts") or 0,
                  shared_intermediate_size=_req(cfg, "moe_intermediate_size"),
                  first_k_dense_layers=cfg.get("first_k_dense_replace") or 0,
                  router_bias=cfg.get("topk_method") == "noaux_tc")
    return {**base, "head_dim": mla.qk_nope_head_dim + mla.qk_rope_head_dim,
            "intermediate_size": _req(cfg, "intermediate_size"), "mla": mla, "moe": moe,
            "mtp_layers": cfg.get("num_nextn_predict_layers") or 0}


ARCHITECTURES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "llama": _llama, "mistral": _llama, "mixtral": _mixtral, "qwen2": _qwen2, "qwen2_moe": _qwen2_moe,
    "gemma": _gemma, "gemma2": _gemma2, "phi3": _llama, "falcon": _falcon, "gptj": _gptj,
    "deepseek_v2": _deepseek, "deepseek_v3": _deepseek,
}


def spec_from_config(cfg: dict[str, Any], source: str, name: str | None = None) -> ModelSpec:
    check_config_types(cfg, source)
    model_type = cfg.get("model_type")
    if model_type not in ARCHITECTURES:
        raise InputError(f"{source}: unsupported model_type {model_type!r}; supported: "
                         f"{', '.join(sorted(ARCHITECTURES))}")
    try:
        fields = ARCHITECTURES[model_type](cfg)
        name = name or str(cfg.get("_name_or_path") or Path(source).parent.name or model_type)
        return ModelSpec(name=name, architecture=model_type, source=source, hf_repo=None, **fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{source}: {field}: {err['msg']}") from None
    except (TypeError, ZeroDivisionError) as exc:
        raise InputError(f"{source}: malformed config.json ({exc})") from None


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of one .safetensors file; tensor data is never read."""
    with safeio.open_regular(path, "safetensors file") as fh:
        try:
            prefix = fh.read(8)
            if len(prefix) != 8:
                raise InputError(f"{path}: not a safetensors file (shorter than 8 bytes)")
            (length,) = struct.unpack("<Q", prefix)
            size = os.fstat(fh.fileno()).st_size
            if length > MAX_HEADER_BYTES or length > size - 8:
                raise InputError(f"{path}: safetensors header length {length} is impossible for a "
                                 f"{size}-byte file")
            raw = fh.read(length)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({safeio.describe_os_error(exc)})") from None
    header = safeio.parse_json(raw, f"{path}: safetensors header")
    if not isinstance(header, dict):
        raise InputError(f"{path}: safetensors header is not a JSON object")
    return header


def safetensors_params(files: list[Path]) -> int:
    total = 0
    for path in files:
        for name, info in read_safetensors_header(path).items():
            if name == "__metadata__":
                continue
            shape = info.get("shape") if isinstance(info, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise InputError(f"{path}: tensor {name!r} has a malformed shape")
            total += math.prod(shape)
    return total


def _read_json(path: Path) -> Any:
    return safeio.read_json(path, what="model file")


def _weight_files(path: Path) -> list[Path]:
    """The safetensors files that `path` names, directly or through an index."""
    if path.suffix == ".safetensors":
        return [path]
    index_path = path if path.name.endswith(".index.json") else path / "model.safetensors.index.json"
    if index_path.is_file():
        index = _read_json(index_path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise InputError(f"{index_path}: no weight_map")
        files = sorted({str(v) for v in weight_map.values()})
        if any("/" in f or "\\" in f or f.startswith(".") for f in files):
            raise InputError(f"{index_path}: weight_map names files outside its directory")
        found = [index_path.parent / f for f in files]
        return found if all(f.is_file() for f in found) else []
    if path.is_dir():
        return sorted(path.glob("*.safetensors"))
    return []


def load_local_model(path_text: str) -> tuple[ModelSpec, int | None]:
    """(spec, exact parameter count from safetensors headers or None)."""
    path = Path(path_text).expanduser()
    if safeio.path_kind(path, "model path") is None:
        raise InputError(f"model path {path_text!r} does not exist")
    config_path = path / "config.json" if path.is_dir() else (
        path if path.name.endswith(".json") and not path.name.endswith(".index.json") else path.parent / "config.json")
    if not config_path.is_file():
        raise InputError(f"no config.json found for {path_text!r}: it names the architecture")
    spec = spec_from_config(_read_json(config_path), str(config_path),
                            name=path.name if path.is_dir() else config_path.parent.name or None)
    files = _weight_files(path if path != config_path else path.parent)
    params = safetensors_params(files) if files else None
    return spec, params
