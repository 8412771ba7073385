"""CPU stand-in for the llmapi ``tensorrt_llm`` model (TensorRT-LLM PyTorch flow), for rehearsals.

It keeps the release model's contract as Triton sees it: the same config.pbtxt (tensors read
from this model's own config), the same ``auto_complete_config`` that takes ``max_batch_size``
and the decoupled policy from ``triton_config`` in ``model.yaml`` (so a repository whose
triton_config is wrong fails here as it would on a GPU), the same request fields
(``text_input``, ``sampling_param_max_tokens``, ``streaming``, ``stop``) and the rule that
streaming needs the decoupled policy. Instead of an LLM it tokenizes the prompt with the
tokenizer ``model.yaml`` names and "generates" the prompt's own tokens, cycled. As the release's
model sends each streamed response with the LLM's text so far, so does this one.

Parameter (config.pbtxt, optional): ``standin_token_delay_ms`` sleeps between tokens.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
import yaml

MODEL_YAML = "model.yaml"
# SamplingParams' default max_tokens in the LLM API, used when a request does not say
DEFAULT_MAX_TOKENS = 32


def _model_yaml(directory: str) -> dict[str, Any]:
    path = os.path.join(directory, os.environ.get("LLM_CONFIG_PATH", MODEL_YAML))
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise pb_utils.TritonModelException(f"{path} is not a mapping of LLM() arguments")
    return data


def _scalar(request: Any, name: str, default: Any) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return default
    value = tensor.as_numpy()
    if value.size != 1:
        raise ValueError(f"expected a scalar tensor for {name}")
    return value.reshape(-1)[0].item()


class TritonPythonModel:
    @classmethod
    def auto_complete_config(cls, auto_complete_model_config: Any) -> Any:
        # As the release's model: both keys are required; a missing one fails the load.
        triton_config = _model_yaml(pb_utils.get_model_dir())["triton_config"]
        auto_complete_model_config.set_model_transaction_policy(dict(decoupled=bool(triton_config["decoupled"])))
        auto_complete_model_config.set_max_batch_size(int(triton_config["max_batch_size"]))
        return auto_complete_model_config

    def initialize(self, args: dict[str, str]) -> None:
        from transformers import AutoTokenizer

        config = json.loads(args["model_config"])
        directory = os.path.join(args["model_repository"], args["model_version"])
        llm_args = _model_yaml(directory)
        self.decoupled = bool(llm_args["triton_config"]["decoupled"])
        served = bool(config.get("model_transaction_policy", {}).get("decoupled", False))
        if served != self.decoupled:
            raise pb_utils.TritonModelException(
                f"model.yaml sets decoupled {self.decoupled} but Triton serves {served} "
                "(was the server started with --disable-auto-complete-config?)")
        delay = config.get("parameters", {}).get("standin_token_delay_ms", {}).get("string_value", "0")
        self.delay_s = max(0.0, float(delay or 0) / 1000.0)
        source = llm_args.get("tokenizer") or llm_args["model"]
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self._inflight = 0
        self._idle = threading.Condition()

    def _job(self, request: Any) -> tuple[list[int], bool]:
        text = pb_utils.get_input_tensor_by_name(request, "text_input")
        if text is None:
            raise ValueError("text_input is missing from the request")
        values = text.as_numpy()
        if values.ndim > 1:
            raise ValueError("text_input must be a 1-D tensor (one prompt)")
        prompt = values[0].decode("utf-8") if isinstance(values[0], bytes) else str(values[0])
        max_tokens = int(_scalar(request, "sampling_param_max_tokens", DEFAULT_MAX_TOKENS))
        streaming = bool(_scalar(request, "streaming", False))
        if streaming and not self.decoupled:
            raise ValueError("Streaming is only supported in decoupled mode.")
        ids = [t for t in self.tokenizer.encode(prompt, add_special_tokens=False)]
        generated = [ids[i % len(ids)] for i in range(max(0, max_tokens))] if ids else []
        return generated, streaming

    def _response(self, tokens: list[int]) -> Any:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("text_output", np.array([text.encode("utf-8")], dtype=np.object_))])

    def _run(self, generated: list[int], streaming: bool, sender: Any) -> None:
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            if not streaming:
                time.sleep(self.delay_s * len(generated))
                sender.send(self._response(generated), flags=final)
                return
            for step in range(1, len(generated) + 1):
                time.sleep(self.delay_s)
                sender.send(self._response(generated[:step]), flags=final if step == len(generated) else 0)
            if not generated:
                sender.send(self._response([]), flags=final)
        except Exception as exc:
            sender.send(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(exc))),
                        flags=final)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def execute(self, requests: list[Any]) -> list[Any] | None:
        if not self.decoupled:
            responses = []
            for request in requests:
                try:
                    generated, _ = self._job(request)
                    time.sleep(self.delay_s * len(generated))
                    responses.append(self._response(generated))
                except Exception as exc:
                    responses.append(pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(f"Error generating request: {exc}")))
            return responses
        for request in requests:
            sender = request.get_response_sender()
            if _scalar(request, "stop", False):
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError("Request cancelled by client")),
                            flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                continue
            try:
                generated, streaming = self._job(request)
            except Exception as exc:
                sender.send(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"Error generating request: {exc}")),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                continue
            with self._idle:
                self._inflight += 1
            threading.Thread(target=self._run, args=(generated, streaming, sender), daemon=True).start()
        return None

    def finalize(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=5.0)
