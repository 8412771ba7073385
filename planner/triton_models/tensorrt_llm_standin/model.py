"""CPU stand-in for the ``tensorrt_llm`` model, for rehearsing a model repository without a GPU.

It keeps the real model's contract: the same input and output tensors (read from
this model's own config, so whatever set the pinned release declares), the same
decoupled policy, ``streaming`` semantics and ``exclude_input_in_output``.  The
"generated" tokens are the prompt's own token ids, cycled, so they always decode
to text of the tokenizer that produced them and answers are predictable.

Parameters (config.pbtxt, all optional): ``standin_token_delay_ms`` sleeps
between tokens to give latency measurements something to see.  Every other
parameter of the real model is accepted and ignored.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

_MAIN_OUTPUTS = ("output_ids", "sequence_length")


def _flag(config: dict[str, Any], key: str) -> bool:
    return bool(config.get("model_transaction_policy", {}).get(key, False))


def _number(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get("parameters", {}).get(key, {}).get("string_value", "")
    try:
        return float(value)
    except ValueError:
        return default


@dataclass
class _Job:
    """What one request asks for, read out of the request before any response is sent."""

    prompts: list[list[int]]
    generated: list[list[int]]
    beams: int
    pad_id: int
    streaming: bool
    exclude_input: bool
    requested: list[str]


def _scalars(request: Any, name: str, batch: int, default: Any) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None if default is None else np.full(batch, default)
    return tensor.as_numpy().reshape(batch, -1)[:, 0]


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.decoupled = _flag(config, "decoupled")
        self.delay_s = max(0.0, _number(config, "standin_token_delay_ms", 0.0) / 1000.0)
        self.outputs = {out["name"]: out for out in config.get("output", [])}
        missing = [name for name in _MAIN_OUTPUTS if name not in self.outputs]
        if missing:
            raise pb_utils.TritonModelException(f"tensorrt_llm stand-in: config lacks outputs {missing}")
        self._inflight = 0
        self._idle = threading.Condition()

    # -- reading requests -------------------------------------------------------------------------

    def _job(self, request: Any) -> _Job:
        ids = pb_utils.get_input_tensor_by_name(request, "input_ids")
        if ids is None:
            raise ValueError("input_ids is required by this stand-in")
        input_ids = ids.as_numpy()
        input_ids = input_ids.reshape(1, -1) if input_ids.ndim == 1 else input_ids
        batch = input_ids.shape[0]
        lengths = _scalars(request, "input_lengths", batch, input_ids.shape[1])
        out_lens = _scalars(request, "request_output_len", batch, None)
        if out_lens is None:
            raise ValueError("request_output_len is required")
        end_ids = _scalars(request, "end_id", batch, -1)
        pad_ids = _scalars(request, "pad_id", batch, 0)
        streaming = bool(_scalars(request, "streaming", batch, False).any())
        exclude = bool(_scalars(request, "exclude_input_in_output", batch, False).any())
        beams = int(_scalars(request, "beam_width", batch, 1).max())
        if streaming and not self.decoupled:
            raise ValueError("streaming requires the model to use the decoupled transaction policy")
        prompts = [input_ids[b, : int(lengths[b])].astype(np.int64).tolist() for b in range(batch)]
        generated = []
        for b, prompt in enumerate(prompts):
            # Cycle the prompt, skipping ids that would end or pad the sequence.
            pool = [t for t in prompt if t not in (int(end_ids[b]), int(pad_ids[b]))]
            count = max(0, int(out_lens[b]))
            generated.append([pool[i % len(pool)] for i in range(count)] if pool else [])
        names = getattr(request, "requested_output_names", lambda: list(self.outputs))()
        return _Job(prompts, generated, max(1, beams), int(pad_ids[0]), streaming, exclude, list(names))

    # -- building responses -----------------------------------------------------------------------

    def _response(self, job: _Job, sequences: list[list[int]]) -> pb_utils.InferenceResponse:
        batch = len(sequences)
        width = max(1, max((len(s) for s in sequences), default=0))
        output_ids = np.full((batch, job.beams, width), job.pad_id, dtype=np.int32)
        lengths = np.zeros((batch, job.beams), dtype=np.int32)
        for b, seq in enumerate(sequences):
            output_ids[b, :, : len(seq)] = seq
            lengths[b, :] = len(seq)
        tensors = [pb_utils.Tensor("output_ids", output_ids), pb_utils.Tensor("sequence_length", lengths)]
        for name in job.requested:
            if name in _MAIN_OUTPUTS or name not in self.outputs:
                continue
            spec = self.outputs[name]
            dtype = pb_utils.triton_string_to_numpy(spec["data_type"])
            if dtype is np.object_:
                continue
            # Statistics the stand-in cannot compute are zeros of the declared shape.
            shape = [batch] + [d if d > 0 else 1 for d in spec.get("dims", [])]
            tensors.append(pb_utils.Tensor(name, np.zeros(shape, dtype=dtype)))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def _whole(self, job: _Job) -> pb_utils.InferenceResponse:
        time.sleep(self.delay_s * max((len(g) for g in job.generated), default=0))
        if job.exclude_input:
            return self._response(job, job.generated)
        return self._response(job, [p + g for p, g in zip(job.prompts, job.generated, strict=True)])

    def _stream(self, job: _Job, sender: Any) -> None:
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            steps = max((len(g) for g in job.generated), default=0)
            if not job.streaming:
                sender.send(self._whole(job), flags=final)
                return
            if steps == 0:
                sender.send(flags=final)
                return
            for step in range(steps):
                if getattr(sender, "is_cancelled", lambda: False)():
                    sender.send(flags=final)
                    return
                time.sleep(self.delay_s)
                tokens = [g[step : step + 1] for g in job.generated]
                sender.send(self._response(job, tokens), flags=final if step == steps - 1 else 0)
        except Exception as exc:
            error = pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(exc)))
            sender.send(error, flags=final)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    # -- Triton entry points ----------------------------------------------------------------------

    def execute(self, requests: list[Any]) -> list[pb_utils.InferenceResponse] | None:
        if not self.decoupled:
            responses = []
            for request in requests:
                try:
                    responses.append(self._whole(self._job(request)))
                except Exception as exc:
                    responses.append(
                        pb_utils.InferenceResponse(
                            output_tensors=[], error=pb_utils.TritonError(f"tensorrt_llm stand-in: {exc}")
                        )
                    )
            return responses
        for request in requests:
            sender = request.get_response_sender()
            try:
                job = self._job(request)
            except Exception as exc:
                error = pb_utils.TritonError(f"tensorrt_llm stand-in: {exc}")
                sender.send(
                    pb_utils.InferenceResponse(output_tensors=[], error=error),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
                )
                continue
            with self._idle:
                self._inflight += 1
            # One thread per request lets sequences interleave, as in-flight batching would.
            threading.Thread(target=self._stream, args=(job, sender), daemon=True).start()
        return None

    def finalize(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=5.0)
