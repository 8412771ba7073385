"""Fleet syntax: `h100x8` (one node of 8), `2xh100x8` (two nodes of 8), `l4` (one GPU), or a YAML file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from planner.catalog import get_gpu
from planner.errors import InputError
from planner.specs import Fleet
from planner.yamlio import load_yaml

_FLEET_RE = re.compile(r"^(?:(?P<nodes>\d+)\s*x\s*)?(?P<gpu>.+?)(?:\s*x\s*(?P<count>\d+))?$", re.IGNORECASE)


class _FleetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu: str
    gpus_per_node: PositiveInt | None = None
    nodes: PositiveInt = 1
    tp_across_nodes: bool = False


def parse_fleet(text: str) -> Fleet:
    """Parse `--gpus`: a fleet expression or the path of a YAML fleet file."""
    text = text.strip()
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_fleet_file(Path(text))
    m = _FLEET_RE.match(text)
    if not m or not m.group("gpu"):
        raise InputError(f"cannot read fleet {text!r}: use GPU, GPUxN or NODESxGPUxN (e.g. h100x8, 2xh100x8)")
    nodes = int(m.group("nodes") or 1)
    count = int(m.group("count") or 1)
    if nodes < 1 or count < 1:
        raise InputError(f"fleet {text!r} has no GPUs: node and GPU counts must be at least 1")
    gpu = get_gpu(m.group("gpu"))
    return Fleet(gpu=gpu, gpus_per_node=count, nodes=nodes)


def load_fleet_file(path: Path) -> Fleet:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"fleet file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"fleet file {str(path)!r} is not readable YAML: {_first_line(exc)}") from None
    if not isinstance(raw, dict):
        raise InputError(f"fleet file {str(path)!r} must be a mapping with keys gpu, gpus_per_node, nodes")
    try:
        spec = _FleetFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"fleet file {str(path)!r}: {field}: {err['msg']}") from None
    gpu = get_gpu(spec.gpu)
    return Fleet(
        gpu=gpu, gpus_per_node=spec.gpus_per_node or gpu.gpus_per_node, nodes=spec.nodes,
        tp_across_nodes=spec.tp_across_nodes,
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
