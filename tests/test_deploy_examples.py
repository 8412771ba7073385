"""The CI examples in deploy/: they parse, and their planner commands work as written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "deploy"
BIN = Path(sys.executable).parent
COMMANDS = ["planner plan -c plan.yaml --out build/artifacts", "planner diff -c plan.yaml artifacts/"]


def github_runs() -> list[str]:
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    return [s["run"] for s in steps if "run" in s and "pip install" not in s["run"]]


def gitlab_script() -> list[str]:
    return yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["planner"]["script"]


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-ec", command], cwd=cwd, env=env, capture_output=True, text=True)


def test_github_workflow_shape() -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    # PyYAML reads the bare `on:` key as True (YAML 1.1); GitHub reads it as "on"
    assert True in workflow or "on" in workflow
    steps = workflow["jobs"]["plan"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert "actions/checkout@v4" in uses and "actions/upload-artifact@v4" in uses
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "build/artifacts/"
    assert github_runs() == COMMANDS


def test_gitlab_job_shape() -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["planner"]
    assert job["artifacts"]["paths"] == ["build/artifacts/"] and job["artifacts"]["when"] == "always"
    assert gitlab_script() == COMMANDS


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user repository as the examples expect it: plan.yaml and the committed artifacts/."""
    shutil.copy(EXAMPLES / "plan.yaml", tmp_path / "plan.yaml")
    made = run("planner plan -c plan.yaml --out artifacts", tmp_path)
    assert made.returncode == 0, made.stderr
    return tmp_path


@pytest.mark.parametrize("commands", [github_runs, gitlab_script], ids=["github", "gitlab"])
def test_ci_commands_pass_on_committed_artifacts(repo: Path, commands) -> None:
    for command in commands():
        result = run(command, repo)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert (repo / "build" / "artifacts" / "plan.json").is_file()


def test_drift_check_fails_with_exit_5(repo: Path) -> None:
    build = repo / "artifacts" / "build.sh"
    build.write_text(build.read_text() + "# edited by hand\n")
    drift = github_runs()[1]
    result = run(drift, repo)
    assert result.returncode == 5, (result.stdout, result.stderr)


def test_changed_plan_yaml_is_drift(repo: Path) -> None:
    plan = repo / "plan.yaml"
    plan.write_text(plan.read_text().replace("max_batch_size: 64", "max_batch_size: 32"))
    result = run(gitlab_script()[1], repo)
    assert result.returncode == 5, (result.stdout, result.stderr)
