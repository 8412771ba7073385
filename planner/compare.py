"""`planner compare`: one model on several fleets and quantizations, one row each.

Each row is a full plan (the same layout search, memory and performance model as `planner plan`);
the row keeps what a buyer compares: layout, replicas, TTFT, TPOT, fleet tokens/s, GPUs needed for
a request rate, and cost per million output tokens.
"""

from __future__ import annotations

from typing import Any

from planner.errors import InputError


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _prices(text: str | None, fleets: list[str]) -> list[float | None]:
    values = split_list(text)
    if not values:
        return [None] * len(fleets)
    try:
        prices = [float(v) for v in values]
    except ValueError:
        raise InputError(f"--gpu-hour-price must be a number or one number per fleet, got {text!r}") from None
    if len(prices) == 1:
        return prices * len(fleets)
    if len(prices) != len(fleets):
        raise InputError(f"--gpu-hour-price gives {len(prices)} prices for {len(fleets)} fleets")
    return prices


def compare(model: str | None, gpus: str, quants: str | None = None, gpu_hour_price: str | None = None,
            **options: Any) -> list[dict[str, Any]]:
    """One row per fleet × quantization; a combination the hardware cannot run is a row with its reason."""
    from planner.api import check_perf_backend, make_plan

    check_perf_backend(options.get("perf_backend"))  # before the rows: a missing extra is no per-row note
    fleets = split_list(gpus)
    if not fleets:
        raise InputError("--gpus needs at least one fleet, e.g. h100x8,h200x8")
    schemes = split_list(quants) or [None]
    rows = []
    for fleet, price in zip(fleets, _prices(gpu_hour_price, fleets), strict=True):
        for quant in schemes:
            row: dict[str, Any] = {"gpus": fleet, "quant": quant}
            try:
                plan = make_plan(model, fleet, quant=quant, gpu_hour_price=price, **options)
            except InputError as exc:
                if ("unknown" in exc.message or "cannot read fleet" in exc.message
                        or exc.message.startswith("--request-rate")):  # the whole command's input, not the row's
                    raise
                rows.append({**row, "fits": False, "note": exc.message})
                continue
            rows.append({**row, **_row(plan)})
    return rows


def _row(plan: Any) -> dict[str, Any]:
    lay, p, z = plan.layout, plan.performance, plan.sizing
    row: dict[str, Any] = {
        "quant": plan.quantization.weights, "fits": plan.fits,
        "tp": lay.tp if lay and plan.fits else None, "pp": lay.pp if lay and plan.fits else None,
        "ep": lay.ep if lay and plan.fits else None,
        "attention_dp": lay.attention_dp if lay and plan.fits else None,
        "replicas": lay.replicas if lay and plan.fits else 0, "idle_gpus": lay.idle_gpus if lay else 0,
        "ttft_ms": p.ttft_ms if p and plan.fits else None, "tpot_ms": p.tpot_ms if p and plan.fits else None,
        "concurrency": p.concurrency if p and plan.fits else None,
        "fleet_output_tokens_per_s": p.fleet_output_tokens_per_s if p and plan.fits else None,
        "gpus_needed": z.gpus_needed if z else None, "fleet_suffices": z.fleet_suffices if z else None,
        # with --request-rate, the cost of the GPUs the rate needs: on the whole fleet it would be the same for
        # every fleet of as many GPUs
        "cost_per_million_tokens": (z.cost_per_million_tokens if z and z.cost_per_million_tokens is not None
                                    else p.cost_per_million_tokens if p and plan.fits else None),
        "note": None,
    }
    if not plan.fits:
        from planner.cli import no_fit_summary

        row["note"] = no_fit_summary(plan)
    elif p is None:
        row["note"] = plan.performance_note
    if p and plan.request and plan.request.perf_backend:  # a non-default backend: which one timed the row
        row["backend"] = p.backend
    return row


def layout_label(r: dict[str, Any]) -> str:
    """A row's layout as the plan table names it (TP, EP and attention DP, PP). A combination the planner
    refuses before any layout is weighed (a scheme the GPU cannot run) has no layout keys: it cannot run; a
    plan with no fitting layout does not fit."""
    from planner.render import layout_name

    if "tp" not in r:
        return "cannot run"
    if not r["tp"]:
        return "does not fit"
    return layout_name(r["tp"], r["pp"], r.get("ep") or 1, bool(r.get("attention_dp")))


def table(rows: list[dict[str, Any]], title: str) -> Any:
    """The rows as a rich table; a note keeps its first clause (JSON and YAML keep all of it)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    cols = ("fleet", "quant", "layout", "replicas", "TTFT ms", "TPOT ms", "batch", "fleet tok/s", "GPUs needed",
            "$/M tokens", "note")
    for col in cols:
        t.add_column(col, justify="left" if col in ("fleet", "quant", "layout", "note") else "right")

    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for r in rows:
        layout = layout_label(r)
        needed = r.get("gpus_needed")
        if needed is not None and r.get("fleet_suffices") is False:
            needed = f"{needed} (more)"
        t.add_row(r["gpus"], r["quant"] or "-", layout, str(r.get("replicas", 0)), num(r.get("ttft_ms"), ".0f"),
                  num(r.get("tpot_ms"), ".1f"), num(r.get("concurrency"), "d"),
                  num(r.get("fleet_output_tokens_per_s"), ",.0f"), "-" if needed is None else str(needed),
                  num(r.get("cost_per_million_tokens"), ".3f"), (r.get("note") or "").split(";")[0])
    timed = [f"{r['gpus']} {r['quant']}: {r['backend']}" for r in rows if r.get("backend")]
    if timed:  # --perf-backend other than the default: which backend timed each row
        t.caption, t.caption_justify = "timed by " + "; ".join(timed), "left"
    return t
