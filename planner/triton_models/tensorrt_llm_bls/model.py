"""Triton Python backend model: the text-in/text-out pipeline as one model (business logic scripting).

It calls the repository's ``preprocessing``, ``tensorrt_llm`` and ``postprocessing`` models
in turn, with the tensor names of NVIDIA's ``inflight_batcher_llm`` repository, so it takes
the same requests as the ensemble (and as NVIDIA's ``tensorrt_llm_bls``).  When the model
is decoupled and a request sets ``stream``, every response of the engine is decoded and
sent as it arrives.  NumPy only: no torch, so it also runs in a CPU rehearsal.

Parameters (config.pbtxt): ``tensorrt_llm_model_name`` (default ``tensorrt_llm``),
``accumulate_tokens`` (default false: each streamed response carries the text of its new
tokens; true: the text of every token so far).  Speculative decoding through a draft
model (``tensorrt_llm_draft_model_name``) is not supported by this model.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

_TRUE = {"true", "1", "t", "y", "yes"}

# request input -> preprocessing input
_TO_PREPROCESSING = {
    "text_input": "QUERY",
    "max_tokens": "REQUEST_OUTPUT_LEN",
    "bad_words": "BAD_WORDS_DICT",
    "stop_words": "STOP_WORDS_DICT",
    "embedding_bias_words": "EMBEDDING_BIAS_WORDS",
    "embedding_bias_weights": "EMBEDDING_BIAS_WEIGHTS",
    "end_id": "END_ID",
    "pad_id": "PAD_ID",
}
# preprocessing output -> tensorrt_llm input
_PREPROCESSED = {
    "INPUT_ID": "input_ids",
    "REQUEST_INPUT_LEN": "input_lengths",
    "REQUEST_OUTPUT_LEN": "request_output_len",
    "BAD_WORDS_IDS": "bad_words_list",
    "STOP_WORDS_IDS": "stop_words_list",
    "EMBEDDING_BIAS": "embedding_bias",
    "OUT_END_ID": "end_id",
    "OUT_PAD_ID": "pad_id",
}
# request inputs whose tensorrt_llm name differs; every other input not listed above or in
# _NOT_FORWARDED keeps its name (min_length/min_tokens, random_seed/seed, ... as the release
# that generated this repository spells them)
_RENAMED = {
    "top_k": "runtime_top_k",
    "top_p": "runtime_top_p",
    "length_penalty": "len_penalty",
    "stream": "streaming",
    "prompt_table_extra_id": "prompt_table_extra_ids",
}
_NOT_FORWARDED = {"num_draft_tokens", "use_draft_logits"}
_ENGINE_OUTPUTS = ["output_ids", "sequence_length"]


def _param(config: dict[str, Any], key: str, default: str) -> str:
    value = config.get("parameters", {}).get(key, {}).get("string_value")
    return default if not value or value.startswith("${") else value


def _error_response(message: str) -> pb_utils.InferenceResponse:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))


def _check(response: Any, model: str) -> Any:
    if response.has_error():
        raise RuntimeError(f"{model}: {response.error().message()}")
    return response


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.decoupled = bool(config.get("model_transaction_policy", {}).get("decoupled", False))
        self.engine = _param(config, "tensorrt_llm_model_name", "tensorrt_llm")
        self.accumulate = _param(config, "accumulate_tokens", "false").lower() in _TRUE
        self.outputs = {out["name"] for out in config.get("output", [])}

    # -- the three steps ----------------------------------------------------------------------

    def _preprocess(self, request: Any) -> dict[str, pb_utils.Tensor]:
        inputs = []
        for name, target in _TO_PREPROCESSING.items():
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is not None:
                inputs.append(pb_utils.Tensor(target, tensor.as_numpy()))
        step = pb_utils.InferenceRequest(
            model_name="preprocessing", inputs=inputs, requested_output_names=list(_PREPROCESSED)
        )
        response = _check(step.exec(), "preprocessing")
        out = {}
        for name, target in _PREPROCESSED.items():
            tensor = pb_utils.get_output_tensor_by_name(response, name)
            if tensor is not None:
                out[target] = pb_utils.Tensor(target, tensor.as_numpy())
        return out

    def _engine_request(self, request: Any, preprocessed: dict[str, pb_utils.Tensor]) -> Any:
        inputs = dict(preprocessed)
        for tensor in request.inputs():
            name = tensor.name()
            if name in _TO_PREPROCESSING or name in _NOT_FORWARDED:
                continue
            target = _RENAMED.get(name, name)
            inputs[target] = pb_utils.Tensor(target, tensor.as_numpy())
        wanted = [n for n in request.requested_output_names() if n in self.outputs and n != "text_output"]
        return pb_utils.InferenceRequest(
            model_name=self.engine, inputs=list(inputs.values()), requested_output_names=_ENGINE_OUTPUTS + wanted
        )

    def _postprocess(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        step = pb_utils.InferenceRequest(
            model_name="postprocessing",
            inputs=[pb_utils.Tensor("TOKENS_BATCH", tokens), pb_utils.Tensor("SEQUENCE_LENGTH", lengths)],
            requested_output_names=["OUTPUT"],
        )
        response = _check(step.exec(), "postprocessing")
        return pb_utils.get_output_tensor_by_name(response, "OUTPUT").as_numpy()

    # -- responses ------------------------------------------------------------------------------

    def _reply(self, engine_response: Any, tokens: np.ndarray, lengths: np.ndarray) -> pb_utils.InferenceResponse:
        tensors = [pb_utils.Tensor("text_output", self._postprocess(tokens, lengths))]
        for tensor in engine_response.output_tensors():
            if tensor.name() in self.outputs and tensor.name() != "text_output":
                tensors.append(pb_utils.Tensor(tensor.name(), tensor.as_numpy()))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    @staticmethod
    def _tokens(response: Any) -> tuple[np.ndarray, np.ndarray] | None:
        ids = pb_utils.get_output_tensor_by_name(response, "output_ids")
        lengths = pb_utils.get_output_tensor_by_name(response, "sequence_length")
        if ids is None or lengths is None:
            return None  # an empty final response of a decoupled engine
        return ids.as_numpy(), lengths.as_numpy()

    def _stream(self, engine_request: Any, sender: Any) -> None:
        """Decode and send each engine response as it arrives; the last send is final."""
        so_far: np.ndarray | None = None
        for response in engine_request.exec(decoupled=True):
            got = self._tokens(_check(response, self.engine))
            if got is None:
                continue
            ids, lengths = got
            if self.accumulate:
                so_far = ids if so_far is None else np.concatenate([so_far, ids], axis=-1)
                ids, lengths = so_far, np.full_like(lengths, so_far.shape[-1])
            sender.send(self._reply(response, ids, lengths))
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def _whole(self, engine_request: Any) -> pb_utils.InferenceResponse:
        """One response: the engine's last response that carries tokens, decoded."""
        responses = engine_request.exec(decoupled=True) if self.decoupled else [engine_request.exec()]
        last = None
        for response in responses:
            if self._tokens(_check(response, self.engine)) is not None:
                last = response
        if last is None:
            raise RuntimeError(f"{self.engine} returned no tokens")
        ids, lengths = self._tokens(last)
        return self._reply(last, ids, lengths)

    def _streaming_requested(self, request: Any) -> bool:
        flag = pb_utils.get_input_tensor_by_name(request, "stream")
        return flag is not None and bool(flag.as_numpy().any())

    def execute(self, requests: list[Any]) -> list[Any] | None:
        replies = []
        for request in requests:
            sender = request.get_response_sender() if self.decoupled else None
            try:
                streaming = self._streaming_requested(request)
                if streaming and not self.decoupled:
                    raise ValueError("stream=true needs the decoupled transaction policy (--streaming)")
                engine_request = self._engine_request(request, self._preprocess(request))
                if streaming:
                    self._stream(engine_request, sender)
                    continue
                reply = self._whole(engine_request)
            except Exception as exc:  # one request's failure is its own error response
                reply = _error_response(f"tensorrt_llm_bls: {exc}")
            if sender is not None:
                sender.send(reply, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            else:
                replies.append(reply)
        return None if self.decoupled else replies
