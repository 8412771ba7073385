"""report.html: the plan as a page to look at (see planner/report)."""

from __future__ import annotations

from planner.plan import Plan


def emit_report(plan: Plan) -> dict[str, str]:
    from planner.report import render_report  # matplotlib loads only when a report is made

    return {"report.html": render_report(plan)}
