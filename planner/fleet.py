"""Fleet syntax: `h100x8` (one node of 8), `2xh100x8` (two nodes of 8), `l4` (one GPU), or a YAML file."""


import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from planner import safeio
from planner.catalog import get_gpu
from planner.errors import InputError
from planner.specs import Fleet, GpuSpec

# Bounds far above any real system, so that a typo or a hostile number cannot make the layout
# search run for hours: the largest NVLink domain announced is 576 GPUs (Vera Rubin NVL576), the
# largest clusters hold a few hundred thousand GPUs in tens of thousands of nodes.
MAX_GPUS_PER_NODE = 1024
MAX_NODES = 100_000
# With tp_across_nodes the layout search tries tensor parallelism up to the whole fleet.
MAX_TP_DOMAIN_GPUS = 4096
MAX_FLEET_TEXT = 200

_FLEET_RE = re.compile(r"^(?:(?P<nodes>\d{1,12})\s*x\s*)?(?P<gpu>.+?)(?:\s*x\s*(?P<count>\d{1,12}))?$",
                       re.IGNORECASE)


class _FleetFile(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when a fleet file is read

    gpu: StrictStr
    gpus_per_node: StrictInt | None = Field(None, gt=0, le=MAX_GPUS_PER_NODE)
    nodes: StrictInt = Field(1, gt=0, le=MAX_NODES)
    tp_across_nodes: StrictBool = False


def parse_fleet(text: str) -> Fleet:
    """Parse `--gpus`: a fleet expression or the path of a YAML fleet file."""
    text = text.strip()
    if text.endswith((".yaml", ".yml")) or _names_a_file(text):
        return load_fleet_file(Path(text))
    return _fleet_expression(text)


@lru_cache(maxsize=256)
def _fleet_expression(text: str) -> Fleet:
    """The fleet `text` names (frozen, so one instance serves every plan of a sweep)."""
    m = _FLEET_RE.match(text) if len(text) <= MAX_FLEET_TEXT else None
    if not m or not m.group("gpu"):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(f"cannot read fleet {shown!r}: use GPU, GPUxN or NODESxGPUxN (e.g. h100x8, 2xh100x8)")
    nodes = int(m.group("nodes") or 1)
    count = int(m.group("count") or 1)
    if nodes < 1 or count < 1:
        raise InputError(f"fleet {text!r} has no GPUs: node and GPU counts must be at least 1")
    _check_size(text, count, nodes)
    gpu = get_gpu(m.group("gpu"))
    _check_board(text, gpu, count, nodes, m.group("gpu"))
    return Fleet(gpu=gpu, gpus_per_node=count, nodes=nodes)


def _names_a_file(text: str) -> bool:
    """Whether `text` is the path of an existing file; a name the OS refuses (too long) is not one."""
    try:
        return safeio.path_kind(Path(text), "fleet file") == "file"
    except InputError:
        return False


def _check_size(what: str, per_node: int, nodes: int, tp_across_nodes: bool = False) -> None:
    if per_node > MAX_GPUS_PER_NODE:
        raise InputError(f"fleet {what!r}: {per_node} GPUs per node is more than the planner handles "
                         f"({MAX_GPUS_PER_NODE}; the largest NVLink domain is 576)")
    if nodes > MAX_NODES:
        raise InputError(f"fleet {what!r}: {nodes} nodes is more than the planner handles ({MAX_NODES})")
    if tp_across_nodes and per_node * nodes > MAX_TP_DOMAIN_GPUS:
        raise InputError(f"fleet {what!r}: tp_across_nodes over {per_node * nodes} GPUs is more than the planner "
                         f"searches ({MAX_TP_DOMAIN_GPUS}); describe one NVLink domain per fleet")


def _check_board(what: str, gpu: GpuSpec, per_node: int, nodes: int, name: str) -> None:
    """A part that only comes on an NVSwitch baseboard (HGX) has no node larger than the board: `h100x16`
    is two nodes, whose TP all-reduces would cross the network, not one 16-GPU NVLink domain."""
    most = gpu.max_gpus_per_node
    if most is None or per_node <= most:
        return
    total = per_node * nodes
    size = max(d for d in range(1, most + 1) if total % d == 0)
    raise InputError(f"fleet {what!r}: one {gpu.name} node holds at most {most} GPUs (an HGX baseboard); "
                     f"{total} GPUs are e.g. {total // size}x{name}x{size}")


def load_fleet_file(path: Path) -> Fleet:
    from planner.yamlio import load_user_yaml

    raw = load_user_yaml(path, "fleet file")
    if not isinstance(raw, dict):
        raise InputError(f"fleet file {str(path)!r} must be a mapping with keys gpu, gpus_per_node, nodes")
    try:
        spec = _FleetFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"fleet file {str(path)!r}: {field}: {err['msg']}, got {safeio.shown_value(err['input'])}") \
            from None
    gpu = get_gpu(spec.gpu)
    _check_size(str(path), spec.gpus_per_node or gpu.gpus_per_node, spec.nodes, spec.tp_across_nodes)
    _check_board(str(path), gpu, spec.gpus_per_node or gpu.gpus_per_node, spec.nodes, gpu.name)
    return Fleet(
        gpu=gpu, gpus_per_node=spec.gpus_per_node or gpu.gpus_per_node, nodes=spec.nodes,
        tp_across_nodes=spec.tp_across_nodes,
    )

