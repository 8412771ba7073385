"""`planner plan --out`, `validate` and `diff` as a user runs them: files, safety, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner.emit.writer import write_all

PLANNER = [sys.executable, "-m", "planner"]


def planner(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PLANNER, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_runs_write_identical_bytes(tmp_path):
    args = ["plan", "llama-3.1-405b", "--gpus", "2xh100x8", "--flow", "engine", "--streaming", "--bls",
            "--format", "json"]
    first, second = planner(*args, "--out", tmp_path / "a"), planner(*args, "--out", tmp_path / "b")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert a == b and len(a) > 20
    assert a["build.sh"][1] == 0o755 and a["deploy/slurm/triton.sbatch"][1] == 0o755
    assert a["plan.json"][1] & 0o644 == 0o644
    assert json.loads(a["plan.json"][0]) == json.loads(first.stdout)


def test_existing_directory_is_refused_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "notes.txt"
    mine.write_text("my notes")
    refused = planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--out", out)
    assert refused.returncode == 2 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert mine.read_text() == "my notes" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    forced = planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--out", out, "--force")
    assert forced.returncode == 2 and "not written by `planner plan --out`" in forced.stderr
    assert mine.read_text() == "my notes" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    mine.unlink()
    assert planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--out", out).returncode == 0
    forced = planner("plan", "llama-3.1-8b", "--gpus", "l40sx2", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((out / "plan.json").read_text())["fleet"]["total_gpus"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary, old or lock files left


def test_no_fit_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = planner("plan", "llama-3.1-405b", "--gpus", "l4", "--out", out)
    assert result.returncode == 3 and "nothing written" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_previous_output(tmp_path):
    out = tmp_path / "out"
    write_all({"a.txt": "old", "plan.json": "{}"}, out)
    before = snapshot(out)
    with pytest.raises(ValueError, match="outside the output directory"):
        write_all({"b.txt": "new", "../escape.txt": "x"}, out, force=True)
    assert snapshot(out) == before and before["a.txt"][0] == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_version_is_recorded_and_validated(tmp_path):
    out = tmp_path / "out"
    result = planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--trtllm-version", "1.2.1", "--out", out,
                     "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "plan.json").read_text())["target"]["trtllm_version"] == "1.2.1"
    assert planner("validate", out).returncode == 0


def test_validate_names_file_field_and_fix(tmp_path):
    out = tmp_path / "out"
    assert planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--flow", "engine", "--out", out).returncode == 0
    config = out / "model_repository" / "ensemble" / "config.pbtxt"
    config.write_text(config.read_text().replace('value: "text_output"', 'value: "txt_output"', 1))
    result = planner("validate", out)
    assert result.returncode == 2
    assert "ensemble/config.pbtxt" in result.stdout and "text_output" in result.stdout


def test_diff_reports_drift_with_exit_5(tmp_path):
    out = tmp_path / "out"
    assert planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--flow", "engine", "--max-batch-size", 8,
                   "--out", out).returncode == 0
    assert planner("diff", out).returncode == 0
    pbtxt = out / "model_repository" / "tensorrt_llm" / "config.pbtxt"
    pbtxt.write_text(pbtxt.read_text().replace("max_batch_size: 8", "max_batch_size: 16"))
    drift = planner("diff", out)
    assert drift.returncode == 5
    assert "-max_batch_size: 16" in drift.stdout and "+max_batch_size: 8" in drift.stdout


def test_unwritable_destination_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("mine")
    result = planner("plan", "llama-3.1-8b", "--gpus", "l40sx1", "--out", tmp_path / "afile" / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot write to" in result.stderr.splitlines()[-1]
    assert (tmp_path / "afile").read_text() == "mine"
