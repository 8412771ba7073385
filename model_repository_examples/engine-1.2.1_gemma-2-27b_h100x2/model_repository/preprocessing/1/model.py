"""Triton Python backend model: text to token ids for the TensorRT-LLM ensemble.

Tensor names and shapes follow the ``preprocessing`` model of NVIDIA's
``inflight_batcher_llm`` repository, so the file drops into a model repository
generated for any supported release.  Only outputs declared in this model's own
config are produced, which keeps it usable across releases whose tensor lists
differ.  Multimodal inputs are rejected with an error response.

Parameters (config.pbtxt): ``tokenizer_dir`` (required), ``add_special_tokens``
(default true).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from transformers import AutoTokenizer

_TRUE = {"true", "1", "t", "y", "yes"}
_MULTIMODAL_INPUTS = ("IMAGE_BYTES", "IMAGE_URL", "VIDEO_BYTES")


def _param(config: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    # An unfilled template placeholder means "not set".
    if value is None or value.startswith("${"):
        return default
    return value


def _strings(array: np.ndarray) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        tokenizer_dir = _param(config, "tokenizer_dir")
        if not tokenizer_dir:
            raise pb_utils.TritonModelException("preprocessing: parameter tokenizer_dir is not set")
        self.add_special_tokens = (_param(config, "add_special_tokens", "true") or "true").lower() in _TRUE
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.end_id = self._single_id(self.tokenizer.eos_token)
        self.pad_id = self._single_id(self.tokenizer.pad_token)
        self.vocab_size = len(self.tokenizer)
        self.outputs = {
            out["name"]: pb_utils.triton_string_to_numpy(out["data_type"]) for out in config.get("output", [])
        }

    def _single_id(self, token: str | None) -> int:
        if token is None:
            return 0
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        return int(ids[0]) if ids else 0

    def _encode_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = [self.tokenizer.encode(t, add_special_tokens=self.add_special_tokens) for t in texts]
        lengths = np.array([[len(x)] for x in ids], dtype=np.int32)
        width = max(1, int(lengths.max(initial=0)))
        padded = np.full((len(ids), width), self.pad_id, dtype=np.int32)
        for row, seq in enumerate(ids):
            padded[row, : len(seq)] = seq
        return padded, lengths

    def _word_lists(self, words: np.ndarray | None, batch: int) -> np.ndarray:
        """Encode word lists as TensorRT-LLM expects: [batch, 2, n] of flat ids and end offsets (-1 pad)."""
        if words is None:
            return np.zeros((batch, 2, 0), dtype=np.int32)
        rows: list[tuple[list[int], list[int]]] = []
        for item in words.reshape(batch, -1):
            flat: list[int] = []
            offsets: list[int] = []
            for word in _strings(item):
                ids = self.tokenizer.encode(word, add_special_tokens=False) if word else []
                if ids:
                    flat += ids
                    offsets.append(len(flat))
            rows.append((flat, offsets))
        width = max(1, max(len(flat) for flat, _ in rows))
        out = np.zeros((batch, 2, width), dtype=np.int32)
        out[:, 1, :] = -1
        for row, (flat, offsets) in enumerate(rows):
            out[row, 0, : len(flat)] = flat
            out[row, 1, : len(offsets)] = offsets
        return out

    def _embedding_bias(self, words: np.ndarray | None, weights: np.ndarray | None, batch: int) -> np.ndarray:
        if words is None or weights is None:
            return np.zeros((batch, 0), dtype=np.float32)
        bias = np.zeros((batch, self.vocab_size), dtype=np.float32)
        for row, (item_words, item_weights) in enumerate(
            zip(words.reshape(batch, -1), weights.reshape(batch, -1), strict=True)
        ):
            for word, weight in zip(_strings(item_words), item_weights, strict=True):
                for token in self.tokenizer.encode(word, add_special_tokens=False):
                    bias[row, token] += weight
        return bias

    def _ids_or_default(self, request: Any, name: str, default: int, batch: int) -> np.ndarray:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is None:
            return np.full((batch, 1), default, dtype=np.int32)
        return tensor.as_numpy().astype(np.int32).reshape(batch, 1)

    def _process(self, request: Any) -> pb_utils.InferenceResponse:
        for name in _MULTIMODAL_INPUTS:
            if pb_utils.get_input_tensor_by_name(request, name) is not None:
                raise ValueError(f"{name}: multimodal inputs are not supported by this preprocessing model")

        def optional(name: str) -> np.ndarray | None:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            return None if tensor is None else tensor.as_numpy()

        query = pb_utils.get_input_tensor_by_name(request, "QUERY").as_numpy()
        batch = query.shape[0]
        input_ids, input_lens = self._encode_batch(_strings(query))
        pad_id = self._ids_or_default(request, "PAD_ID", self.pad_id, batch)
        decoder_query = optional("DECODER_QUERY")
        if decoder_query is not None:
            decoder_ids, decoder_lens = self._encode_batch(_strings(decoder_query))
        else:
            decoder_ids, decoder_lens = pad_id.copy(), np.ones((batch, 1), dtype=np.int32)
        values: dict[str, np.ndarray] = {
            "INPUT_ID": input_ids,
            "REQUEST_INPUT_LEN": input_lens,
            "DECODER_INPUT_ID": decoder_ids,
            "REQUEST_DECODER_INPUT_LEN": decoder_lens,
            "REQUEST_OUTPUT_LEN": pb_utils.get_input_tensor_by_name(request, "REQUEST_OUTPUT_LEN").as_numpy(),
            "BAD_WORDS_IDS": self._word_lists(optional("BAD_WORDS_DICT"), batch),
            "STOP_WORDS_IDS": self._word_lists(optional("STOP_WORDS_DICT"), batch),
            "EMBEDDING_BIAS": self._embedding_bias(
                optional("EMBEDDING_BIAS_WORDS"), optional("EMBEDDING_BIAS_WEIGHTS"), batch
            ),
            "OUT_END_ID": self._ids_or_default(request, "END_ID", self.end_id, batch),
            "OUT_PAD_ID": pad_id,
        }
        extra_id = optional("PROMPT_TABLE_EXTRA_ID")
        if extra_id is not None:
            # Ids beyond the vocabulary are prompt-table rows; they carry the request's extra id.
            values["OUT_PROMPT_TABLE_EXTRA_IDS"] = np.where(
                input_ids >= self.vocab_size, extra_id.reshape(batch, 1), 0
            )
        tensors = [
            pb_utils.Tensor(name, value.astype(self.outputs[name]))
            for name, value in values.items()
            if name in self.outputs
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse]:
        responses = []
        for request in requests:
            try:
                responses.append(self._process(request))
            except Exception as exc:  # one bad request must not fail the others in the batch
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(f"preprocessing: {exc}")
                    )
                )
        return responses
