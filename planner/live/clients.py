"""The few Triton calls the smoke test makes, over HTTP or gRPC, each bounded by a timeout.

HTTP speaks the KServe v2 JSON protocol (and Triton's ``generate_stream``
server-sent events) through the standard library: tritonclient's HTTP client
runs on gevent, whose per-thread hub can wait forever on a socket of a server
that was killed, which a smoke test must survive.  gRPC uses tritonclient.

Every failure surfaces as ``SmokeError`` with a one-line message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

MAX_BODY_BYTES = 64 * 1024 * 1024  # a model config or an answer of a smoke request is a few KiB


class SmokeError(Exception):
    """A failure that ends a call; its message is one line meant for the report."""


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    text = (exc if isinstance(exc, str) else str(exc)).strip() or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class TensorNames:
    """What a text-generation entry model calls its prompt, length limit and streaming switch."""

    text: str = "text_input"
    max_tokens: str = "max_tokens"
    stream: str = "stream"
    exclude_input: str | None = "exclude_input_in_output"
    cumulative: bool = False  # each streamed response carries the whole text so far, not the new piece

    def answer(self, parts: list[str]) -> str:
        """The text of a streamed answer from its responses."""
        return (parts[-1] if parts else "") if self.cumulative else "".join(parts)


# The engine flow's ensemble and BLS model (tensorrtllm_backend inflight_batcher_llm)
ENSEMBLE_NAMES = TensorNames()
# The PyTorch flow's llmapi tensorrt_llm model (triton_backend/all_models/llmapi config.pbtxt); the
# LLM never echoes the prompt, so there is no exclude switch, and its model.py streams each
# RequestOutput's text, which is the text so far
LLMAPI_NAMES = TensorNames(max_tokens="sampling_param_max_tokens", stream="streaming", exclude_input=None,
                           cumulative=True)


@dataclass(frozen=True)
class RequestSpec:
    model: str
    prompt: str
    max_tokens: int
    batched: bool  # the model has max_batch_size > 0, so tensors carry a batch axis
    stream: bool  # send stream=true and read a response per token (decoupled pipelines)
    exclude_input: bool  # the model declares exclude_input_in_output
    names: TensorNames = ENSEMBLE_NAMES

    def tensors(self) -> list[tuple[str, np.ndarray, str]]:
        """(name, value, v2 datatype) of every input to send."""
        lead = (1, 1) if self.batched else (1,)
        n = self.names
        values = [
            (n.text, np.array([self.prompt], dtype=object).reshape(lead), "BYTES"),
            (n.max_tokens, np.full(lead, self.max_tokens, dtype=np.int32), "INT32"),
        ]
        if self.stream:
            values.append((n.stream, np.full(lead, True), "BOOL"))
        if self.exclude_input and n.exclude_input:
            values.append((n.exclude_input, np.full(lead, True), "BOOL"))
        return values


@dataclass
class Outcome:
    text: str = ""
    latency_s: float = 0.0
    ttft_s: float | None = None
    stream_responses: int = 0
    error: str | None = None


class Client(Protocol):
    url: str

    def live(self) -> bool: ...
    def ready(self) -> bool: ...
    def metadata(self) -> dict[str, Any]: ...
    def model_ready(self, model: str) -> bool: ...
    def model_names(self) -> list[str]: ...
    def config(self, model: str) -> dict[str, Any]: ...
    def generate(self, spec: RequestSpec) -> Outcome: ...
    def close(self) -> None: ...


def _joined(values: Any) -> str:
    flat = values if isinstance(values, list) else [values]
    while any(isinstance(v, list) for v in flat):
        flat = [x for v in flat for x in (v if isinstance(v, list) else [v])]
    return "".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat)


def check_address(url: str) -> tuple[str, int]:
    """(host, port) of ``host:port``; a port outside 1..65535 is refused, never wrapped or guessed."""
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit() or len(port) > 5:
        raise SmokeError(f"bad address {url[:80]!r}: expected host:port")
    if not 1 <= int(port) <= 65535:
        raise SmokeError(f"bad address {url[:80]!r}: port {int(port)} is outside 1-65535")
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def _call_deadline(conn: http.client.HTTPConnection, seconds: float) -> Iterator[threading.Event]:
    """Bound a whole HTTP call, not each socket read: when `seconds` pass, shut the socket down.

    A socket timeout alone restarts with every byte, so a server that sends one byte a second
    would hold the call forever. The event tells the caller that the deadline, not the server,
    ended the call.
    """
    expired = threading.Event()

    def fire() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()


# -- HTTP -------------------------------------------------------------------------------------------


class HttpClient:
    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self.host, self.port = check_address(url)

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _request(self, what: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = self._connection()
        expired = threading.Event()
        try:
            with _call_deadline(conn, self.timeout) as expired:
                payload = None if body is None else json.dumps(body)
                conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                raw = response.read(MAX_BODY_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(what, exc, expired.is_set()) from exc
        finally:
            conn.close()
        if expired.is_set():  # the deadline cut the body short
            raise self._failure(what, TimeoutError(), True)
        if len(raw) > MAX_BODY_BYTES:
            raise SmokeError(f"{what} failed at http://{self.url}: the answer exceeds {MAX_BODY_BYTES >> 20} MiB")
        try:
            data = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            data = raw.decode("utf-8", "replace")
        return response.status, data

    def _failure(self, what: str, exc: Exception, expired: bool) -> SmokeError:
        where = f"{what} failed at http://{self.url}"
        if expired or isinstance(exc, TimeoutError):
            return SmokeError(f"{where}: no complete answer within {self.timeout:g}s")
        if isinstance(exc, http.client.BadStatusLine):  # bytes that are not HTTP: often the gRPC port
            return SmokeError(f"{where}: the answer is not HTTP (is this the gRPC port? try --protocol grpc)")
        return SmokeError(f"{where}: {one_line(exc) or type(exc).__name__}")

    def _json(self, what: str, method: str, path: str, body: Any = None) -> Any:
        status, data = self._request(what, method, path, body)
        if status != 200:
            message = data.get("error") if isinstance(data, dict) else data
            raise SmokeError(f"{what} failed at http://{self.url}: HTTP {status}: {one_line(str(message))}")
        return data

    def live(self) -> bool:
        return self._request("liveness check", "GET", "/v2/health/live")[0] == 200

    def ready(self) -> bool:
        return self._request("readiness check", "GET", "/v2/health/ready")[0] == 200

    def metadata(self) -> dict[str, Any]:
        return self._json("server metadata", "GET", "/v2")

    def model_ready(self, model: str) -> bool:
        return self._request(f"readiness of model {model}", "GET", f"/v2/models/{model}/ready")[0] == 200

    def model_names(self) -> list[str]:
        index = self._json("repository index", "POST", "/v2/repository/index", {})
        return sorted({m.get("name", "?") for m in index or []})

    def config(self, model: str) -> dict[str, Any]:
        return self._json(f"config of {model}", "GET", f"/v2/models/{model}/config")

    def generate(self, spec: RequestSpec) -> Outcome:
        return self._sse(spec) if spec.stream else self._infer(spec)

    def _infer(self, spec: RequestSpec) -> Outcome:
        inputs = [
            {"name": name, "shape": list(value.shape), "datatype": dtype, "data": value.reshape(-1).tolist()}
            for name, value, dtype in spec.tensors()
        ]
        body = {"inputs": inputs, "outputs": [{"name": "text_output"}]}
        start = time.perf_counter()
        data = self._json("inference", "POST", f"/v2/models/{spec.model}/infer", body)
        outputs = {o.get("name"): o.get("data") for o in data.get("outputs", [])}
        return Outcome(text=_joined(outputs.get("text_output", [])), latency_s=time.perf_counter() - start)

    def _sse(self, spec: RequestSpec) -> Outcome:
        """Stream with Triton's generate extension: one server-sent event per response."""
        n = spec.names
        body: dict[str, Any] = {n.text: spec.prompt, n.max_tokens: spec.max_tokens, n.stream: True}
        if spec.exclude_input and n.exclude_input:
            body[n.exclude_input] = True
        outcome, parts = Outcome(), []
        start = time.perf_counter()
        conn = self._connection()
        expired = threading.Event()
        try:
            with _call_deadline(conn, self.timeout) as expired:
                conn.request(
                    "POST",
                    f"/v2/models/{spec.model}/generate_stream",
                    body=json.dumps(body),
                    headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
                )
                response = conn.getresponse()
                if response.status != 200:
                    raise SmokeError(
                        f"HTTP {response.status}: {one_line(response.read(64 * 1024).decode('utf-8', 'replace'))}"
                    )
                received = 0
                while True:
                    raw = response.readline(MAX_BODY_BYTES)
                    if not raw:
                        break
                    received += len(raw)
                    if received > MAX_BODY_BYTES:
                        raise SmokeError(f"stream exceeds {MAX_BODY_BYTES >> 20} MiB")
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue
                    event = json.loads(line[5:].strip() or b"{}")
                    if not isinstance(event, dict):
                        raise SmokeError("a stream event is not a JSON object")
                    if "error" in event:
                        raise SmokeError(one_line(str(event["error"])))
                    if "text_output" in event:
                        outcome.stream_responses += 1
                        if outcome.ttft_s is None:
                            outcome.ttft_s = time.perf_counter() - start
                        parts.append(_joined(event["text_output"]))
            if expired.is_set():
                raise TimeoutError
        except SmokeError as exc:
            outcome.error = f"stream not finished within {self.timeout:g}s" if expired.is_set() else str(exc)
        except (OSError, http.client.HTTPException, ValueError, RecursionError) as exc:
            outcome.error = (f"stream not finished within {self.timeout:g}s" if expired.is_set() or
                             isinstance(exc, TimeoutError) else
                             f"stream failed at http://{self.url}: {one_line(exc) or type(exc).__name__}")
        finally:
            conn.close()
        outcome.latency_s = time.perf_counter() - start
        outcome.text = spec.names.answer(parts)
        return outcome

    def close(self) -> None:
        """Connections are per call; nothing to release."""


# -- gRPC -------------------------------------------------------------------------------------------


class GrpcClient:
    def __init__(self, url: str, timeout: float) -> None:
        import tritonclient.grpc as grpcclient

        self.url, self.timeout, self.module = url, timeout, grpcclient
        check_address(url)
        try:
            self.client: Any = grpcclient.InferenceServerClient(url)
        except Exception as exc:
            raise SmokeError(f"cannot create a gRPC client for {url}: {one_line(exc)}") from exc

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs, client_timeout=self.timeout)
        except Exception as exc:
            raise SmokeError(f"{what} failed at grpc://{self.url}: {one_line(exc)}") from exc

    def live(self) -> bool:
        return bool(self._call("liveness check", "is_server_live"))

    def ready(self) -> bool:
        return bool(self._call("readiness check", "is_server_ready"))

    def metadata(self) -> dict[str, Any]:
        return self._call("server metadata", "get_server_metadata", as_json=True)

    def model_ready(self, model: str) -> bool:
        return bool(self._call(f"readiness of model {model}", "is_model_ready", model))

    def model_names(self) -> list[str]:
        index = self._call("repository index", "get_model_repository_index", as_json=True)
        return sorted({m.get("name", "?") for m in index.get("models", [])})

    def config(self, model: str) -> dict[str, Any]:
        return self._call(f"config of {model}", "get_model_config", model, as_json=True)["config"]

    def _inputs(self, spec: RequestSpec) -> list[Any]:
        tensors = []
        for name, value, dtype in spec.tensors():
            tensor = self.module.InferInput(name, list(value.shape), dtype)
            tensor.set_data_from_numpy(value)
            tensors.append(tensor)
        return tensors

    def generate(self, spec: RequestSpec) -> Outcome:
        if spec.stream:
            return self._stream(spec)
        start = time.perf_counter()
        outputs = [self.module.InferRequestedOutput("text_output")]
        result = self._call("inference", "infer", spec.model, self._inputs(spec), outputs=outputs)
        return Outcome(
            text=_joined(result.as_numpy("text_output").tolist()), latency_s=time.perf_counter() - start
        )

    def _stream(self, spec: RequestSpec) -> Outcome:
        """One bidirectional stream per request, read until the final-response flag."""
        answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
        outcome, parts = Outcome(), []
        start = time.perf_counter()
        deadline = start + self.timeout
        finished = False
        try:
            self.client.start_stream(
                callback=lambda result, error: answers.put((result, error)), stream_timeout=self.timeout
            )
            self.client.async_stream_infer(
                spec.model,
                self._inputs(spec),
                request_id=uuid.uuid4().hex,
                outputs=[self.module.InferRequestedOutput("text_output")],
                enable_empty_final_response=True,
            )
            while not finished:
                try:
                    result, error = answers.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty as exc:
                    raise SmokeError(f"no final response within {self.timeout:g}s") from exc
                if error is not None:
                    raise SmokeError(one_line(error))
                response = result.get_response()
                if response.outputs:
                    outcome.stream_responses += 1
                    if outcome.ttft_s is None:
                        outcome.ttft_s = time.perf_counter() - start
                    parts.append(_joined(result.as_numpy("text_output").tolist()))
                flag = response.parameters.get("triton_final_response")
                finished = flag is not None and flag.bool_param
        except SmokeError as exc:
            outcome.error = str(exc)
        except Exception as exc:
            outcome.error = f"stream failed at grpc://{self.url}: {one_line(exc)}"
        finally:
            # A finished stream closes cleanly; cancelling is only for broken ones (it leaves
            # tritonclient's request-iterator thread waiting, so it is not the default).
            with contextlib.suppress(Exception):
                self.client.stop_stream(cancel_requests=not finished)
        outcome.latency_s = time.perf_counter() - start
        outcome.text = spec.names.answer(parts)
        return outcome

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def connect(url: str, protocol: str, timeout: float) -> Client:
    return GrpcClient(url, timeout) if protocol == "grpc" else HttpClient(url, timeout)
