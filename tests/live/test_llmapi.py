"""The PyTorch flow's llmapi repository on a real tritonserver: stand-in swap, auto-complete from
model.yaml's triton_config, HTTP and gRPC streaming, the plan check, and load failures."""

from __future__ import annotations

import json

import pytest
import yaml
from live_helpers import make_deployment

from planner.live import standin
from planner.live.rehearse import rehearse
from planner.live.report import render_text

PROMPT = "the quick brown fox"


def test_prepare_swaps_the_llmapi_model(tmp_path, tokenizer_dir):
    source = make_deployment(tmp_path / "out", decoupled=True, flow="pytorch") / "model_repository"
    notes = standin.prepare(source, tmp_path / "repo", tokenizer_dir, token_delay_ms=2)
    version = tmp_path / "repo" / "tensorrt_llm" / "1"
    assert (version / "model.py").read_text() == standin.LLMAPI_STANDIN_SOURCE.read_text()
    args = yaml.safe_load((version / "model.yaml").read_text())
    original = yaml.safe_load((source / "tensorrt_llm" / "1" / "model.yaml").read_text())
    assert args["model"] == str(tokenizer_dir.resolve())
    assert args["triton_config"] == original["triton_config"] == {"max_batch_size": 0, "decoupled": True}
    assert args["tensor_parallel_size"] == original["tensor_parallel_size"]
    swapped = standin.read_config(tmp_path / "repo" / "tensorrt_llm" / "config.pbtxt")
    assert not swapped.HasField("model_transaction_policy") and swapped.max_batch_size == 0  # auto-complete's job
    assert swapped.parameters[standin.DELAY_PARAMETER].string_value == "2"
    assert any("llmapi" in n for n in notes)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_rehearse_streams_over_both_protocols(tmp_path, tokenizer_dir, protocol):
    directory = make_deployment(tmp_path / "out", decoupled=True, flow="pytorch")
    report = rehearse(directory, tokenizer_dir, protocol=protocol, requests=4, concurrency=2, max_tokens=4,
                      prompt=PROMPT)
    assert report.ok, render_text(report)
    assert report.model == "tensorrt_llm" and report.decoupled
    assert report.transport == ("grpc-stream" if protocol == "grpc" else "http-sse")
    assert report.output_tokens == 16 and report.ttft_p50_ms is not None
    assert not report.config_diffs  # Triton serves max_batch_size 0 and decoupled as model.yaml says
    # each streamed response carries the text so far: the answer is the last one, four words
    assert report.sample_output and len(report.sample_output.split()) == 4


def test_rehearse_plain_deployment(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False, flow="pytorch")
    report = rehearse(directory, tokenizer_dir, protocol="http", requests=3, max_tokens=5, prompt=PROMPT)
    assert report.ok, render_text(report)
    assert report.transport == "infer" and not report.decoupled


def test_rehearse_reports_streaming_mismatch_with_the_plan(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False, flow="pytorch")
    plan = json.loads((directory / "plan.json").read_text())
    plan["serving"]["decoupled"] = True
    (directory / "plan.json").write_text(json.dumps(plan))
    report = rehearse(directory, tokenizer_dir, protocol="http", requests=2, max_tokens=3)
    assert not report.ok
    assert any(d.model == "tensorrt_llm" and d.field == "decoupled" for d in report.config_diffs)


def test_model_yaml_without_triton_config_fails_to_load(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=True, flow="pytorch")
    path = directory / "model_repository" / "tensorrt_llm" / "1" / "model.yaml"
    args = yaml.safe_load(path.read_text())
    del args["triton_config"]["decoupled"]
    path.write_text(yaml.safe_dump(args))
    report = rehearse(directory, tokenizer_dir, ready_timeout_s=60)
    assert report.status == "not-run" and "tritonserver exited" in report.error
    assert "decoupled" in (report.server_log_tail or "")


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_issue_command_plans_validates_and_rehearses(tmp_path, tokenizer_dir, protocol):
    """`planner plan llama-3.1-70b --gpus h100x8 --out DIR` (here with --streaming), then
    `planner rehearse DIR` over HTTP and gRPC, as an operator runs them."""
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "planner"]
    made = subprocess.run([*cmd, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--streaming", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert "flow: PyTorch LLM API" in made.stdout and "validated" in made.stderr
    assert subprocess.run([*cmd, "validate", str(out)], capture_output=True, timeout=120).returncode == 0
    rehearsed = subprocess.run([*cmd, "rehearse", str(out), "--tokenizer-dir", str(tokenizer_dir), "--protocol",
                                protocol, "--requests", "3", "--max-tokens", "4", "--prompt", PROMPT,
                                "--format", "json"], capture_output=True, text=True, timeout=300)
    assert rehearsed.returncode == 0, rehearsed.stderr + rehearsed.stdout
    report = json.loads(rehearsed.stdout)
    assert report["model"] == "tensorrt_llm" and report["transport"] in ("grpc-stream", "http-sse")
    assert report["config_diffs"] == []


def test_smoke_without_plan_finds_the_llmapi_model(tmp_path, tokenizer_dir):
    from planner.live import server as triton
    from planner.live.smoke import run_smoke

    directory = make_deployment(tmp_path / "out", decoupled=True, flow="pytorch")
    standin.prepare(directory / "model_repository", tmp_path / "repo", tokenizer_dir, token_delay_ms=1)
    running = triton.start_server(tmp_path / "repo", workdir=tmp_path / "server")
    try:
        report = run_smoke(running.url("http"), protocol="http", requests=2, max_tokens=3, prompt=PROMPT)
    finally:
        running.stop()
    assert report.ok, render_text(report)
    assert report.model == "tensorrt_llm" and report.transport == "http-sse"
