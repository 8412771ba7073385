"""The HTML report: one self-contained page drawn from a Plan.

`render_report(plan)` is pure: the same plan gives the same bytes. The page loads nothing
(no script, stylesheet, font or image from anywhere; a Content-Security-Policy says so to the
browser too), the charts are inline SVG with a title and a description, and the numbers behind
each chart are also in a table. content.py reads what to say from the Plan, charts.py draws.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape

from markupsafe import Markup

from planner.plan import Plan

_URL = re.compile(r"https?://[^\s<>\"')]+[^\s<>\"').,;:]")


def linkify(text: object) -> Markup:
    """Escape `text` and turn the web addresses in it into links a reader can follow."""
    out, last = [], 0
    raw = str(text)
    for match in _URL.finditer(raw):
        out.append(escape(raw[last:match.start()]))
        url = escape(match.group(0))
        out.append(f'<a href="{url}" rel="noreferrer">{url}</a>')
        last = match.end()
    out.append(escape(raw[last:]))
    return Markup("".join(out))


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    from planner.emit.templating import TEMPLATES_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # every plan string (model names come from users) is escaped
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["linkify"] = linkify
    return env


def render_report(plan: Plan) -> str:
    from planner.report import charts, content

    rows = content.stage_rows(plan)
    labels = content.term_labels(rows)
    table = []
    for row in rows:
        by_label = {t.label: content.gib(t.nbytes) for t in row.terms}
        table.append({"label": row.label, "cells": [by_label.get(label, "—") for label in labels],
                      "total": content.gib(row.total_bytes), "capacity": content.gib(row.capacity_bytes),
                      "used": f"{100 * row.total_bytes / row.capacity_bytes:.0f}%"})
    memory_svg = None
    if rows:
        memory_svg = Markup(charts.memory_chart(
            content.memory_bars(rows), labels, f"Memory per GPU of {plan.model.name} by pipeline stage",
            content.memory_description(plan, rows)))

    ttft_limit, tpot_limit = content.latency_limits(plan)
    points = content.throughput_points(plan, ttft_limit)
    throughput_svg = None
    limits = []
    if points:
        throughput_svg = Markup(charts.throughput_chart(
            points, "Output tokens/s per GPU against tokens/s per user",
            content.throughput_description(points, ttft_limit, tpot_limit), tpot_limit_ms=tpot_limit,
            ttft_limit_ms=ttft_limit))
        if tpot_limit:
            limits.append(f"The dashed line is the TPOT limit of {tpot_limit:g} ms: layouts left of it are too slow "
                          "per user.")
        if ttft_limit:
            limits.append(f"Hollow markers miss the TTFT limit of {ttft_limit:g} ms.")
        if not limits:
            limits.append("The plan sets no latency limits.")

    candidates = content.candidate_rows(plan)
    f = plan.fleet
    fleet_short = f"{f.nodes} × {f.gpus_per_node} {f.gpu}" if f.nodes > 1 else f"{f.gpus_per_node} × {f.gpu}"
    return _environment().get_template("report/report.html.j2").render(
        plan=plan, fleet_short=fleet_short, summary=content.summary(plan), gib=content.gib,
        memory_svg=memory_svg, term_labels=labels, memory_table=table,
        term_notes=content.term_notes(rows), rule=content.rule_of_thumb(plan), candidates=candidates,
        has_performance=any(c.tokens_per_s_per_gpu != "—" for c in candidates),
        throughput_svg=throughput_svg, limits_caption=" ".join(limits),
        steps=content.steps(plan), sources=content.sources(plan),
    )


__all__ = ["render_report", "linkify"]
