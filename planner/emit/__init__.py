"""Emitters: a Plan in, files out ({relative path: text}); pure and deterministic.

`render_all(plan)` gathers every artifact family; `write_all(plan, out_dir)` writes
them atomically (see writer.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.emit.flows import flow_emitter
from planner.emit.report import emit_report
from planner.emit.writer import write_all as _write_files
from planner.plan import Plan


def render_all(plan: Plan) -> dict[str, str]:
    flow = flow_emitter(plan)  # the engine or the PyTorch flow, chosen once
    files: dict[str, str] = {}
    files.update(flow.build_script(plan))
    files.update(flow.model_repository(plan))
    files.update(flow.readme(plan))
    files.update(flow.deploy(plan))
    files.update(emit_report(plan))  # one report for both flows: it reads the Plan and the README's steps
    files["plan.json"] = plan.to_json()
    return dict(sorted(files.items()))


def write_all(plan: Plan, out_dir: str | os.PathLike, force: bool = False) -> list[Path]:
    return _write_files(render_all(plan), out_dir, force=force)


__all__ = ["render_all", "write_all"]
