"""A PyTorch-flow plan with several replicas on one node: the generated README starts all of them."""

from __future__ import annotations

import os
import subprocess

from planner.api import make_plan
from planner.emit import render_all


def test_readme_starts_every_replica_of_a_node_on_its_own_gpus_and_ports():
    plan = make_plan("llama-3.1-70b", "h100x8")
    assert plan.target.flow == "pytorch" and plan.layout.replicas == 2 and plan.layout.gpus_per_replica == 4
    readme = render_all(plan)["README.md"]
    assert "2 replicas" in readme
    assert "CUDA_VISIBLE_DEVICES=4,5,6,7" in readme and "HTTP_PORT=" in readme and "GRPC_PORT=" in readme
    assert "SHM_PREFIX=" in readme  # its own Python-backend shared-memory names


def test_one_replica_per_node_needs_no_second_launch():
    readme = render_all(make_plan("llama-3.1-8b", "h100x1"))["README.md"]
    assert "CUDA_VISIBLE_DEVICES" not in readme


def test_rank_script_takes_the_replica_ports_from_the_environment(tmp_path):
    files = render_all(make_plan("llama-3.1-70b", "h100x8"))
    repo = tmp_path / "data" / "model_repository" / "tensorrt_llm" / "1"
    repo.mkdir(parents=True)
    code = tmp_path / "code"
    code.mkdir()
    for name in ("model.py", "helpers.py"):
        (code / name).write_text("#\n")
    launcher = tmp_path / "bin" / "trtllm-llmapi-launch"
    launcher.parent.mkdir()
    launcher.write_text('#!/bin/bash\nfor a in "$@"; do echo "$a"; done\n')
    launcher.chmod(0o755)
    script = tmp_path / "triton-rank.sh"
    script.write_text(files["deploy/scripts/triton-rank.sh"])
    env = {"PATH": f"{launcher.parent}{os.pathsep}{os.environ['PATH']}", "DATA_DIR": str(tmp_path / "data"),
           "MODEL_REPO": str(tmp_path / "data" / "model_repository"), "LLMAPI_MODEL_CODE": str(code),
           "TRITONSERVER": "tritonserver", "PMIX_RANK": "1"}

    def args(**extra):
        run = subprocess.run(["bash", str(script)], env={**env, **extra}, check=True, capture_output=True, text=True)
        return run.stdout.split()

    default = args()
    assert {"--http-port=8000", "--grpc-port=8001", "--metrics-port=8002"} <= set(default)
    second = args(HTTP_PORT="8010", GRPC_PORT="8011", METRICS_PORT="8012", SHM_PREFIX="r1rank")  # as the README
    assert {"--http-port=8010", "--grpc-port=8011", "--metrics-port=8012"} <= set(second)
    # two servers on one host must not share Python-backend shared-memory region names
    shm = [a for a in default + second if "shm-region-prefix-name" in a]
    assert len(shm) == 2 and shm[0] != shm[1]
