"""Fuzzing the user's inputs: config.json, safetensors headers, fleet strings, option files.

Whatever hypothesis makes of them, `planner plan` exits 0, 2 or 3, never prints a traceback,
answers a refusal in one line and finishes within a bound.
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import yaml
from _hostile_helpers import Result, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.hf_config import ARCHITECTURES

BOUND_S = 30  # a plan takes well under a second; the bound leaves room for a loaded machine
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE_CONFIG = {"model_type": "llama", "hidden_size": 1024, "num_attention_heads": 16, "num_hidden_layers": 8,
               "num_key_value_heads": 4, "vocab_size": 32000, "intermediate_size": 4096,
               "max_position_embeddings": 4096}
CONFIG_KEYS = sorted({*BASE_CONFIG, "head_dim", "tie_word_embeddings", "torch_dtype", "num_local_experts",
                      "num_experts_per_tok", "num_experts", "moe_intermediate_size", "attention_bias",
                      "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "q_lora_rank",
                      "n_routed_experts", "first_k_dense_replace", "new_decoder_architecture", "multi_query"})

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.integers(-3, 300)
           | st.floats(allow_nan=False) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def check(result: Result) -> None:
    assert result.code in (0, 2, 3), (result.code, result.err[-1000:])
    assert "Traceback" not in result.err
    assert result.seconds < BOUND_S, result.seconds
    if result.code == 2:
        assert len(result.err.strip().splitlines()) == 1, result.err[:1000]


@FUZZ
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values | st.sampled_from(sorted(ARCHITECTURES)),
                       max_size=6),
       st.booleans())
def test_config_json(changes, drop_base):
    config = changes if drop_base else {**BASE_CONFIG, **changes}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        check(run("plan", "--model", tmp, "--gpus", "h100x8", "--format", "json"))


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_config_json_bytes(raw):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_bytes(raw)
        check(run("plan", "--model", tmp, "--gpus", "h100", "--format", "json"))


tensor_infos = st.fixed_dictionaries({"dtype": st.sampled_from(["F16", "BF16", "F32", "I8"]) | json_values,
                                      "shape": st.lists(st.integers(-2, 2**40), max_size=4) | json_values,
                                      "data_offsets": json_values})
headers = (st.dictionaries(st.text(max_size=8), tensor_infos | json_values, max_size=4)
           .map(lambda h: json.dumps(h).encode()) | st.binary(max_size=200))


@FUZZ
@given(headers, st.one_of(st.none(), st.integers(0, 2**64 - 1)))
def test_safetensors_header(header, declared_length):
    length = len(header) if declared_length is None else declared_length
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(BASE_CONFIG))
        (Path(tmp) / "model.safetensors").write_bytes(struct.pack("<Q", length) + header)
        check(run("plan", "--model", tmp, "--gpus", "h100", "--format", "json"))


fleets = (st.from_regex(r"\A(\d{1,9}\s?x\s?)?(h100|l4|a100-80gb|gb200|t4|zz|)(\s?x\s?\d{1,9})?\Z", fullmatch=True)
          | st.text(alphabet="0123456789xXhHlL10/.- :", max_size=40) | st.text(max_size=30))


@FUZZ
@given(fleets)
def test_fleet_strings(fleet):
    check(run("plan", "llama-3.1-8b", "--gpus", fleet, "--format", "json"))


@FUZZ
@given(st.dictionaries(st.sampled_from(["gpu", "gpus_per_node", "nodes", "tp_across_nodes", "color"]),
                       json_values | st.sampled_from(["h100", "l4", "gb200"]) | st.integers(0, 10**7), max_size=4))
def test_fleet_files(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.yaml"
        path.write_text(yaml.safe_dump(content))
        check(run("plan", "llama-3.1-8b", "--gpus", path, "--format", "json"))


OPTION_KEYS = ["model", "gpus", "quant", "max-batch-size", "max_input_len", "tp", "pp", "tokens-per-block",
               "streaming", "max-queue-delay-us", "kv-cache-free-gpu-mem-fraction", "hf_model_dir", "bls",
               "model_name", "what"]
option_values = (json_values | st.sampled_from(["llama-3.1-8b", "h100x8", "l4", "fp8", "json"])
                 | st.integers(-5, 10**12))


@FUZZ
@given(st.dictionaries(st.sampled_from(OPTION_KEYS), option_values, max_size=5) | json_values,
       st.text(max_size=60))
def test_option_files(content, junk):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.yaml"
        path.write_text(yaml.safe_dump(content))
        check(run("plan", "-c", path, "--format", "json"))
        path.write_text(junk)
        check(run("plan", "-c", path, "--format", "json"))
