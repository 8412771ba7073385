"""Emitters: a Plan in, files out ({relative path: text}); pure and deterministic.

`render_all(plan)` gathers every artifact family; `write_all(plan, out_dir)` writes
them atomically (see writer.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.emit.build_script import emit_build_script
from planner.emit.deploy import emit_deploy
from planner.emit.model_repo import emit_model_repository
from planner.emit.readme import emit_readme
from planner.emit.report import emit_report
from planner.emit.writer import write_all as _write_files
from planner.plan import Plan


def render_all(plan: Plan) -> dict[str, str]:
    files: dict[str, str] = {}
    files.update(emit_build_script(plan))
    files.update(emit_model_repository(plan))
    files.update(emit_readme(plan))
    files.update(emit_deploy(plan))
    files.update(emit_report(plan))
    files["plan.json"] = plan.to_json()
    return dict(sorted(files.items()))


def write_all(plan: Plan, out_dir: str | os.PathLike, force: bool = False) -> list[Path]:
    return _write_files(render_all(plan), out_dir, force=force)


__all__ = ["render_all", "write_all"]
