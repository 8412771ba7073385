"""deploy/ for the PyTorch flow: the shared manifests validate, each rank runs trtllm-llmapi-launch
tritonserver on a private copy of the repository with the image's llmapi model code, and the init
check looks for model.yaml and the checkpoint instead of engines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from planner.api import make_plan
from planner.deploy_validate import validate_manifests
from planner.emit.pytorch.launch import emit_deploy

HERE = Path(__file__).parent
CRDS = [HERE / "data" / "lws"]
CASES = {"single": ("llama-3.1-70b", "h100x8"), "multi": ("llama-3.1-405b", "2xh100x8")}


@pytest.fixture(scope="module", params=sorted(CASES))
def files(request) -> dict[str, str]:
    model, gpus = CASES[request.param]
    plan = make_plan(model, gpus)
    assert plan.target.flow == "pytorch" and plan.fits
    return emit_deploy(plan)


def test_manifests_validate(files):
    assert validate_manifests(files, CRDS) == []
    # the container whose TensorRT-LLM (1.2.1) the llmapi repository was written for
    assert any("tritonserver:26.07-trtllm-python-py3" in text for path, text in files.items()
               if path.startswith("deploy/kubernetes/"))


@pytest.mark.parametrize("name", ["triton-rank.sh", "check-artifacts.sh"])
def test_scripts_parse(files, name, tmp_path):
    (tmp_path / name).write_text(files[f"deploy/scripts/{name}"])
    subprocess.run(["bash", "-n", str(tmp_path / name)], check=True)


def _fake(path: Path, body: str) -> None:
    path.write_text(body)
    path.chmod(0o755)


def test_every_rank_runs_llmapi_launch_with_the_image_model_code(files, tmp_path):
    repo = tmp_path / "data" / "model_repository" / "tensorrt_llm" / "1"
    repo.mkdir(parents=True)
    (repo / "model.yaml").write_text("model: ./hf_model\n")
    code = tmp_path / "code"
    code.mkdir()
    for name in ("model.py", "helpers.py"):
        (code / name).write_text(f"# {name}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # the launcher prints what it runs and checks the model code is in place
    _fake(bin_dir / "trtllm-llmapi-launch",
          '#!/bin/bash\nfor a in "$@"; do echo "$a"; done\n'
          'repo="${2#--model-repository=}"\nls "$repo/tensorrt_llm/1"\n')
    script = tmp_path / "triton-rank.sh"
    script.write_text(files["deploy/scripts/triton-rank.sh"])
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DATA_DIR": str(tmp_path / "data"),
           "MODEL_REPO": str(tmp_path / "data" / "model_repository"), "LLMAPI_MODEL_CODE": str(code),
           "TRITONSERVER": "tritonserver", "PMIX_RANK": "3"}
    out = subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == "tritonserver" and out[1].startswith("--model-repository=")
    assert out[1] != f"--model-repository={env['MODEL_REPO']}"  # a private copy: the volume stays read-only
    assert "--disable-auto-complete-config" not in out  # triton_config reaches Triton through auto-complete
    assert "--backend-config=python,shm-region-prefix-name=prefix3_" in out
    assert {"model.py", "helpers.py", "model.yaml"} <= set(out)


def test_check_artifacts(files, tmp_path):
    script = tmp_path / "check.sh"
    script.write_text(files["deploy/scripts/check-artifacts.sh"])
    code = tmp_path / "code"
    code.mkdir()
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "MODEL_REPO": "model_repository",
           "TOKENIZER_DIR": "hf_model", "LLMAPI_MODEL_CODE": str(code)}

    def run():
        return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)

    assert run().returncode == 1 and "config.pbtxt" in run().stderr
    (tmp_path / "model_repository" / "tensorrt_llm" / "1").mkdir(parents=True)
    (tmp_path / "model_repository" / "tensorrt_llm" / "config.pbtxt").write_text("")
    (tmp_path / "model_repository" / "tensorrt_llm" / "1" / "model.yaml").write_text("")
    assert "no checkpoint" in run().stderr
    (tmp_path / "hf_model").mkdir()
    (tmp_path / "hf_model" / "config.json").write_text("{}")
    assert "model.py" in run().stderr
    for name in ("model.py", "helpers.py"):
        (code / name).write_text("")
    result = run()
    assert result.returncode == 0, result.stderr
