"""The comparison page: `planner compare ... --html FILE`, one row per fleet and quantization.

It reads the rows `planner.compare` returns (each a whole plan, summarised) and draws them as
the plan report draws its candidates: fleet tokens/s against tokens/s per user, with the
latency limits, and every row in a table.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from planner.compare import layout_label  # the terminal table's words, EP and attention DP included
from planner.report.charts import Point, throughput_chart


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        tpot = r.get("tpot_ms")
        needed = r.get("gpus_needed")
        if needed is not None and r.get("fleet_suffices") is False:
            needed = f"{needed} (more than the fleet)"
        out.append({
            "fleet": r["gpus"], "quant": r.get("quant") or "default", "layout": layout_label(r),
            "fits": bool(r.get("fits")),
            "replicas": _num(r.get("replicas"), "d"), "idle_gpus": _num(r.get("idle_gpus"), "d"),
            "ttft_ms": _num(r.get("ttft_ms"), ".0f"), "tpot_ms": _num(tpot, ".1f"),
            "per_user": _num(1000 / tpot if tpot else None, ".1f"), "concurrency": _num(r.get("concurrency"), "d"),
            "fleet_tokens": _num(r.get("fleet_output_tokens_per_s"), ",.0f"),
            "gpus_needed": "—" if needed is None else str(needed),
            "cost": _num(r.get("cost_per_million_tokens"), ".3f"),
            "note": r.get("note") or "",
        })
    return out


def points(rows: list[dict[str, Any]], ttft_limit_ms: float | None) -> list[Point]:
    out = []
    for r in rows:
        tpot, tokens = r.get("tpot_ms"), r.get("fleet_output_tokens_per_s")
        if r.get("fits") and tpot and tokens:
            meets = ttft_limit_ms is None or (r.get("ttft_ms") or 0) <= ttft_limit_ms
            out.append(Point(f"{r['gpus']} {r.get('quant') or ''} ({layout_label(r)})".replace("  ", " "), 1000 / tpot,
                             tokens, chosen=False, meets_ttft=meets))
    return out


def render_compare(rows: list[dict[str, Any]], model: str, options: dict[str, Any]) -> str:
    from planner.report import _environment

    ttft, tpot = options.get("ttft_ms"), options.get("tpot_ms")
    marks = points(rows, ttft)
    chart = None
    limits = []
    if marks:
        desc = " ".join([f"Fleet output tokens per second against tokens per second per user for {len(marks)} "
                         "combination(s)."] + [
            f"{p.label}: {p.tokens_per_s_per_user:.1f} tokens/s per user, {p.tokens_per_s_per_gpu:,.0f} tokens/s "
            f"on the fleet{'' if p.meets_ttft else ', misses the TTFT limit'}." for p in marks])
        chart = Markup(throughput_chart(marks, f"{model}: fleet throughput against speed per user", desc,
                                        tpot_limit_ms=tpot, ttft_limit_ms=ttft, chart_id="compare",
                                        ylabel="output tokens/s, whole fleet", others_label="fleet and quantization"))
        if tpot:
            limits.append(f"The dashed line is the TPOT limit of {tpot:g} ms.")
        if ttft:
            limits.append(f"Hollow markers miss the TTFT limit of {ttft:g} ms.")
    summary = (f"{model} for requests of {options.get('max_input_len')} input and {options.get('max_output_len')} "
               f"output tokens, each fleet planned with objective {options.get('objective')}"
               + (f", at {options['request_rate']:g} requests/s" if options.get("request_rate") else "") + ".")
    return _environment().get_template("report/compare.html.j2").render(
        title=f"{model} compared on {len(rows)} fleet and quantization combination(s)", summary=summary,
        chart_svg=chart, limits_caption=" ".join(limits), rows=table_rows(rows),
    )
