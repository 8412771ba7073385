"""The plan table shows every named memory term, per flow."""

from __future__ import annotations

import io

from planner import catalog
from planner.api import make_plan
from planner.memory import layout_memory
from planner.render import plan_tables
from planner.specs import RuntimeProfile, Workload
from planner.textout import Writer


def _render(plan) -> str:
    buf = io.StringIO()
    plan_tables(plan, Writer(buf, width=200))
    return buf.getvalue()


def test_engine_table_names_each_term():
    plan = make_plan("llama-3.1-8b", "h100x2", tp=2, max_batch_size=256, flow="engine")
    text = _render(plan)
    for column in ("engine", "exec ctx", "runtime buf", "decoder", "comm", "CUDA ctx", "driver", "KV cache"):
        assert column in text
    assert "CUDA graphs" not in text
    s = plan.memory.per_gpu[0]
    assert f"{s.decoder_bytes / (1 << 30):.2f}" in text and f"{s.comm_bytes / (1 << 30):.2f}" in text


def test_pytorch_table_adds_cuda_graphs():
    plan = make_plan("llama-3.1-8b", "h100", max_batch_size=256)
    wl = Workload(max_batch_size=256, max_input_len=2048, max_output_len=512, max_num_tokens=8192)
    stages = layout_memory(catalog.get_model("llama-3.1-8b"), "bf16", "bf16", 1, 1, wl, catalog.get_gpu("h100"),
                           RuntimeProfile(flow="pytorch"))
    plan = plan.model_copy(update={"memory": plan.memory.model_copy(update={"per_gpu": stages})})
    text = _render(plan)
    assert "CUDA graphs" in text and "profiling" in text
    assert f"{stages[0].cuda_graph_bytes / (1 << 30):.2f}" in text
