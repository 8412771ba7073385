"""`planner smoke` and `planner rehearse` as a user runs them: real processes, real servers, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from live_helpers import make_deployment

from planner.live.server import free_port

PLANNER = [sys.executable, "-m", "planner"]


def planner(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PLANNER, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("planner:")]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_smoke_passes_with_json(plain_server, tmp_path, protocol):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    result = planner("smoke", "--url", plain_server.url(protocol), "--protocol", protocol, "--plan", directory,
                     "--requests", 4, "--concurrency", 2, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["succeeded"] == 4 and report["exit_code"] == 0
    assert report["config_diffs"] == [] and report["server_version"]
    assert "4/4 requests answered" in one_error_line(result)


def test_smoke_table_output(stream_server):
    # no --protocol: a grpc:// URL picks gRPC
    result = planner("smoke", "--url", f"grpc://{stream_server.url('grpc')}", "--requests", 2)
    assert result.returncode == 0, result.stderr
    assert "grpc-stream" in result.stdout and "TTFT" in result.stdout


def test_smoke_shows_a_progress_bar_on_a_terminal(plain_server):
    # rich draws on a terminal only; these make it treat the captured stderr as one
    terminal = {"FORCE_COLOR": "1", "TTY_INTERACTIVE": "1"}
    shown = planner("smoke", "--url", plain_server.url("http"), "--requests", 4, env=terminal)
    assert shown.returncode == 0, shown.stderr
    # rich refreshes 10 times a second, so a fast stage may never be drawn; the first is, on start
    assert "checking health and metadata" in shown.stderr and "━" in shown.stderr
    quiet = planner("smoke", "--url", plain_server.url("http"), "--requests", 4, "--format", "json", env=terminal)
    assert quiet.returncode == 0 and "━" not in quiet.stderr  # pipelines get JSON only


def test_smoke_plan_mismatch_exits_4(plain_server, tmp_path):
    directory = make_deployment(tmp_path / "out", decoupled=False, max_batch_size=16)
    result = planner("smoke", "--url", plain_server.url("http"), "--protocol", "http", "--plan",
                     directory / "plan.json", "--requests", 1, "--format", "json")
    assert result.returncode == 4
    diffs = json.loads(result.stdout)["config_diffs"]
    assert any(d["field"] == "max_batch_size" and d["plan"] == "16" for d in diffs)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_smoke_nothing_listening_exits_4(protocol):
    result = planner("smoke", "--url", f"127.0.0.1:{free_port()}", "--protocol", protocol, "--timeout", 5)
    assert result.returncode == 4
    line = one_error_line(result)
    assert "smoke test failed" in line and ("refused" in line.lower() or "connect" in line.lower())


def test_smoke_wrong_model_exits_4(plain_server):
    result = planner("smoke", "--url", plain_server.url("grpc"), "--protocol", "grpc", "--model", "no_such_model")
    assert result.returncode == 4
    assert "no_such_model" in one_error_line(result)


def test_smoke_http_to_the_grpc_port_says_so(plain_server):
    result = planner("smoke", "--url", plain_server.url("grpc"), "--protocol", "http", "--timeout", 5)
    assert result.returncode == 4
    assert "not HTTP (is this the gRPC port? try --protocol grpc)" in one_error_line(result)


@pytest.mark.parametrize("args", [
    ["--url", "127.0.0.1:1", "--requests", "0"],
    ["--url", "127.0.0.1:1", "--timeout", "-1"],
    ["--url", "127.0.0.1:1", "--protocol", "udp"],
    ["--url", "127.0.0.1:1", "--concurrency", "many"],
    ["--requests", "2"],
])
def test_smoke_bad_arguments_exit_2(args):
    result = planner("smoke", *args)
    assert result.returncode == 2
    assert one_error_line(result).startswith("planner: error:")


def test_smoke_malformed_plan_exits_2(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    result = planner("smoke", "--url", "127.0.0.1:1", "--plan", bad)
    assert result.returncode == 2 and "not readable JSON" in one_error_line(result)


def test_rehearse_command(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=True)
    # the plan's tokenizer_dir (./tokenizer) resolves against the directory, as on a server
    shutil.copytree(tokenizer_dir, directory / "tokenizer")
    result = planner("rehearse", directory, "--requests", 3, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "rehearsal" and report["ok"] and report["transport"] == "grpc-stream"
    assert "rehearsal passed" in one_error_line(result)


def test_rehearse_keeps_workdir_with_server_log(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    keep = tmp_path / "keep"
    result = planner("rehearse", directory, "--tokenizer-dir", tokenizer_dir, "--protocol", "http",
                     "--requests", 1, "--keep-workdir", keep)
    assert result.returncode == 0, result.stderr
    assert (keep / "server" / "tritonserver.log").is_file()
    assert (keep / "model_repository" / "tensorrt_llm" / "1" / "model.py").is_file()
    again = planner("rehearse", directory, "--tokenizer-dir", tokenizer_dir, "--keep-workdir", keep)
    assert again.returncode == 2 and "not empty" in one_error_line(again)


@pytest.mark.parametrize("case", ["no-dir", "no-plan", "no-tokenizer"])
def test_rehearse_bad_input_exits_2(tmp_path, tokenizer_dir, case):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    args: list = [directory, "--tokenizer-dir", tokenizer_dir]
    if case == "no-dir":
        args[0] = tmp_path / "missing"
    elif case == "no-plan":
        (directory / "plan.json").unlink()
    else:
        args = [directory]  # ./tokenizer does not exist in the directory
    result = planner("rehearse", *args)
    assert result.returncode == 2
    one_error_line(result)


def test_rehearse_without_server_exits_4(tmp_path, tokenizer_dir):
    directory = make_deployment(tmp_path / "out", decoupled=False)
    result = planner("rehearse", directory, "--tokenizer-dir", tokenizer_dir,
                     env={"PLANNER_TRITON_HOME": str(tmp_path / "no-triton")})
    assert result.returncode == 4
    line = one_error_line(result)
    assert "cannot rehearse" in line and "tritonserver" in line


def test_plan_out_then_rehearse(tmp_path, tokenizer_dir):
    """The whole path: plan a deployment with --out, then rehearse exactly what was written."""
    out = tmp_path / "artifacts"
    made = planner("plan", "llama-3.2-1b", "--gpus", "l4", "--max-batch-size", 4, "--streaming",
                   "--tokenizer-dir", tokenizer_dir, "--out", out, "--format", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["serving"]["decoupled"] is True
    result = planner("rehearse", out, "--protocol", "http", "--requests", 2, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["transport"] == "http-sse"


def test_rehearse_is_the_planner_installed_entry_point():
    """The console script the README names runs the same command."""
    script = Path(sys.executable).parent / "planner"
    result = subprocess.run([str(script), "rehearse", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--tokenizer-dir" in result.stdout
