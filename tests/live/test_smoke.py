"""Smoke tests against real tritonservers serving generated repositories with the stand-in engine."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import tritonclient.http as httpclient
from live_helpers import plan_dict
from rich.console import Console

from planner.live.report import (
    EXIT_OK,
    SmokeReport,
    render_rich,
    render_text,
)
from planner.live.server import free_port
from planner.live.smoke import run_smoke

PROMPT = "hello world the quick brown fox"
# The stand-in cycles the prompt's ids; <s> comes first and decodes to nothing.
ECHO_5 = "hello world the quick"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_plain_infer(plain_server, tokenizer_dir, protocol):
    report = run_smoke(
        plain_server.url(protocol),
        protocol,
        plan=plan_dict(decoupled=False),
        requests=6,
        concurrency=3,
        prompt=PROMPT,
        max_tokens=5,
        tokenizer_dir=str(tokenizer_dir),
    )
    assert report.ok, render_text(report)
    assert report.exit_code == EXIT_OK
    assert report.transport == "infer" and not report.decoupled
    assert report.server_version and "model_configuration" in report.server_extensions
    assert report.succeeded == 6 and report.failed == 0
    assert report.sample_output == ECHO_5
    assert report.output_tokens == 6 * 4 and report.tokens_counted_by == "tokenizer"
    assert report.latency_p50_ms is not None and report.latency_p95_ms >= report.latency_p50_ms
    assert report.ttft_p50_ms is None
    assert report.requests_per_s and report.output_tokens_per_s
    assert SmokeReport.model_validate_json(report.to_json()).succeeded == 6
    assert json.loads(report.to_json())["exit_code"] == 0


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_streaming(stream_server, protocol):
    report = run_smoke(
        stream_server.url(protocol),
        protocol,
        plan=plan_dict(decoupled=True),
        requests=4,
        concurrency=2,
        prompt=PROMPT,
        max_tokens=5,
    )
    assert report.ok, render_text(report)
    assert report.decoupled and report.streaming
    assert report.transport == ("grpc-stream" if protocol == "grpc" else "http-sse")
    # One response per token; streamed pieces are decoded one token at a time.
    assert report.output_tokens == 4 * 5 and report.tokens_counted_by == "stream-responses"
    assert report.sample_output == ECHO_5.replace(" ", "")
    assert report.ttft_p50_ms is not None and report.ttft_p50_ms <= report.latency_p50_ms


def test_config_differs_from_plan(plain_server):
    plan = plan_dict(decoupled=True, max_batch_size=16)
    plan["serving"]["preprocessing_instances"] = 2
    report = run_smoke(plain_server.grpc_url, "grpc", plan=plan, requests=2, concurrency=1, prompt=PROMPT)
    diffs = {(d.model, d.field): (d.plan, d.served) for d in report.config_diffs}
    assert diffs[("ensemble", "max_batch_size")] == ("16", "8")
    assert diffs[("tensorrt_llm", "max_batch_size")] == ("16", "8")
    assert diffs[("tensorrt_llm", "decoupled")] == ("True", "False")
    assert diffs[("preprocessing", "instance_count")] == ("2", "1")
    assert ("ensemble", "input stream") not in diffs  # declared, as a decoupled plan needs
    # The requests themselves still went through; the plan mismatch alone fails the run.
    assert report.succeeded == 2 and report.error is None
    assert not report.ok and report.status == "failed"
    assert "differs from plan: ensemble.max_batch_size: plan 16, served 8" in render_text(report)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_wrong_model_name(plain_server, protocol):
    report = run_smoke(plain_server.url(protocol), protocol, model="llama", requests=2)
    assert not report.ok and report.status == "not-run"
    assert report.server_live and not report.model_ready
    assert "model 'llama' is not ready" in report.error and "ensemble" in report.error
    assert "\n" not in report.error


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_nothing_listening(protocol):
    started = time.monotonic()
    report = run_smoke(f"127.0.0.1:{free_port()}", protocol, requests=2, timeout=5)
    assert time.monotonic() - started < 10
    assert not report.ok and report.status == "not-run"
    assert report.error.startswith("liveness check failed at ") and "\n" not in report.error
    assert report.succeeded == 0 and not report.server_live


def test_bad_arguments():
    assert run_smoke("127.0.0.1:1", "websocket").error.startswith("unknown protocol")
    assert run_smoke("127.0.0.1:1", "http", requests=0).status == "not-run"


def test_progress_callback(plain_server):
    events = []
    report = run_smoke(
        f"http://{plain_server.http_url}/",
        "http",
        requests=3,
        concurrency=1,
        progress=lambda stage, done, total: events.append((stage, done, total)),
    )
    assert report.ok, render_text(report)
    assert [e for e in events if e[0] == "requests"] == [("requests", n, 3) for n in (1, 2, 3)]
    assert events[0][0] == "probe" and events[-1] == ("done", 1, 1)


def test_renderers(plain_server):
    report = run_smoke(plain_server.http_url, "http", requests=1, prompt=PROMPT, max_tokens=2)
    text = render_text(report)
    assert text.startswith("Smoke test: ensemble") and "result" in text and "OK" in text
    buffer = io.StringIO()
    render_rich(report, Console(file=buffer, width=120))
    assert "latency p50 / p95" in buffer.getvalue()


# -- the shipped Python models, called one by one -------------------------------------------------


def _infer(server, model, inputs, outputs):
    client = httpclient.InferenceServerClient(server.http_url)
    tensors = []
    for name, array, dtype in inputs:
        tensor = httpclient.InferInput(name, list(array.shape), dtype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    try:
        result = client.infer(model, tensors, outputs=[httpclient.InferRequestedOutput(o) for o in outputs])
        return {o: result.as_numpy(o) for o in outputs}
    finally:
        client.close()


def test_preprocessing_tensors(plain_server):
    got = _infer(
        plain_server,
        "preprocessing",
        [
            ("QUERY", np.array([[b"hello world"]], dtype=object), "BYTES"),
            ("REQUEST_OUTPUT_LEN", np.array([[7]], dtype=np.int32), "INT32"),
            ("STOP_WORDS_DICT", np.array([[b"fox", b"lazy dog"]], dtype=object), "BYTES"),
        ],
        ["INPUT_ID", "REQUEST_INPUT_LEN", "STOP_WORDS_IDS", "BAD_WORDS_IDS", "OUT_END_ID", "OUT_PAD_ID"],
    )
    # ids: <pad>=0 <s>=1 </s>=2 <unk>=3 hello=4 world=5 ... fox=9 lazy=12 dog=13
    assert got["INPUT_ID"].tolist() == [[1, 4, 5]]
    assert got["REQUEST_INPUT_LEN"].tolist() == [[3]]
    assert got["STOP_WORDS_IDS"].tolist() == [[[9, 12, 13], [1, 3, -1]]]
    assert got["BAD_WORDS_IDS"].shape == (1, 2, 0)
    assert got["OUT_END_ID"].tolist() == [[2]] and got["OUT_PAD_ID"].tolist() == [[0]]


def test_postprocessing_decodes_up_to_length(plain_server):
    got = _infer(
        plain_server,
        "postprocessing",
        [
            ("TOKENS_BATCH", np.array([[[1, 4, 5, 9, 0]]], dtype=np.int32), "INT32"),
            ("SEQUENCE_LENGTH", np.array([[4]], dtype=np.int32), "INT32"),
        ],
        ["OUTPUT"],
    )
    assert got["OUTPUT"].tolist() == [[b"hello world fox"]]


def test_standin_contract(plain_server):
    base = [
        ("input_ids", np.array([[1, 4, 5]], dtype=np.int32), "INT32"),
        ("input_lengths", np.array([[3]], dtype=np.int32), "INT32"),
        ("request_output_len", np.array([[4]], dtype=np.int32), "INT32"),
        ("end_id", np.array([[2]], dtype=np.int32), "INT32"),
        ("pad_id", np.array([[0]], dtype=np.int32), "INT32"),
    ]
    got = _infer(plain_server, "tensorrt_llm", base, ["output_ids", "sequence_length", "cum_log_probs"])
    assert got["output_ids"].tolist() == [[[1, 4, 5, 1, 4, 5, 1]]]  # prompt, then the prompt cycled
    assert got["sequence_length"].tolist() == [[7]]
    assert got["cum_log_probs"].shape == (1, 1)
    exclude = [("exclude_input_in_output", np.array([[True]]), "BOOL")]
    got = _infer(plain_server, "tensorrt_llm", base + exclude, ["output_ids", "sequence_length"])
    assert got["output_ids"].tolist() == [[[1, 4, 5, 1]]] and got["sequence_length"].tolist() == [[4]]
    streaming = [("streaming", np.array([[True]]), "BOOL")]
    with pytest.raises(Exception, match="decoupled"):
        _infer(plain_server, "tensorrt_llm", base + streaming, ["output_ids"])


@pytest.mark.parametrize(("url", "protocol"), [
    ("localhost:8001", "grpc"),
    ("localhost:8000", "http"),
    ("grpc://triton.example:443", "grpc"),
    ("http://127.0.0.1:8001/", "http"),
    ("10.0.0.1:9000", "http"),
])
def test_protocol_guess(url, protocol):
    from planner.live.smoke import guess_protocol

    assert guess_protocol(url) == protocol
