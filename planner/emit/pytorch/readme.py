"""README.md for a PyTorch-flow plan: which flow and why, then what the operator runs, in order."""

from __future__ import annotations

from planner.emit.deploy import replica_slots
from planner.emit.pytorch.build_script import OPTIONS_FILE, native_scheme, needs_ptq
from planner.emit.pytorch.llm_args import model_path, pytorch_spec
from planner.emit.templating import render
from planner.errors import PlannerError
from planner.plan import Plan


def emit_readme(plan: Plan) -> dict[str, str]:
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there is nothing to deploy", 3)
    profile, spec = pytorch_spec(plan)
    world_size = plan.layout.tp * plan.layout.pp
    return {"README.md": render(
        "pytorch/README.md.j2", plan=plan, profile=profile, spec=spec, world_size=world_size,
        multi_node=world_size > plan.fleet.gpus_per_node, ptq=needs_ptq(plan), native=native_scheme(plan),
        model_dir=model_path(plan), options_file=OPTIONS_FILE, slots=replica_slots(plan),
    )}
