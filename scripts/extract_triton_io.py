"""Summarise the tensors and parameters of NVIDIA's inflight_batcher_llm config templates as YAML.

Used to write the `triton:` section of planner/data/trtllm/<version>.yaml from the
config.pbtxt templates at a release tag, e.g.

    git --git-dir=<tensorrtllm_backend>.git show v0.19.0:all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt \
        > /tmp/tensorrt_llm.pbtxt
    python scripts/extract_triton_io.py /tmp/tensorrt_llm.pbtxt

`${...}` placeholders are replaced before parsing: a placeholder data type becomes the
name in `PLACEHOLDER_TYPES` (resolved per profile), any other placeholder becomes 0/"".
"""

from __future__ import annotations

import re
import sys

import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

# Placeholder data types keep a symbolic name; the profile resolves them.
PLACEHOLDER_TYPES = {
    "${logits_datatype}": "TYPE_FP32",
    "${encoder_input_features_data_type}": "TYPE_FP16",
    "${prompt_embedding_table_data_type}": "TYPE_FP16",
}


def _substitute(text: str) -> str:
    for placeholder, dtype in PLACEHOLDER_TYPES.items():
        text = text.replace(f"data_type: {placeholder}", f"data_type: {dtype}")
    text = re.sub(r'"\$\{[^}]*\}"', '""', text)
    text = re.sub(r"decoupled: \$\{[^}]*\}", "decoupled: false", text)
    return re.sub(r"\$\{[^}]*\}", "0", text)


def _tensor(t) -> dict:
    out = {"name": t.name, "data_type": model_config_pb2.DataType.Name(t.data_type), "dims": list(t.dims)}
    if getattr(t, "optional", False):
        out["optional"] = True
    if t.HasField("reshape"):
        out["reshape"] = list(t.reshape.shape)
    if getattr(t, "allow_ragged_batch", False):
        out["ragged"] = True
    return out


def summarise(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        cfg = text_format.Parse(_substitute(f.read()), model_config_pb2.ModelConfig())
    seen: set[str] = set()
    outputs = []
    for t in cfg.output:
        if t.name not in seen:  # NVIDIA's ensemble template lists one output twice
            seen.add(t.name)
            outputs.append(_tensor(t))
    return {
        "inputs": [_tensor(t) for t in cfg.input],
        "outputs": outputs,
        "parameters": sorted(cfg.parameters),
    }


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(yaml.safe_dump({p: summarise(p)}, sort_keys=False, default_flow_style=None, width=110))
