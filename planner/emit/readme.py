"""README.md: what the operator runs, in order, and how to launch Triton for this plan."""

from __future__ import annotations

from planner.emit.deploy import replica_slots
from planner.emit.templating import render
from planner.errors import PlannerError
from planner.plan import Plan
from planner.target import load_profile


def emit_readme(plan: Plan) -> dict[str, str]:
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there is nothing to deploy", 3)
    profile = load_profile(plan.target.trtllm_version)
    world_size = plan.layout.tp * plan.layout.pp
    return {"README.md": render(
        "README.md.j2", plan=plan, profile=profile, world_size=world_size,
        multi_node=world_size > plan.fleet.gpus_per_node,
        supported=profile.supports(plan.model.architecture), slots=replica_slots(plan),
        gib=lambda b: f"{b / (1 << 30):.1f}",
    )}
