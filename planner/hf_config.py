"""Local Hugging Face model files -> ModelSpec.

Accepts a `config.json`, a directory holding one, a `model.safetensors.index.json`, or a
`.safetensors` file (the `config.json` beside it gives the architecture). Parameter
counts come from the safetensors headers only: the 8-byte length prefix and the JSON
header are read, never tensor data. No network access.

Field names follow each architecture's `PretrainedConfig` in transformers
(configuration_<model_type>.py). A family is found by `model_type`, else by the class named
in `architectures` (Kimi K2 declares model_type kimi_k2 and DeepseekV3ForCausalLM). Multimodal
checkpoints (Llama 4, Gemma 3/4) are read through their `text_config`; their vision tower and
projector are counted as `encoder_params`. A pre-quantized checkpoint's own quantization is read
by planner.checkpoint_quant.
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
from planner.checkpoint_quant import read_checkpoint_quant
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


def _kinds(layer_types: Any, num_layers: int, source_key: str) -> tuple[str, ...]:
    """config layer_types -> ModelSpec.attention_pattern (the shortest period that repeats to it)."""
    names = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked"}
    if not isinstance(layer_types, list) or len(layer_types) != num_layers:
        raise InputError(f"config.json: {source_key} must list one attention type per layer")
    try:
        kinds = [names[t] for t in layer_types]
    except (KeyError, TypeError):
        raise InputError(f"config.json: {source_key} holds an attention type other than "
                         f"{', '.join(names)}") from None
    for period in range(1, len(kinds) + 1):
        if all(kinds[i] == kinds[i % period] for i in range(len(kinds))):
            kinds = kinds[:period]
            break
    return () if kinds == ["full"] else tuple(kinds)


def _text(cfg: dict[str, Any]) -> dict[str, Any]:
    """The text decoder's config of a multimodal checkpoint (text_config), else the config itself;
    the top level's dtype applies where the text config has none."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return cfg
    merged = dict(text)
    for key in ("torch_dtype", "dtype"):
        if merged.get(key) is None and cfg.get(key) is not None:
            merged[key] = cfg[key]
    return merged


def _qwen3(cfg: dict[str, Any]) -> dict[str, Any]:
    # Qwen3Attention: q_norm and k_norm (RMSNorm over head_dim); q/k/v/o without bias by default
    # (transformers models/qwen3/modeling_qwen3.py).
    if cfg.get("use_sliding_window"):
        raise InputError("qwen3 configs with use_sliding_window are not supported")
    bias = bool(cfg.get("attention_bias", False))
    return {**_common(cfg), "intermediate_size": _req(cfg, "intermediate_size"), "qkv_bias": bias, "o_bias": bias,
            "qk_norm": True}


def _qwen3_moe(cfg: dict[str, Any]) -> dict[str, Any]:
    # Qwen3MoeSparseMoeBlock: router `gate` without bias, no shared expert; a layer is sparse when
    # it is not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0.
    dense = cfg.get("mlp_only_layers") or []
    if not isinstance(dense, list) or not all(isinstance(i, int) for i in dense):
        raise InputError("config.json: mlp_only_layers must be a list of layer indices")
    moe = MoESpec(num_experts=_req(cfg, "num_experts"), top_k=_req(cfg, "num_experts_per_tok"),
                  expert_intermediate_size=_req(cfg, "moe_intermediate_size"),
                  layer_step=cfg.get("decoder_sparse_step") or 1, dense_layers=tuple(dense))
    return {**_qwen3(cfg), "moe": moe}


def _gpt_oss(cfg: dict[str, Any]) -> dict[str, Any]:
    # transformers models/gpt_oss: q/k/v/o with bias, one sink logit per head, router with bias,
    # experts' gate_up_proj [E, hidden, 2 x inter] and down_proj [E, inter, hidden] with biases;
    # layer_types alternate sliding (window `sliding_window`) and full attention.
    base = _common(cfg)
    inter = _req(cfg, "intermediate_size")
    moe = MoESpec(num_experts=_req(cfg, "num_local_experts"),
                  top_k=_req(cfg, "num_experts_per_tok", "experts_per_token"),
                  expert_intermediate_size=inter, router_bias=True, expert_bias=True)
    pattern = _kinds(cfg.get("layer_types"), base["num_layers"], "layer_types") if cfg.get("layer_types") else (
        "sliding", "full")
    return {**base, "intermediate_size": inter, "qkv_bias": True, "o_bias": True, "attention_sinks": True,
            "moe": moe, "attention_pattern": pattern, "sliding_window": cfg.get("sliding_window") or 128}


def _llama4_vision_params(vc: dict[str, Any], text_hidden: int) -> int:
    """Llama 4 vision encoder + projector (transformers models/llama4/modeling_llama4.py):
    unfold patch embedding (no bias), class embedding, positional embedding for (image/patch)^2 + 1
    positions, pre/post LayerNorms, encoder layers (q/k/v/o and fc1/fc2 with biases, two LayerNorms),
    the pixel-shuffle MLP adapter (fc1: intermediate -> projector_input_dim, fc2: -> projector_output_dim,
    no biases) and the multimodal projector (vision_output_dim -> text hidden, no bias)."""
    h, inter, layers = _req(vc, "hidden_size"), _req(vc, "intermediate_size"), _req(vc, "num_hidden_layers")
    patch, image, chans = _req(vc, "patch_size"), _req(vc, "image_size"), vc.get("num_channels") or 3
    positions = (image // patch) ** 2 + 1
    embed = chans * patch * patch * h + h + positions * h + 2 * (2 * h)
    layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * (2 * h)
    adapter = inter * _req(vc, "projector_input_dim") + _req(vc, "projector_input_dim") * _req(
        vc, "projector_output_dim")
    projector = _req(vc, "vision_output_dim") * text_hidden
    return embed + layers * layer + adapter + projector


def _llama4(cfg: dict[str, Any]) -> dict[str, Any]:
    # Llama4TextConfig: MoE experts of intermediate_size with one shared expert of the same size,
    # dense layers of intermediate_size_mlp, MoE every interleave_moe_layer_step-th layer; layers with
    # RoPE (no_rope_layers[i] = 1) use chunked attention of attention_chunk_size, the rest (every 4th
    # by default) full attention. The QK norm is an L2 norm without weights (use_qk_norm).
    text = _text(cfg)
    base = _common(text)
    expert = _req(text, "intermediate_size")
    moe_layers = text.get("moe_layers")
    step = text.get("interleave_moe_layer_step") or 1
    if moe_layers is not None and list(moe_layers) != list(range(step - 1, base["num_layers"], step)):
        raise InputError("llama4 configs whose moe_layers differ from interleave_moe_layer_step are not supported")
    moe = MoESpec(num_experts=_req(text, "num_local_experts"), top_k=_req(text, "num_experts_per_tok"),
                  expert_intermediate_size=expert, shared_experts=1, shared_intermediate_size=expert,
                  layer_step=step)
    rope = text.get("no_rope_layers")
    interval = text.get("no_rope_layer_interval") or 4
    if not rope:
        rope = [int((i + 1) % interval != 0) for i in range(base["num_layers"])]
    types = ["chunked_attention" if r else "full_attention" for r in rope]
    chunk = text.get("attention_chunk_size")
    pattern = _kinds(types, base["num_layers"], "no_rope_layers") if chunk else ()
    vision = cfg.get("vision_config") if "text_config" in cfg else None
    encoder = _llama4_vision_params(vision, base["hidden_size"]) if isinstance(vision, dict) else 0
    bias = bool(text.get("attention_bias", False))
    return {**base, "intermediate_size": text.get("intermediate_size_mlp") or expert, "moe": moe,
            "qkv_bias": bias, "o_bias": bias, "attention_pattern": pattern, "attention_chunk_size": chunk,
            "encoder_params": encoder}


def _siglip_params(vc: dict[str, Any], text_hidden: int) -> int:
    """SigLIP vision tower without its pooling head + Gemma 3's projector (transformers
    models/siglip, models/gemma3: mm_input_projection_weight [vision hidden, text hidden] and
    mm_soft_emb_norm over the vision hidden size)."""
    h, inter, layers = _req(vc, "hidden_size"), _req(vc, "intermediate_size"), _req(vc, "num_hidden_layers")
    patch, image, chans = _req(vc, "patch_size"), _req(vc, "image_size"), vc.get("num_channels") or 3
    if vc.get("vision_use_head"):
        raise InputError("SigLIP vision towers with a pooling head (vision_use_head) are not supported")
    embed = chans * patch * patch * h + h + (image // patch) ** 2 * h
    layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * (2 * h)
    return embed + layers * layer + 2 * h + h * text_hidden + h


_GEMMA3_TEXT_DEFAULTS = {"vocab_size": 262_208, "max_position_embeddings": 131_072, "sliding_window": 4096,
                         "sliding_window_pattern": 6}  # Gemma3TextConfig defaults (transformers)


def _gemma3(cfg: dict[str, Any]) -> dict[str, Any]:
    # Gemma3: four norms per layer, q/k norms, tied embeddings; layer i slides over `sliding_window`
    # tokens unless (i + 1) % sliding_window_pattern == 0 (5 local : 1 global).
    text = {**_GEMMA3_TEXT_DEFAULTS, **{k: v for k, v in _text(cfg).items() if v is not None}}
    base = _common(text)
    if text.get("layer_types"):
        pattern = _kinds(text["layer_types"], base["num_layers"], "layer_types")
    else:
        every = text["sliding_window_pattern"]
        pattern = tuple("full" if (i + 1) % every == 0 else "sliding" for i in range(every))
    vision = cfg.get("vision_config") if "text_config" in cfg else None
    encoder = _siglip_params(vision, base["hidden_size"]) if isinstance(vision, dict) else 0
    bias = bool(text.get("attention_bias", False))
    return {**base, "intermediate_size": _req(text, "intermediate_size"), "norms_per_layer": 4, "qk_norm": True,
            "tie_word_embeddings": bool(text.get("tie_word_embeddings", True)), "qkv_bias": bias, "o_bias": bias,
            "attention_pattern": pattern, "sliding_window": text["sliding_window"], "encoder_params": encoder}


def _gemma4(cfg: dict[str, Any]) -> dict[str, Any]:
    # Gemma4TextConfig (transformers models/gemma4/configuration_gemma4.py): layer_types (default 5
    # sliding : 1 full, last layer forced full); full-attention layers use global_head_dim and, with
    # attention_k_eq_v, num_global_key_value_heads and no separate value projection. Each decoder
    # layer also holds one learned `layer_scalar` that scales its output; the value norm has no
    # weight. Not checked against a published total: no catalog entry.
    text = _text(cfg)
    for key, what in (("hidden_size_per_layer_input", "per-layer input embeddings"),
                      ("num_kv_shared_layers", "KV shared across layers"), ("enable_moe_block", "MoE blocks"),
                      ("use_double_wide_mlp", "double-wide MLPs")):
        if text.get(key):
            raise InputError(f"gemma4 configs with {what} ({key}) are not supported")
    text = {"vocab_size": 262_144, "max_position_embeddings": 131_072, **text}
    base = _common(text)
    types = list(text.get("layer_types") or [
        "sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(base["num_layers"])])
    if types:
        types[-1] = "full_attention"
    k_eq_v = bool(text.get("attention_k_eq_v", False))
    bias = bool(text.get("attention_bias", False))
    return {**base, "intermediate_size": _req(text, "intermediate_size"), "norms_per_layer": 4, "qk_norm": True,
            "tie_word_embeddings": bool(text.get("tie_word_embeddings", True)), "qkv_bias": bias, "o_bias": bias,
            "attention_pattern": _kinds(types, base["num_layers"], "layer_types"),
            "sliding_window": text.get("sliding_window") or 512, "full_head_dim": text.get("global_head_dim") or 512,
            "full_kv_heads": text.get("num_global_key_value_heads") if k_eq_v else None, "full_k_eq_v": k_eq_v,
            "scalars_per_layer": 1}


def _glm4_moe(cfg: dict[str, Any]) -> dict[str, Any]:
    # transformers models/glm4_moe: q/k/v bias = attention_bias, o_proj without bias, optional q/k
    # norms (use_qk_norm), DeepSeek-V3-style MoE (shared experts, e_score_correction_bias, first
    # first_k_dense_replace layers dense), num_nextn_predict_layers MTP layers.
    moe = MoESpec(num_experts=_req(cfg, "n_routed_experts"), top_k=_req(cfg, "num_experts_per_tok"),
                  expert_intermediate_size=_req(cfg, "moe_intermediate_size"),
                  shared_experts=cfg.get("n_shared_experts") or 0,
                  shared_intermediate_size=_req(cfg, "moe_intermediate_size"),
                  first_k_dense_layers=cfg.get("first_k_dense_replace") or 0, router_bias=True)
    return {**_common(cfg), "intermediate_size": _req(cfg, "intermediate_size"),
            "qkv_bias": bool(cfg.get("attention_bias", False)), "qk_norm": bool(cfg.get("use_qk_norm", False)),
            "moe": moe, "mtp_layers": cfg.get("num_nextn_predict_layers") or 0}


ARCHITECTURES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "llama": _llama, "mistral": _llama, "mixtral": _mixtral, "qwen2": _qwen2, "qwen2_moe": _qwen2_moe,
    "gemma": _gemma, "gemma2": _gemma2, "phi3": _llama, "falcon": _falcon, "gptj": _gptj,
    "deepseek_v2": _deepseek, "deepseek_v3": _deepseek, "qwen3": _qwen3, "qwen3_moe": _qwen3_moe,
    "gpt_oss": _gpt_oss, "llama4": _llama4, "llama4_text": _llama4, "gemma3": _gemma3, "gemma3_text": _gemma3,
    "gemma4": _gemma4, "gemma4_text": _gemma4, "glm4_moe": _glm4_moe,
}

# `architectures` class names -> the family above. A derivative that keeps an upstream model class
# under its own model_type (Kimi K2: model_type kimi_k2, DeepseekV3ForCausalLM) resolves by its class.
CLASSES = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2", "Qwen2MoeForCausalLM": "qwen2_moe", "GemmaForCausalLM": "gemma",
    "Gemma2ForCausalLM": "gemma2", "Phi3ForCausalLM": "phi3", "FalconForCausalLM": "falcon",
    "GPTJForCausalLM": "gptj", "DeepseekV2ForCausalLM": "deepseek_v2", "DeepseekV3ForCausalLM": "deepseek_v3",
    "Qwen3ForCausalLM": "qwen3", "Qwen3MoeForCausalLM": "qwen3_moe", "GptOssForCausalLM": "gpt_oss",
    "Llama4ForConditionalGeneration": "llama4", "Llama4ForCausalLM": "llama4",
    "Gemma3ForConditionalGeneration": "gemma3", "Gemma3ForCausalLM": "gemma3",
    "Gemma4ForConditionalGeneration": "gemma4", "Gemma4ForCausalLM": "gemma4", "Glm4MoeForCausalLM": "glm4_moe",
}
# The family name a plan carries: one per architecture (text-only variants share their family's
# name). None of the new families is in the engine flow's converter list, so plans of them take
# the PyTorch flow.
_FAMILY = {"llama4_text": "llama4", "gemma3_text": "gemma3", "gemma4_text": "gemma4"}


def resolve_family(cfg: dict[str, Any], source: str) -> str:
    """The family of a config: its model_type when supported, else its `architectures` class."""
    model_type = cfg.get("model_type")
    if model_type in ARCHITECTURES:
        return _FAMILY.get(model_type, model_type)
    classes = cfg.get("architectures")
    for cls in classes if isinstance(classes, list) else []:
        if cls in CLASSES:
            return CLASSES[cls]
    raise InputError(f"{source}: unsupported model_type {model_type!r}; supported: "
                     f"{', '.join(sorted(ARCHITECTURES))}; nor do its architectures ({classes!r}) name one of "
                     f"{', '.join(sorted(CLASSES))}")


def spec_from_config(cfg: dict[str, Any], source: str, name: str | None = None) -> ModelSpec:
    check_config_types(cfg, source)
    family = resolve_family(cfg, source)
    try:
        fields = ARCHITECTURES[family](cfg)
        name = name or str(cfg.get("_name_or_path") or Path(source).parent.name or family)
        return ModelSpec(name=name, architecture=family, source=source, hf_repo=None, **fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{source}: {field}: {err['msg']}") from None
    except (TypeError, ZeroDivisionError, AttributeError) as exc:
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
    config = _read_json(config_path)
    spec = spec_from_config(config, str(config_path),
                            name=path.name if path.is_dir() else config_path.parent.name or None)
    quant = read_checkpoint_quant(config, config_path, _read_json) if isinstance(config, dict) else None
    if quant is not None:
        spec = spec.model_copy(update={"checkpoint_quant": quant})
    files = _weight_files(path if path != config_path else path.parent)
    # A quantized checkpoint's headers count packed storage (two MXFP4 values per uint8, eight
    # GPTQ values per int32) and scale tensors, not parameters: no exact count from them.
    params = safetensors_params(files) if files and quant is None else None
    if files:  # the weight files' size, shown beside the weight bytes the plan computes
        spec = spec.model_copy(update={"checkpoint_size_gib": round(sum(f.stat().st_size for f in files) / 2**30, 2)})
    return spec, params
