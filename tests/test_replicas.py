"""Several replicas on one node, and the multi-node launch, as the README and deploy/ write them.

The README's bare-metal block is run as written, with stand-ins for mpirun and tritonserver
that record what each server was started with: every replica must get its own GPUs, its own
ports and its own Python-backend shared-memory prefix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from planner.api import make_plan
from planner.emit import render_all
from planner.engine_contract import check_commands, load_contract

# mpirun -n N CMD...: run CMD once per rank with Open MPI's rank variable, in the foreground
FAKE_MPIRUN = """#!/bin/bash
while [ "$1" != "-n" ]; do shift; done
n="$2"; shift 2
for ((r = 0; r < n; r++)); do OMPI_COMM_WORLD_RANK=$r "$@"; done
"""
FAKE_TRITONSERVER = """#!/bin/bash
echo "gpus=$CUDA_VISIBLE_DEVICES rank=$OMPI_COMM_WORLD_RANK $*" >> "$SERVER_LOG"
"""


def _bash_blocks(readme: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", readme, flags=re.S)


def _launch_block(readme: str) -> str:
    return next(b for b in _bash_blocks(readme) if "triton-rank.sh" in b or "launch_triton_server" in b)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_starts_each_replica_on_its_own_gpus_ports_and_prefix(tmp_path: Path):
    plan = make_plan("llama-3.1-70b", gpus="h100x8", quant="fp8", tp=2, trtllm_version="0.19.0", flow="engine")
    assert plan.layout.replicas == 4
    files = render_all(plan)
    out = tmp_path / "out"
    (out / "deploy/scripts").mkdir(parents=True)
    (out / "deploy/scripts/triton-rank.sh").write_text(files["deploy/scripts/triton-rank.sh"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("mpirun", FAKE_MPIRUN), ("tritonserver", FAKE_TRITONSERVER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "servers.log"
    block = _launch_block(files["README.md"]) + "wait\n"
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "SERVER_LOG": str(log),
           "TRITONSERVER": str(bin_dir / "tritonserver")}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=out, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    servers = log.read_text().splitlines()
    assert len(servers) == 8  # 4 replicas x 2 ranks
    rank0 = [s for s in servers if " rank=0 " in s]
    assert len(rank0) == 4
    gpus = [re.search(r"gpus=(\S+)", s).group(1) for s in rank0]
    assert sorted(gpus) == ["0,1", "2,3", "4,5", "6,7"]  # disjoint GPU sets
    http = [re.search(r"--http-port=(\d+)", s).group(1) for s in rank0]
    assert sorted(http) == ["8000", "8010", "8020", "8030"]
    prefixes = {re.search(r"shm-region-prefix-name=(\S+)", s).group(1) for s in servers}
    assert len(prefixes) == 8  # no two servers on the host share a shared-memory prefix
    # the other rank of each replica opens no port and loads only the engine model
    assert all("--allow-http=false" in s and "--load-model=tensorrt_llm" in s for s in servers if " rank=1 " in s)


def test_triton_rank_keeps_the_defaults_for_kubernetes_and_slurm(tmp_path: Path):
    plan = make_plan("llama-3.1-8b", gpus="l40sx1", trtllm_version="1.2.1", flow="engine")
    script = tmp_path / "triton-rank.sh"
    script.write_text(render_all(plan)["deploy/scripts/triton-rank.sh"])
    fake = tmp_path / "tritonserver"
    fake.write_text('#!/bin/bash\necho "$*"\n')
    fake.chmod(0o755)
    run = subprocess.run(["bash", str(script)], env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path),
                                                      "MODEL_REPO": "/data/model_repository",
                                                      "TRITONSERVER": str(fake)},
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    args = run.stdout.split()
    assert "--http-port=8000" in args and "--grpc-port=8001" in args and "--metrics-port=8002" in args
    assert "--backend-config=python,shm-region-prefix-name=prefix0_" in args


def test_one_replica_per_node_keeps_launch_triton_server_and_it_parses():
    for version in ("0.19.0", "1.2.1"):
        plan = make_plan("llama-3.1-8b", gpus="l40sx1", trtllm_version=version, flow="engine")
        readme = render_all(plan)["README.md"]
        block = _launch_block(readme)
        assert "launch_triton_server.py" in block and "triton-rank.sh" not in block
        (parsed,) = check_commands(block, load_contract(version))
        assert parsed[0] == "launch_triton_server"


def test_multi_node_step_gives_each_rank_its_prefix_and_only_rank_0_ports():
    plan = make_plan("llama-3.1-405b", gpus="2xh100x8", trtllm_version="0.19.0", flow="engine")
    assert plan.layout.nodes_per_replica == 2
    block = _launch_block(render_all(plan)["README.md"])
    assert "/bin/bash deploy/scripts/triton-rank.sh" in block
    assert "-x DATA_DIR=" in block and "-x MODEL_REPO=" in block
    # no bare tritonserver with one shared prefix and default ports on every rank
    assert "tritonserver --model-repository" not in block and "prefix_ " not in block


def test_pytorch_flow_rank_script_takes_the_replica_ports_too(tmp_path: Path):
    plan = make_plan("llama-3.1-70b", gpus="h100x8", trtllm_version="1.2.1", flow="pytorch")
    files = render_all(plan)
    services = __import__("yaml").safe_load(files["deploy/docker/compose.yaml"])["services"]
    assert len(services) == plan.fleet.gpus_per_node // plan.layout.gpus_per_replica > 1
    script = files["deploy/scripts/triton-rank.sh"]
    for var in ("HTTP_PORT", "GRPC_PORT", "METRICS_PORT", "SHM_PREFIX"):
        assert "${" + var + ":-" in script
