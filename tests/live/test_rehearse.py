"""Rehearsing generated deployments: stand-in swap, real server, smoke, cleanup."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
from live_helpers import make_deployment
from tritonclient.grpc import model_config_pb2 as mc

from planner.live import standin
from planner.live.rehearse import rehearse
from planner.live.report import EXIT_OK, render_text


def test_prepare_swaps_only_tensorrt_llm(tmp_path, tokenizer_dir):
    source = make_deployment(tmp_path / "out", decoupled=True) / "model_repository"
    notes = standin.prepare(source, tmp_path / "repo", tokenizer_dir, token_delay_ms=3)
    original = standin.read_config(source / "tensorrt_llm" / "config.pbtxt")
    swapped = standin.read_config(tmp_path / "repo" / "tensorrt_llm" / "config.pbtxt")
    assert swapped.backend == "python" and original.backend == "tensorrtllm"
    assert swapped.model_transaction_policy.decoupled is True
    assert [i.name for i in swapped.input] == [i.name for i in original.input]
    assert [o.name for o in swapped.output] == [o.name for o in original.output]
    engine_path = original.parameters["gpt_model_path"].string_value
    assert swapped.parameters["gpt_model_path"].string_value == engine_path  # kept, unused
    assert swapped.parameters[standin.DELAY_PARAMETER].string_value == "3"
    assert [g.kind for g in swapped.instance_group] == [mc.ModelInstanceGroup.KIND_CPU]
    assert (
        tmp_path / "repo" / "tensorrt_llm" / "1" / "model.py"
    ).read_text() == standin.STANDIN_SOURCE.read_text()
    pre = standin.read_config(tmp_path / "repo" / "preprocessing" / "config.pbtxt")
    assert pre.parameters["tokenizer_dir"].string_value == str(tokenizer_dir.resolve())
    assert (tmp_path / "repo" / "ensemble" / "config.pbtxt").read_text().count("step") >= 3
    assert any("stand-in" in n for n in notes)


def test_rehearse_streaming_deployment(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=True)
    stages = []
    report = rehearse(
        directory,
        tokenizer_dir,
        protocol="grpc",
        requests=4,
        concurrency=2,
        max_tokens=4,
        prompt="the quick brown fox",
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert report.ok, render_text(report)
    assert report.mode == "rehearsal" and report.exit_code == EXIT_OK
    assert report.transport == "grpc-stream" and report.ttft_p50_ms is not None
    assert report.output_tokens == 16
    assert any("stand-in" in n for n in report.notes)
    assert stages[:3] == ["prepare", "boot", "probe"] and stages[-1] == "done"
    assert json.loads(report.to_json())["mode"] == "rehearsal"


def test_rehearse_reports_plan_mismatch(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    plan = json.loads((directory / "plan.json").read_text())
    plan["workload"]["max_batch_size"] = 64
    (directory / "plan.json").write_text(json.dumps(plan))
    report = rehearse(directory, tokenizer_dir, protocol="http", requests=2, max_tokens=3)
    assert report.succeeded == 2 and report.transport == "infer"
    assert not report.ok and report.status == "failed"
    assert {d.model for d in report.config_diffs if d.field == "max_batch_size"} >= {
        "ensemble",
        "tensorrt_llm",
    }


def test_rehearse_without_plan(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    (directory / "plan.json").unlink()
    report = rehearse(directory, tokenizer_dir)
    assert report.status == "not-run" and "plan.json not found" in report.error


def test_rehearse_with_unfilled_template(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    config = directory / "model_repository" / "postprocessing" / "config.pbtxt"
    config.write_text(config.read_text().replace('"true"', '"${skip_special_tokens}"'))
    report = rehearse(directory, tokenizer_dir)
    assert report.status == "not-run"
    assert report.error.startswith("cannot prepare the repository") and "placeholders" in report.error


def test_rehearse_server_fails_to_start(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    (directory / "model_repository" / "preprocessing" / "1" / "model.py").write_text(
        "raise ImportError('nope')\n"
    )
    report = rehearse(directory, tokenizer_dir, ready_timeout_s=60)
    assert report.status == "not-run"
    assert "tritonserver exited" in report.error and "\n" not in report.error
    assert "nope" in (report.server_log_tail or "")


def test_rehearse_without_tokenizer(tmp_path):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    report = rehearse(directory, tmp_path / "no_tokenizer")
    assert report.status == "not-run" and "no Hugging Face tokenizer" in report.error


def test_prepare_leaves_out_bls_it_cannot_load(tmp_path, tokenizer_dir):
    source = make_deployment(tmp_path / "out", decoupled=False) / "model_repository"
    bls = source / "tensorrt_llm_bls"
    (bls / "1").mkdir(parents=True)
    (bls / "config.pbtxt").write_text('name: "tensorrt_llm_bls"\nbackend: "python"\nmax_batch_size: 8\n')
    (bls / "1" / "model.py").write_text("import torch\n")
    notes = standin.prepare(source, tmp_path / "repo", tokenizer_dir)
    torch_missing = importlib.util.find_spec("torch") is None
    assert (tmp_path / "repo" / "tensorrt_llm_bls").exists() is not torch_missing
    assert any("tensorrt_llm_bls left out" in n for n in notes) is torch_missing


@pytest.mark.parametrize(("decoupled", "protocol", "transport"), [
    (False, "http", "infer"),
    (True, "grpc", "grpc-stream"),
])
def test_rehearse_bls_model(tmp_path, tokenizer_dir, decoupled, protocol, transport):
    """The planner's own tensorrt_llm_bls (NumPy only) serves the same requests as the ensemble."""
    directory = make_deployment(tmp_path / "out", decoupled=decoupled, bls=True)
    report = rehearse(directory, tokenizer_dir, protocol=protocol, model="tensorrt_llm_bls", requests=3,
                      max_tokens=4, prompt="the quick brown fox")
    assert report.ok, render_text(report)
    assert report.transport == transport and report.decoupled is decoupled
    # the stand-in echoes the prompt's ids (<s> decodes to nothing): the words come back
    words = report.sample_output.replace(" ", "")
    assert words.startswith("thequick") and len(words) > len("thequick")
    assert not any("left out" in n for n in report.notes)


def test_rehearse_times_out(tmp_path, tokenizer_dir):
    """A server slower than --timeout: every request fails with a timeout, and the run still ends."""
    directory = make_deployment(tmp_path / "out", decoupled=False)
    started = time.monotonic()
    report = rehearse(directory, tokenizer_dir, protocol="http", requests=2, concurrency=2, timeout=1.0,
                      max_tokens=16, token_delay_ms=400)
    assert not report.ok and report.status == "failed" and report.exit_code == 4
    assert report.failed == 2 and any("within 1s" in e for e in report.request_errors), render_text(report)
    assert time.monotonic() - started < 60
