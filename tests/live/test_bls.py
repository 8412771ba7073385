"""The planner's tensorrt_llm_bls model on a real server: the request shapes a rehearsal does not send."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from live_helpers import make_deployment

from planner.live import server as triton
from planner.live import standin


@pytest.fixture(scope="module")
def bls_server(tmp_path_factory, tokenizer_dir):
    base = tmp_path_factory.mktemp("bls")
    make_deployment(base / "out", decoupled=True, bls=True)
    standin.prepare(base / "out" / "model_repository", base / "repo", tokenizer_dir, token_delay_ms=1.0)
    with triton.triton_server(base / "repo", workdir=base / "server", ready_timeout_s=90) as running:
        yield running


def _tensor(name, value, datatype):
    tensor = grpcclient.InferInput(name, list(value.shape), datatype)
    tensor.set_data_from_numpy(value)
    return tensor


def _stream(url, model, extra=(), outputs=("text_output",)):
    """Every response of one streamed request, as {output name: array}, until the final flag."""
    client = grpcclient.InferenceServerClient(url)
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    inputs = [_tensor("text_input", np.array([["the quick brown fox"]], dtype=object), "BYTES"),
              _tensor("max_tokens", np.array([[3]], dtype=np.int32), "INT32"), *extra]
    client.async_stream_infer(model, inputs, outputs=[grpcclient.InferRequestedOutput(n) for n in outputs],
                              enable_empty_final_response=True)
    got = []
    try:
        while True:
            result, error = answers.get(timeout=30)
            assert error is None, error
            response = result.get_response()
            if response.outputs:
                got.append({o.name: result.as_numpy(o.name) for o in response.outputs})
            if response.parameters["triton_final_response"].bool_param:
                return got
    finally:
        client.stop_stream()
        client.close()


@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_decoupled_model_without_stream_flag_answers_once(bls_server, model):
    """stream unset on a decoupled model: one whole answer, the same from the BLS as from the ensemble."""
    (answer,) = _stream(bls_server.url("grpc"), model)
    # the stand-in echoes the prompt's ids after the prompt (<s> decodes to nothing)
    assert answer["text_output"].reshape(-1)[0].decode() == "the quick brown fox the quick"


def test_bls_streams_and_passes_engine_outputs_through(bls_server):
    flag = _tensor("stream", np.array([[True]]), "BOOL")
    answers = _stream(bls_server.url("grpc"), "tensorrt_llm_bls", extra=[flag],
                      outputs=("text_output", "batch_index"))
    assert len(answers) == 3  # one response per generated token
    assert all("batch_index" in a for a in answers)
    assert "".join(a["text_output"].reshape(-1)[0].decode() for a in answers) == "thequick"


def test_bls_reports_a_broken_request_as_an_error(bls_server):
    flag = _tensor("stream", np.array([[True]]), "BOOL")
    bad = _tensor("max_tokens", np.array([[-1]], dtype=np.int32), "INT32")
    client = grpcclient.InferenceServerClient(bls_server.url("grpc"))
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    inputs = [_tensor("text_input", np.array([["hello"]], dtype=object), "BYTES"), bad, flag,
              _tensor("beam_width", np.array([["x"]], dtype=object), "BYTES")]
    client.async_stream_infer("tensorrt_llm_bls", inputs)
    try:
        _result, error = answers.get(timeout=30)
    finally:
        client.stop_stream(cancel_requests=True)
        client.close()
    assert error is not None and "tensorrt_llm_bls" in str(error)
