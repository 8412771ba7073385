"""Types of the optional fields of a Hugging Face config.json, checked before anything reads them.

The architecture readers in hf_config.py take optional fields with `cfg.get(key) or default` and
`bool(...)`, which turns a string "false" into True and a 0 into the default. These checks refuse
such values first, so a malformed config is one error line rather than a plausible wrong model.
Field names follow the `PretrainedConfig` subclasses in transformers (configuration_<model_type>.py).
"""

from __future__ import annotations

from typing import Any

from planner.errors import InputError

BOOLEANS = ("tie_word_embeddings", "attention_bias", "mlp_bias", "new_decoder_architecture", "multi_query",
            "parallel_attn", "bias", "use_cache")
# Present means at least 1: a head count, a width or a length of 0 describes no model. (Required
# fields are checked where they are read, in hf_config._req and the ModelSpec bounds.)
POSITIVE = ("num_key_value_heads", "num_kv_heads", "head_dim", "max_position_embeddings", "n_positions",
            "ffn_hidden_size", "n_inner", "decoder_sparse_step")
# Present means at least 0: here 0 is meaningful (no low-rank query path, no shared expert, ...).
NON_NEGATIVE = ("q_lora_rank", "n_shared_experts", "first_k_dense_replace", "num_nextn_predict_layers",
                "shared_expert_intermediate_size")
STRINGS = ("model_type", "torch_dtype", "dtype", "_name_or_path", "topk_method")


def check_config_types(cfg: Any, source: str) -> None:
    """Raise InputError for the first field whose JSON type or range cannot be meant."""
    if not isinstance(cfg, dict):
        raise InputError(f"{source}: config.json must be a JSON object")
    for key in STRINGS:
        value = cfg.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f"{source}: {key} must be a string, got {_shown(value)}")
    for key in BOOLEANS:
        value = cfg.get(key)
        if value is not None and not isinstance(value, bool):
            raise InputError(f"{source}: {key} must be true or false, got {_shown(value)}")
    for keys, low in ((POSITIVE, 1), (NON_NEGATIVE, 0)):
        for key in keys:
            value = cfg.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"{source}: {key} must be an integer, got {_shown(value)}")
            if value < low:
                raise InputError(f"{source}: {key} must be at least {low}, got {value}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
