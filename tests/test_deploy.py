"""Deployment artifacts: golden files, structure read back from the YAML, schema validation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from planner.api import make_plan
from planner.deploy_validate import validate_manifests
from planner.emit import deploy
from planner.emit.deploy import emit_deploy
from planner.emit.examples import EXAMPLES
from planner.errors import InputError, NoFitError, PlannerError
from planner.plan import Plan

HERE = Path(__file__).parent
CRDS = [HERE / "data" / "lws"]

# The committed examples: one replica per node, and a replica spanning two nodes.
SINGLE, MULTI = "llama-3.1-70b_fp8_h100x8", "llama-3.1-405b_2xh100x8"
CASES = {name: EXAMPLES[name] for name in (SINGLE, MULTI)}


@pytest.fixture(scope="module")
def single() -> Plan:
    return make_plan(**CASES[SINGLE])


@pytest.fixture(scope="module")
def multi() -> Plan:
    return make_plan(**CASES[MULTI])


def docs(files: dict[str, str], path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(files[path]) if d is not None]


def doc(files: dict[str, str], path: str) -> dict:
    (only,) = docs(files, path)
    return only


# --- golden files: model_repository_examples/*/deploy/ (tests/test_emit_golden.py) ----------


def test_deterministic(multi: Plan) -> None:
    assert emit_deploy(multi) == emit_deploy(multi)
    assert list(emit_deploy(multi)) == sorted(emit_deploy(multi))


# --- single node: Deployment --------------------------------------------------------------


def test_single_node_file_set(single: Plan) -> None:
    files = emit_deploy(single)
    assert single.layout is not None and single.layout.nodes_per_replica == 1
    assert "deploy/kubernetes/deployment.yaml" in files
    assert "deploy/docker/compose.yaml" in files
    assert "deploy/kubernetes/leaderworkerset.yaml" not in files
    assert "deploy/slurm/triton.sbatch" in files


def test_deployment_reads_the_plan(single: Plan) -> None:
    lay = single.layout
    assert lay is not None
    files = emit_deploy(single)
    dep = doc(files, "deploy/kubernetes/deployment.yaml")
    assert dep["spec"]["replicas"] == lay.replicas
    pod = dep["spec"]["template"]
    (triton,) = pod["spec"]["containers"]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == lay.tp * lay.pp
    # mpirun starts world size = tp * pp ranks
    assert triton["command"][:4] == ["mpirun", "--allow-run-as-root", "-n", str(lay.tp * lay.pp)]
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert {p["name"]: p["containerPort"] for p in triton["ports"]} == {"http": 8000, "grpc": 8001, "metrics": 8002}
    env = {e["name"]: e["value"] for e in triton["env"]}
    assert env["WORLD_SIZE"] == str(lay.gpus_per_replica)
    assert env["ENGINE_DIR"] == single.serving.engine_dir
    assert env["TOKENIZER_DIR"] == single.serving.tokenizer_dir
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    # 2 GiB + 1 GiB per GPU in the pod
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{2 + lay.gpus_per_replica}Gi"}
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == "triton-llama-3-1-70b-artifacts"
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["check-artifacts"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8002"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert dep["metadata"]["annotations"]["planner/model"] == single.model.name


def test_service_and_monitor_select_the_pods(single: Plan) -> None:
    files = emit_deploy(single)
    dep = doc(files, "deploy/kubernetes/deployment.yaml")
    svc = doc(files, "deploy/kubernetes/service.yaml")
    mon = doc(files, "deploy/kubernetes/servicemonitor.yaml")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"http": 8000, "grpc": 8001, "metrics": 8002}
    assert mon["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert mon["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]


def test_configmap_carries_the_scripts(multi: Plan) -> None:
    files = emit_deploy(multi)
    data = doc(files, "deploy/kubernetes/configmap.yaml")["data"]
    assert sorted(data) == ["check-artifacts.sh", "kubessh", "leader.sh", "triton-rank.sh"]
    for name, text in data.items():
        assert text == files[f"deploy/scripts/{name}"]


def test_compose(single: Plan) -> None:
    lay = single.layout
    assert lay is not None
    services = doc(emit_deploy(single), "deploy/docker/compose.yaml")["services"]
    # one service per replica this host holds: 8 GPUs / TP 2 = 4 replicas
    per_host = single.fleet.gpus_per_node // lay.gpus_per_replica
    assert per_host == 4 and sorted(services) == [f"triton-{i}" for i in range(per_host)]
    gpus, ports = [], []
    for i in range(per_host):
        svc = services[f"triton-{i}"]
        (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and "count" not in device
        gpus += device["device_ids"]
        assert len(device["device_ids"]) == lay.gpus_per_replica
        assert svc["shm_size"] == f"{2 + lay.gpus_per_replica}gb"
        env = svc["environment"]
        http, grpc, metrics = 8000 + 10 * i, 8001 + 10 * i, 8002 + 10 * i
        assert (env["HTTP_PORT"], env["GRPC_PORT"], env["METRICS_PORT"]) == (str(http), str(grpc), str(metrics))
        assert svc["ports"] == [f"{http}:{http}", f"{grpc}:{grpc}", f"{metrics}:{metrics}"]
        assert f"localhost:{http}/v2/health/ready" in svc["healthcheck"]["test"][-1]
        ports += svc["ports"]
        assert env["SHM_PREFIX"] == f"r{i}rank"
        assert f"mpirun --allow-run-as-root -n {lay.gpus_per_replica} " in svc["command"][2]
        assert env["ENGINE_DIR"] == single.serving.engine_dir
    # disjoint GPU sets covering the node, distinct host ports
    assert sorted(gpus, key=int) == [str(g) for g in range(8)] and len(set(ports)) == len(ports)


def test_one_replica_per_host_keeps_one_service() -> None:
    plan = make_plan(model="llama-3.1-8b", gpus="l40sx1")
    services = doc(emit_deploy(plan), "deploy/docker/compose.yaml")["services"]
    assert list(services) == ["triton"]
    assert services["triton"]["ports"] == ["8000:8000", "8001:8001", "8002:8002"]


# --- multi node: LeaderWorkerSet ----------------------------------------------------------


def test_multi_node_file_set(multi: Plan) -> None:
    files = emit_deploy(multi)
    assert multi.layout is not None and multi.layout.nodes_per_replica == 2
    assert "deploy/kubernetes/leaderworkerset.yaml" in files
    assert "deploy/kubernetes/rbac.yaml" in files
    assert "deploy/kubernetes/image/Containerfile" in files
    assert "deploy/kubernetes/deployment.yaml" not in files
    assert "deploy/docker/compose.yaml" not in files


def test_leaderworkerset_reads_the_plan() -> None:
    # a replica that fills one node and part of the next (the planner's own choice tiles whole nodes)
    multi = make_plan(**{**CASES[MULTI], "tp": 4, "pp": 3})
    lay = multi.layout
    assert lay is not None and (lay.tp, lay.pp) == (4, 3)
    files = emit_deploy(multi)
    lws = doc(files, "deploy/kubernetes/leaderworkerset.yaml")
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert lws["spec"]["replicas"] == lay.replicas
    tmpl = lws["spec"]["leaderWorkerTemplate"]
    assert tmpl["size"] == lay.nodes_per_replica
    (leader,) = tmpl["leaderTemplate"]["spec"]["containers"]
    (worker,) = tmpl["workerTemplate"]["spec"]["containers"]
    # TP 4 x PP 3 on nodes of 8: ranks 0-7 (two stages) on the leader, 8-11 on the worker
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 4
    env = {e["name"]: e.get("value") for e in leader["env"]}
    assert (env["WORLD_SIZE"], env["LEADER_SLOTS"], env["WORKER_SLOTS"]) == ("12", "8", "4")
    assert leader["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert leader["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert "readinessProbe" not in worker
    assert tmpl["leaderTemplate"]["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    assert tmpl["leaderTemplate"]["spec"]["serviceAccountName"] == "triton-llama-3-1-405b-launcher"
    svc = doc(files, "deploy/kubernetes/service.yaml")
    assert svc["spec"]["selector"] == {
        "leaderworkerset.sigs.k8s.io/name": lws["metadata"]["name"],
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    kinds = [d["kind"] for d in docs(files, "deploy/kubernetes/rbac.yaml")]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding"]


def test_slurm_multi_node(multi: Plan) -> None:
    text = emit_deploy(multi)["deploy/slurm/triton.sbatch"]
    assert "#SBATCH --nodes=2\n" in text
    assert multi.layout.gpus_per_replica == 16  # TP 8 x PP 2: the replica fills both nodes
    assert "#SBATCH --ntasks=16\n" in text
    assert "#SBATCH --ntasks-per-node=8\n" in text
    assert 'srun --mpi=pmix "${container[@]}"' in text


@pytest.mark.parametrize(
    ("tp", "pp", "pods", "per_node", "expected"),
    [
        (4, 3, 2, 8, (8, 4)),  # ranks 0-7 on the leader, 8-11 on the worker
        (8, 2, 2, 8, (8, 8)),
        (8, 4, 4, 8, (8, 8)),
        (2, 5, 2, 8, (8, 2)),
        (4, 5, 3, 8, (8, 8)),  # two workers share a template: both ask for a full node
        (16, 1, 2, 8, (8, 8)),  # TP across nodes
        (4, 3, 3, 4, (4, 4)),
    ],
)
def test_placement(multi: Plan, tp: int, pp: int, pods: int, per_node: int, expected: tuple[int, int]) -> None:
    place = deploy.placement(_with_layout(multi, tp, pp, pods, per_node))
    assert (place.leader_gpus, place.worker_gpus) == expected
    # TensorRT-LLM runs rank r on GPU r % per_node of pod r // per_node: every pod has those GPUs
    for rank in range(tp * pp):
        pod, gpu = divmod(rank, per_node)
        assert gpu < (place.leader_gpus if pod == 0 else place.worker_gpus)
    assert pods == place.pods


@pytest.mark.parametrize(("tp", "pp", "pods", "per_node", "why"), [
    (3, 5, 2, 8, "straddle"),  # a TP group of 3 across a node boundary of 8
    (4, 3, 3, 8, "need 2 nodes"),  # the layout's node count disagrees with the ranks
])
def test_placement_refuses_inconsistent_layouts(multi: Plan, tp: int, pp: int, pods: int, per_node: int,
                                                 why: str) -> None:
    with pytest.raises(PlannerError, match=why):
        deploy.placement(_with_layout(multi, tp, pp, pods, per_node))


def _with_layout(plan: Plan, tp: int, pp: int, pods: int, per_node: int) -> Plan:
    assert plan.layout is not None
    layout = plan.layout.model_copy(update={"tp": tp, "pp": pp, "gpus_per_replica": tp * pp,
                                            "nodes_per_replica": pods})
    fleet = plan.fleet.model_copy(update={"gpus_per_node": per_node})
    return plan.model_copy(update={"layout": layout, "fleet": fleet})


# --- sizes, image, errors -----------------------------------------------------------------


def test_volume_size(multi: Plan) -> None:
    lay = multi.layout
    assert lay is not None
    engines = sum(s.weights_bytes for s in multi.memory.per_gpu) * lay.tp
    gib = -(-(engines * 11 // 10 + 10 * deploy.GIB) // deploy.GIB)
    pvc = doc(emit_deploy(multi), "deploy/kubernetes/pvc.yaml")
    assert pvc["spec"]["resources"]["requests"]["storage"] == f"{gib}Gi"
    # 405B parameters in bf16 are about 755 GiB of engine
    assert 800 < gib < 900


def test_image_follows_the_version(single: Plan) -> None:
    assert single.target.trtllm_version == "0.19.0"
    dep = doc(emit_deploy(single), "deploy/kubernetes/deployment.yaml")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "nvcr.io/nvidia/tritonserver:25.05-trtllm-python-py3"
    )


def test_image_override(multi: Plan) -> None:
    image = "registry.example.com:5000/team/triton-kubectl:25.05@sha256:" + "ab" * 32
    files = emit_deploy(multi, image=image)
    lws = doc(files, "deploy/kubernetes/leaderworkerset.yaml")
    assert lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["image"] == image
    # the Containerfile still builds on the stock image
    stock = "nvcr.io/nvidia/tritonserver:25.05-trtllm-python-py3"
    assert f"FROM {stock}\n" in files["deploy/kubernetes/image/Containerfile"]


@pytest.mark.parametrize("image", ["", "bad image", "x\nFROM evil", "-rm", "a:b:c:d"])
def test_bad_image_is_refused(single: Plan, image: str) -> None:
    with pytest.raises(InputError):
        emit_deploy(single, image=image)


def test_unknown_version_needs_an_image(single: Plan) -> None:
    plan = single.model_copy(update={"target": single.target.model_copy(update={"trtllm_version": "9.9.9"})})
    with pytest.raises(InputError, match="--image"):
        emit_deploy(plan)
    assert emit_deploy(plan, image="my/triton:1")


def test_nothing_to_deploy_without_a_layout(single: Plan) -> None:
    with pytest.raises(NoFitError):
        emit_deploy(single.model_copy(update={"layout": None}))


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_manifests_validate(case: str) -> None:
    assert validate_manifests(emit_deploy(make_plan(**CASES[case])), CRDS) == []


def test_missing_crd_is_reported(multi: Plan) -> None:
    errors = validate_manifests(emit_deploy(multi), [HERE / "no-such-dir"])
    assert any("LeaderWorkerSet" in e and "no schema" in e for e in errors)
    assert any("ServiceMonitor" in e and "no schema" in e for e in errors)


def _broken(files: dict[str, str], path: str, edit) -> dict[str, str]:
    parsed = docs(files, path)
    edit(parsed[0])
    return {**files, path: yaml.safe_dump_all(parsed)}


def _container(d: dict) -> dict:
    return d["spec"]["template"]["spec"]["containers"][0]


def _leader(d: dict) -> dict:
    return d["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]


BREAKAGES = {
    "deployment unknown field": (
        "single", "deploy/kubernetes/deployment.yaml", lambda d: _container(d).update(imagePullPolicyy="Always"),
        "imagePullPolicyy"),
    "deployment wrong type": (
        "single", "deploy/kubernetes/deployment.yaml", lambda d: d["spec"].update(replicas="two"), "replicas"),
    "deployment container without name": (
        "single", "deploy/kubernetes/deployment.yaml", lambda d: _container(d).pop("name"), "name"),
    "service bad port": (
        "single", "deploy/kubernetes/service.yaml", lambda d: d["spec"]["ports"][0].update(port="http"), "port"),
    "lws unknown spec field": (
        "multi", "deploy/kubernetes/leaderworkerset.yaml", lambda d: d["spec"].update(gangSize=2), "gangSize"),
    "lws bad restart policy": (
        "multi", "deploy/kubernetes/leaderworkerset.yaml",
        lambda d: d["spec"]["leaderWorkerTemplate"].update(restartPolicy="Always"), "restartPolicy"),
    "lws size as text": (
        "multi", "deploy/kubernetes/leaderworkerset.yaml",
        lambda d: d["spec"]["leaderWorkerTemplate"].update(size="2"), "size"),
    "lws leader container unknown field": (
        "multi", "deploy/kubernetes/leaderworkerset.yaml", lambda d: _leader(d).update(gpus=8), "gpus"),
    "lws leader probe wrong type": (
        "multi", "deploy/kubernetes/leaderworkerset.yaml",
        lambda d: _leader(d)["readinessProbe"].update(periodSeconds="10s"), "periodSeconds"),
    "lws bad metadata": (
        "multi", "deploy/kubernetes/leaderworkerset.yaml", lambda d: d["metadata"].update(labels=["a"]), "labels"),
    "servicemonitor bad interval": (
        "multi", "deploy/kubernetes/servicemonitor.yaml",
        lambda d: d["spec"]["endpoints"][0].update(interval="15 seconds"), "interval"),
    "servicemonitor unknown field": (
        "multi", "deploy/kubernetes/servicemonitor.yaml", lambda d: d["spec"].update(scrapeEvery="15s"),
        "scrapeEvery"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_broken_manifest_is_caught(name: str, single: Plan, multi: Plan) -> None:
    which, path, edit, field = BREAKAGES[name]
    files = emit_deploy(single if which == "single" else multi)
    errors = validate_manifests(_broken(files, path, edit), CRDS)
    assert errors and all(e.startswith(path) for e in errors)
    assert any(field in e for e in errors), errors


def test_invalid_yaml_is_caught(single: Plan) -> None:
    files = {**emit_deploy(single), "deploy/kubernetes/service.yaml": "kind: Service\n  bad: [indent\n"}
    (error,) = validate_manifests(files, CRDS)
    assert error.startswith("deploy/kubernetes/service.yaml: not valid YAML")


# --- scripts ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["triton-rank.sh", "check-artifacts.sh", "leader.sh", "kubessh"])
def test_scripts_parse(multi: Plan, name: str, tmp_path: Path) -> None:
    script = tmp_path / name
    script.write_text(emit_deploy(multi)[f"deploy/scripts/{name}"])
    shell = "sh" if name == "kubessh" else "bash"
    subprocess.run([shell, "-n", str(script)], check=True)


def test_sbatch_parses(multi: Plan, tmp_path: Path) -> None:
    script = tmp_path / "triton.sbatch"
    script.write_text(emit_deploy(multi)["deploy/slurm/triton.sbatch"])
    subprocess.run(["bash", "-n", str(script)], check=True)


def _run_rank(files: dict[str, str], tmp_path: Path, env: dict[str, str]) -> list[str]:
    script = tmp_path / "triton-rank.sh"
    script.write_text(files["deploy/scripts/triton-rank.sh"])
    fake = tmp_path / "tritonserver"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    base = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "MODEL_REPO": "/data/model_repository",
            "TRITONSERVER": str(fake)}
    out = subprocess.run(["bash", str(script)], env={**base, **env}, check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def test_rank_zero_serves(multi: Plan, tmp_path: Path) -> None:
    args = _run_rank(emit_deploy(multi), tmp_path, {"OMPI_COMM_WORLD_RANK": "0"})
    assert args == [
        "--model-repository=/data/model_repository",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--disable-auto-complete-config",
        "--backend-config=python,shm-region-prefix-name=prefix0_",
    ]


@pytest.mark.parametrize("rank_var", ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"])
def test_other_ranks_load_only_the_engine(multi: Plan, tmp_path: Path, rank_var: str) -> None:
    args = _run_rank(emit_deploy(multi), tmp_path, {rank_var: "7"})
    assert "--backend-config=python,shm-region-prefix-name=prefix7_" in args
    assert args[-5:] == ["--model-control-mode=explicit", "--load-model=tensorrt_llm", "--allow-http=false",
                         "--allow-grpc=false", "--allow-metrics=false"]


def _check(files: dict[str, str], root: Path, world: int) -> subprocess.CompletedProcess[str]:
    script = root / "check-artifacts.sh"
    script.write_text(files["deploy/scripts/check-artifacts.sh"])
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(root), "MODEL_REPO": str(root / "model_repository"),
           "ENGINE_DIR": "./engines", "TOKENIZER_DIR": "./hf_model", "WORLD_SIZE": str(world)}
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)


def _populate(root: Path, ranks: int) -> None:
    (root / "model_repository" / "tensorrt_llm").mkdir(parents=True)
    (root / "model_repository" / "tensorrt_llm" / "config.pbtxt").write_text("")
    (root / "engines").mkdir()
    (root / "engines" / "config.json").write_text("{}")
    for r in range(ranks):
        (root / "engines" / f"rank{r}.engine").write_text("")
    (root / "hf_model").mkdir()


@pytest.mark.parametrize(("ranks", "ok", "message"), [
    (12, True, "artifacts for 12 rank(s) found"),
    (8, False, "fewer than 12 rank engines"),
    (16, False, "more than 12 rank engines"),
])
def test_check_artifacts(multi: Plan, tmp_path: Path, ranks: int, ok: bool, message: str) -> None:
    _populate(tmp_path, ranks)
    result = _check(emit_deploy(multi), tmp_path, 12)
    assert (result.returncode == 0) == ok
    assert message in (result.stdout + result.stderr)


def test_check_artifacts_empty_volume(multi: Plan, tmp_path: Path) -> None:
    result = _check(emit_deploy(multi), tmp_path, 12)
    assert result.returncode == 1
    assert "copy the planner's output directory" in result.stderr


# --- the multi-node launch under a real Open MPI ------------------------------------------


FAKE_KUBECTL = """#!/bin/sh
# kubectl stand-in: `wait` succeeds; `exec POD -c C -- CMD...` runs CMD here and logs the pod
echo "$*" >> "$KUBECTL_LOG"
case " $* " in
  *" wait "*) exit 0 ;;
esac
while [ "$1" != "--" ]; do shift; done
shift
exec "$@"
"""

FAKE_TRITONSERVER = """#!/bin/sh
echo "rank=$OMPI_COMM_WORLD_RANK $*"
"""


# CI installs Open MPI (.ci/run), so there a missing mpirun fails instead of skipping.
@pytest.mark.skipif(shutil.which("mpirun") is None and not os.environ.get("CI"), reason="needs Open MPI's mpirun")
def test_leader_starts_every_rank_through_kubessh(multi: Plan, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "SCRIPTS_DIR", str(tmp_path))
    files = emit_deploy(multi)
    for name in ("leader.sh", "kubessh", "triton-rank.sh"):
        (tmp_path / name).write_text(files[f"deploy/scripts/{name}"])
    (tmp_path / "kubessh").chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("kubectl", FAKE_KUBECTL), ("tritonserver", FAKE_TRITONSERVER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "KUBECTL_LOG": str(tmp_path / "kubectl.log"),
        "TRITONSERVER": str(bin_dir / "tritonserver"),
        "POD_NAME": host,  # the leader is this machine; its worker `<host>-1` is reached through kubessh
        "POD_NAMESPACE": "serving",
        "LWS_GROUP_SIZE": "2",
        "DATA_DIR": str(tmp_path),
        "MODEL_REPO": "/data/model_repository",
        "WORLD_SIZE": "12",
        "LEADER_SLOTS": "8",
        "WORKER_SLOTS": "4",
        "OMPI_MCA_rmaps_base_oversubscribe": "1",  # 12 ranks on a small test machine
    }
    result = subprocess.run(["bash", str(tmp_path / "leader.sh")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    ranks = sorted(int(line.split()[0].removeprefix("rank=")) for line in result.stdout.splitlines()
                   if line.startswith("rank="))
    assert ranks == list(range(12))
    log = (tmp_path / "kubectl.log").read_text().splitlines()
    assert log[0] == f"-n serving wait --for=condition=Ready pod/{host}-1 --timeout=60s"
    # one remote daemon, started in the worker pod's triton container
    execs = [line for line in log if " exec " in f" {line} "]
    assert len(execs) == 1 and execs[0].startswith(f"-n serving exec {host}-1 -c triton -- /bin/sh -c ")
