"""A plan that fits with a KV-bound batch (--objective throughput) must not read as a contradiction."""

from __future__ import annotations

import io

from planner.api import make_plan
from planner.render import plan_tables
from planner.textout import Writer


def _render(plan) -> str:
    buf = io.StringIO()
    plan_tables(plan, Writer(buf, width=200))
    return buf.getvalue()


def test_throughput_plan_with_a_kv_bound_batch_says_why_it_fits():
    plan = make_plan("llama-3.1-8b", "l4", objective="throughput")
    kv = plan.kv_cache
    assert plan.fits and kv.max_tokens < kv.required_tokens and plan.performance.kv_bound
    text = " ".join(_render(plan).split())
    assert "the workload needs" not in text
    assert f"runs {kv.max_concurrent_sequences} sequences at once" in text
    assert f"max_batch_size {plan.workload.max_batch_size} is trtllm-bench's upper bound" in text


def test_a_plan_whose_pool_holds_the_batch_keeps_the_plain_line():
    plan = make_plan("llama-3.1-70b", "h100x8")
    text = " ".join(_render(plan).split())
    assert f"the workload needs {plan.kv_cache.required_tokens:,}" in text
