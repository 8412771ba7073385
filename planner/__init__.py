"""planner: plan LLM deployments on Triton Inference Server with the TensorRT-LLM backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["plan"]


def plan(*args: Any, **kwargs: Any) -> Plan:
    """Plan a deployment; see `planner.api.make_plan` for the arguments."""
    from planner.api import make_plan

    return make_plan(*args, **kwargs)
