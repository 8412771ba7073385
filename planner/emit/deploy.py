"""Deployment artifacts for a plan: Kubernetes, Docker Compose and Slurm.

`emit_deploy(plan)` returns `{relative path: text}` for the files under `deploy/` of the
output directory. Everything is rendered from `templates/deploy/` and read from the plan;
the only numbers computed here are deployment choices the plan does not hold (pod
placement of ranks, /dev/shm and volume sizes), each rule documented beside its function.

A replica whose ranks fit one node (`layout.nodes_per_replica == 1`) becomes a Deployment
(plus a Docker Compose file); a larger one becomes a LeaderWorkerSet whose leader starts
every rank with `mpirun` across the group's pods. Every plan also gets a Slurm batch script.

Every string that comes from the user (model name, paths) reaches a template as `Untrusted`;
the shared environment (templating.py) refuses to print one unless it went through a quoting
filter (`q` for YAML, `cq` for Compose, `shq` for shell), so no name can break or inject YAML. Scripts read those
strings from environment variables, never from their own text. The image must match the
image-reference grammar.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from planner.emit.templating import Untrusted, render
from planner.errors import InputError, NoFitError, PlannerError
from planner.plan import Plan
from planner.serving import IMAGE_REF

GIB = 1 << 30

# Triton's default ports; tensorrtllm_backend scripts/launch_triton_server.py (v0.19.0) passes
# --http-port=8000 --grpc-port=8001 --metrics-port=8002.
HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002

# Where the planner's output directory (model_repository/, engines, tokenizer, deploy/) is
# mounted inside the containers. The servers run with this as working directory so that the
# relative paths written into config.pbtxt (plan.serving.engine_dir, tokenizer_dir) resolve
# the same way as in the output directory.
DATA_DIR = "/data"
MODEL_REPOSITORY = "model_repository"
# The Triton model that holds the engine; ranks other than 0 load only it
# (launch_triton_server.py: --model-control-mode=explicit --load-model=tensorrt_llm).
TRTLLM_MODEL = "tensorrt_llm"
# Where the Kubernetes ConfigMap with the launch scripts is mounted.
SCRIPTS_DIR = "/opt/planner"

# The multi-node leader starts remote ranks through `kubectl exec` (Open MPI's rsh agent), as
# the LWS TensorRT-LLM example (kubernetes-sigs/lws docs/examples/tensorrt-llm, v0.7.0) and
# Triton's multi-node tutorial do. The stock Triton image has no kubectl; the emitted
# Containerfile copies it from the official image (registry.k8s.io/kubectl, /bin/kubectl).
KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.31.2"

# /dev/shm: tensorrtllm_backend's README starts the container with --shm-size=2g; each rank
# in the pod adds NCCL's shared-memory transport and proxy buffers, MPI's shared-memory
# transport and the Python backend's per-process regions, for which 1 GiB per GPU is allowed.
SHM_BASE_BYTES = 2 * GIB
SHM_PER_GPU_BYTES = 1 * GIB

# Artifact volume: the engines hold each rank's weights, so their size is the plan's weights
# per GPU summed over all ranks; 10% is added for engine metadata and 10 GiB for the model
# repository, the tokenizer files and logs.
VOLUME_MARGIN_NUM, VOLUME_MARGIN_DEN = 11, 10
VOLUME_EXTRA_BYTES = 10 * GIB


# Several replicas on one host each need their own ports and GPUs: replica r listens on the
# default ports plus r * REPLICA_PORT_STRIDE and uses GPUs r*world .. r*world+world-1.
REPLICA_PORT_STRIDE = 10


@dataclass(frozen=True)
class ReplicaSlot:
    """One replica's share of a host: its GPUs, its ports, its Python-backend shared-memory prefix."""

    index: int
    gpus: tuple[int, ...]
    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def gpu_list(self) -> str:
        return ",".join(str(g) for g in self.gpus)

    @property
    def shm_prefix(self) -> str:
        # triton-rank.sh appends "<rank>_"; distinct per replica so that servers sharing a host's
        # /dev/shm never open each other's regions (launch_triton_server.py gives every launch prefix<rank>_)
        return f"r{self.index}rank"


def replica_slots(plan: Plan) -> list[ReplicaSlot]:
    """The replicas one host runs: as many disjoint GPU groups of one replica's size as the node holds.

    A replica larger than a node runs one per set of nodes (a single slot on each host).
    """
    lay = plan.layout
    world = lay.tp * lay.pp
    per_host = max(1, plan.fleet.gpus_per_node // world) if lay.nodes_per_replica == 1 else 1
    if lay.replicas:
        per_host = min(per_host, lay.replicas)
    return [
        ReplicaSlot(i, tuple(range(i * world, (i + 1) * world)) if lay.nodes_per_replica == 1 else (),
                    HTTP_PORT + i * REPLICA_PORT_STRIDE, GRPC_PORT + i * REPLICA_PORT_STRIDE,
                    METRICS_PORT + i * REPLICA_PORT_STRIDE)
        for i in range(per_host)
    ]


def resource_name(model_name: str) -> str:
    """A DNS-1035 label for the Kubernetes objects of one model: `triton-<slug>`.

    Kept to 39 characters so that LeaderWorkerSet pod names (`<name>-<group>-<worker>`) and
    the StatefulSets behind them stay within the 63-character label limit. A shortened or
    empty slug gets a hash of the full name, so distinct models keep distinct names.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    digest = hashlib.sha256(model_name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    if not slug:
        slug = f"model-{digest}"
    elif len(slug) > 32:
        slug = f"{slug[:25].rstrip('-')}-{digest}"
    return f"triton-{slug}"


@dataclass(frozen=True)
class Placement:
    """How one replica's ranks sit in pods: ranks fill the leader's GPUs, then each worker's."""

    world_size: int
    pods: int
    leader_gpus: int
    worker_gpus: int  # 0 when the replica is one pod


def placement(plan: Plan) -> Placement:
    """Pods per replica and GPUs per pod, as TensorRT-LLM maps ranks to GPUs.

    The runtime runs rank r on GPU r % gpus_per_node of node r // gpus_per_node (WorldConfig:
    getLocalRank, getNodeRank; gpus_per_node is the engine's mapping, 8 unless built otherwise).
    So every pod but the last holds gpus_per_node ranks and the last holds the rest. The
    workers of a LeaderWorkerSet share one template: with more than one worker each requests
    a full node.
    """
    lay = plan.layout
    assert lay is not None
    world, pods, per_node = lay.gpus_per_replica, lay.nodes_per_replica, plan.fleet.gpus_per_node
    if pods <= 1:
        return Placement(world, 1, world, 0)
    if pods != -(-world // per_node):
        raise PlannerError(f"{world} ranks on nodes of {per_node} GPUs need {-(-world // per_node)} nodes, "
                           f"not the layout's {pods}")
    if lay.tp < per_node and per_node % lay.tp:
        raise PlannerError(f"TP {lay.tp} groups would straddle nodes of {per_node} GPUs")
    last = world - per_node * (pods - 1)
    return Placement(world, pods, per_node, per_node if pods > 2 else last)


def shm_bytes(gpus_in_pod: int) -> int:
    """Size of the memory-backed /dev/shm: 2 GiB plus 1 GiB per GPU in the pod."""
    return SHM_BASE_BYTES + SHM_PER_GPU_BYTES * gpus_in_pod


def volume_bytes(plan: Plan) -> int:
    """Artifact volume size: engines (weights per GPU × TP, summed over stages) + 10% + 10 GiB."""
    assert plan.layout is not None
    engines = sum(stage.weights_bytes for stage in plan.memory.per_gpu) * plan.layout.tp
    return engines * VOLUME_MARGIN_NUM // VOLUME_MARGIN_DEN + VOLUME_EXTRA_BYTES


def gib_ceil(nbytes: int) -> int:
    return -(-nbytes // GIB)


def default_image(plan: Plan) -> str:
    """The image the plan names (`serving.image`, from --image), else its version profile's.

    The profiles take the Triton release that ships each TensorRT-LLM version from Triton's
    compatibility matrix (e.g. 0.19.0: nvcr.io/nvidia/tritonserver:25.05-trtllm-python-py3).
    """
    if plan.serving.image:
        return plan.serving.image
    from planner.target import load_profile

    try:
        return load_profile(plan.target.trtllm_version).container.image
    except InputError as exc:
        raise InputError(f"{exc.message}; or pass --image") from None


def _base_image(plan: Plan, image: str) -> str:
    """What the multi-node Containerfile builds on: the version's stock image, whatever --image says."""
    from planner.target import load_profile

    try:
        return load_profile(plan.target.trtllm_version).container.image
    except InputError:
        return image


def context(plan: Plan, image: str | None = None) -> dict[str, Any]:
    """Everything the deploy templates read, from the plan and the image."""
    if plan.layout is None:
        raise NoFitError("the plan has no layout, so there is nothing to deploy")
    lay, place = plan.layout, placement(plan)
    name = resource_name(plan.model.name)
    image = image if image is not None else default_image(plan)
    if not IMAGE_REF.fullmatch(image):
        raise InputError(f"--image {image!r} is not a container image reference")
    serving = plan.serving
    return {
        "name": name,
        "model_name": Untrusted(plan.model.name),
        "image": image,
        "base_image": _base_image(plan, image),
        "kubectl_image": KUBECTL_IMAGE,
        "trtllm_version": Untrusted(plan.target.trtllm_version),
        "gpu": Untrusted(plan.fleet.gpu),
        "tp": lay.tp,
        "pp": lay.pp,
        "replicas": lay.replicas,
        "world_size": place.world_size,
        "multi_node": place.pods > 1,
        # replicas Compose starts on one host: a node holds gpus_per_node // world_size of them
        "pods": place.pods,
        "leader_gpus": place.leader_gpus,
        "worker_gpus": place.worker_gpus,
        "leader_shm_gib": gib_ceil(shm_bytes(place.leader_gpus)),
        "worker_shm_gib": gib_ceil(shm_bytes(place.worker_gpus)),
        "volume_gib": gib_ceil(volume_bytes(plan)),
        "http_port": HTTP_PORT,
        "grpc_port": GRPC_PORT,
        "metrics_port": METRICS_PORT,
        "data_dir": DATA_DIR,
        "model_repo": f"{DATA_DIR}/{MODEL_REPOSITORY}",
        "engine_dir": Untrusted(serving.engine_dir),
        "tokenizer_dir": Untrusted(serving.tokenizer_dir),
        "trtllm_model": TRTLLM_MODEL,
        "scripts_dir": SCRIPTS_DIR,
        "slots": replica_slots(plan),
    }


def _render(template: str, ctx: dict[str, Any]) -> str:
    return render(f"deploy/{template}", **ctx)


def emit_deploy(plan: Plan, image: str | None = None, overrides: dict[str, str] | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, str]:
    """The files under `deploy/` for this plan, keyed by path relative to the output directory.

    `image` overrides the Triton TensorRT-LLM container (default: `default_image(plan)`). For
    multi-node plans it must contain kubectl (see the emitted `deploy/kubernetes/image/Containerfile`).
    `overrides` maps output paths (e.g. `deploy/scripts/triton-rank.sh`) to other templates (paths
    under templates/), rendered with `extra` added to the context: the PyTorch flow starts and
    checks its ranks differently, everything around them is shared.
    """
    ctx = {**context(plan, image), **(extra or {})}
    overrides = overrides or {}

    def rendered(path: str, template: str) -> str:
        return render(overrides[path], **ctx) if path in overrides else _render(template, ctx)

    scripts = {
        "triton-rank.sh": rendered("deploy/scripts/triton-rank.sh", "scripts/triton-rank.sh.j2"),
        "check-artifacts.sh": rendered("deploy/scripts/check-artifacts.sh", "scripts/check-artifacts.sh.j2"),
    }
    if ctx["multi_node"]:
        scripts["leader.sh"] = _render("scripts/leader.sh.j2", ctx)
        scripts["kubessh"] = _render("scripts/kubessh.j2", ctx)
    ctx = {**ctx, "scripts": scripts}

    files: dict[str, str] = {f"deploy/scripts/{n}": text for n, text in scripts.items()}
    k8s = "deploy/kubernetes"
    files[f"{k8s}/configmap.yaml"] = _render("kubernetes/configmap.yaml.j2", ctx)
    files[f"{k8s}/pvc.yaml"] = _render("kubernetes/pvc.yaml.j2", ctx)
    files[f"{k8s}/service.yaml"] = _render("kubernetes/service.yaml.j2", ctx)
    files[f"{k8s}/servicemonitor.yaml"] = _render("kubernetes/servicemonitor.yaml.j2", ctx)
    if ctx["multi_node"]:
        files[f"{k8s}/rbac.yaml"] = _render("kubernetes/rbac.yaml.j2", ctx)
        files[f"{k8s}/leaderworkerset.yaml"] = _render("kubernetes/leaderworkerset.yaml.j2", ctx)
        files[f"{k8s}/image/Containerfile"] = _render("kubernetes/Containerfile.j2", ctx)
    else:
        files[f"{k8s}/deployment.yaml"] = _render("kubernetes/deployment.yaml.j2", ctx)
        files["deploy/docker/compose.yaml"] = _render("docker/compose.yaml.j2", ctx)
    files["deploy/slurm/triton.sbatch"] = _render("slurm/triton.sbatch.j2", ctx)
    files["deploy/README.md"] = rendered("deploy/README.md", "README.md.j2")
    return dict(sorted(files.items()))
