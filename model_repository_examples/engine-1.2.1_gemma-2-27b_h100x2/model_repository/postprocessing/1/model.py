"""Triton Python backend model: token ids back to text for the TensorRT-LLM ensemble.

Inputs ``TOKENS_BATCH`` [batch, beam, seq] and ``SEQUENCE_LENGTH`` [batch, beam],
output ``OUTPUT`` [batch, beam] strings, as in NVIDIA's ``inflight_batcher_llm``
``postprocessing`` model.

Parameters (config.pbtxt): ``tokenizer_dir`` (required), ``skip_special_tokens``
(default true).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from transformers import AutoTokenizer

_TRUE = {"true", "1", "t", "y", "yes"}


def _param(config: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    if value is None or value.startswith("${"):
        return default
    return value


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        tokenizer_dir = _param(config, "tokenizer_dir")
        if not tokenizer_dir:
            raise pb_utils.TritonModelException("postprocessing: parameter tokenizer_dir is not set")
        self.skip_special_tokens = (_param(config, "skip_special_tokens", "true") or "true").lower() in _TRUE
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        output = pb_utils.get_output_config_by_name(config, "OUTPUT")
        self.output_dtype = pb_utils.triton_string_to_numpy(output["data_type"])

    def _decode(self, request: Any) -> pb_utils.InferenceResponse:
        tokens = pb_utils.get_input_tensor_by_name(request, "TOKENS_BATCH").as_numpy()
        lengths = pb_utils.get_input_tensor_by_name(request, "SEQUENCE_LENGTH").as_numpy()
        if tokens.ndim == 2:  # no beam axis: one beam per batch item
            tokens = tokens[:, np.newaxis, :]
        lengths = lengths.reshape(tokens.shape[0], tokens.shape[1])
        sequences = [
            tokens[b, k, : int(lengths[b, k])].tolist()
            for b in range(tokens.shape[0])
            for k in range(tokens.shape[1])
        ]
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=self.skip_special_tokens)
        out = np.array([t.encode("utf-8") for t in texts], dtype=object).reshape(tokens.shape[:2])
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("OUTPUT", out.astype(self.output_dtype))]
        )

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse]:
        responses = []
        for request in requests:
            try:
                responses.append(self._decode(request))
            except Exception as exc:  # keep the other requests of the batch alive
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(f"postprocessing: {exc}")
                    )
                )
        return responses
